package schema

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzNormalize feeds arbitrary bytes to every entry point: nothing may
// panic, and an accepted statement must give well-formed evidence.
func FuzzNormalize(f *testing.F) {
	for _, dir := range []string{"../../shared/xapi-vectors/valid", "../../shared/xapi-vectors/invalid", "../../shared/xapi-real"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for i, file := range files {
			if i%3 != 0 { // a sample keeps the seed corpus quick
				continue
			}
			if raw, err := os.ReadFile(file); err == nil {
				f.Add(raw)
			}
		}
	}
	f.Add([]byte(`{"a":"\ud800\u0041"}`))
	f.Add([]byte(`[{"actor":{"mbox":"mailto:a@b"}}, 1e999]`))
	f.Add(stmt(actAlice, VerbAttempted, objQuiz, `"result":{"score":{"raw":1.5e308,"min":-1.5e308,"max":1.5e308}},"timestamp":"2262-04-11T23:47:16.854775808Z"`))
	f.Add(stmt(actAlice, VerbAttempted, skillsExt(numbered("s", 40)...), categories(numbered("http://k.x/", 20)...)))
	strict := NewDecoder(Options{Mode: Strict, MaxDepth: 16})
	tolerant := NewDecoder(Options{MaxDepth: 16})
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, d := range []*Decoder{strict, tolerant} {
			d.Validate(raw)
			d.NormalizeAll(raw, time.Unix(1, 0), func(i int, e Evidence, err error) {
				if err != nil {
					if _, ok := err.(*Error); !ok {
						t.Fatalf("error of type %T", err)
					}
					return
				}
				if len(e.Learner) != 32 {
					t.Fatalf("learner key %q", e.Learner)
				}
				if e.Kind != KindVoid && e.Content == "" {
					t.Fatalf("accepted without content: %q", raw)
				}
				if e.HasProgress && (e.Progress < 0 || e.Progress > 1) {
					t.Fatalf("progress %v", e.Progress)
				}
				if math.IsNaN(e.Scaled) || e.Scaled < -1 || e.Scaled > 1 {
					t.Fatalf("scaled %v", e.Scaled)
				}
				if len(e.Content) > DefaultMaxActivityIDBytes || len(e.Skills) > DefaultMaxSkills {
					t.Fatalf("content of %d bytes, %d skills", len(e.Content), len(e.Skills))
				}
				for _, s := range e.Skills {
					if s == "" || len(s) > DefaultMaxSkillIDBytes {
						t.Fatalf("skill %q", s)
					}
				}
			})
		}
		for it, err := range ReadStream(bytesReader(raw), 1<<16) {
			if err != nil {
				break
			}
			_ = it
		}
	})
}
