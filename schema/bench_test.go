package schema

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// benchStatements are realistic statements (1-2 KB once compacted, as they
// travel on Kafka) from three emitters.
var benchFiles = []string{
	"../../shared/xapi-real/openedx-problem-check-evaluated.json",
	"../../shared/xapi-real/moodle-quiz-attempt-overdue.json",
	"../../shared/xapi-vectors/valid/lms-passed-quiz.json",
}

func benchInputs(b *testing.B) [][]byte {
	b.Helper()
	var out [][]byte
	for _, f := range benchFiles {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			b.Fatal(err)
		}
		out = append(out, buf.Bytes())
	}
	return out
}

func benchEach(b *testing.B, fn func(b *testing.B, raw []byte)) {
	for i, raw := range benchInputs(b) {
		name := filepath.Base(benchFiles[i])
		name = name[:len(name)-len(".json")]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			fn(b, raw)
		})
	}
}

// BenchmarkEncodingJSON is the baseline: decoding into a generic map with
// encoding/json, before any validation.
func BenchmarkEncodingJSON(b *testing.B) {
	benchEach(b, func(b *testing.B, raw []byte) {
		for b.Loop() {
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkValidate(b *testing.B) {
	d := NewDecoder(Options{Mode: Strict})
	benchEach(b, func(b *testing.B, raw []byte) {
		for b.Loop() {
			if vs := d.Validate(raw); len(fatal(vs)) > 0 {
				b.Fatal(vs)
			}
		}
	})
}

// BenchmarkNormalize is the pipeline's hot path: parse, validate and
// normalize one statement.
func BenchmarkNormalize(b *testing.B) {
	d := NewDecoder(Options{Keyer: NewLearnerKeyer([]byte("bench"))})
	now := time.Unix(1, 0)
	benchEach(b, func(b *testing.B, raw []byte) {
		for b.Loop() {
			if _, err := d.Normalize(raw, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkNormalizeParallel(b *testing.B) {
	d := NewDecoder(Options{})
	raw := benchInputs(b)[0]
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := d.Normalize(raw, time.Unix(1, 0)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkParse is the JSON parser alone (the tree the validator walks).
func BenchmarkParse(b *testing.B) {
	var p jparser
	benchEach(b, func(b *testing.B, raw []byte) {
		for b.Loop() {
			if p.parse(raw, DefaultMaxDepth) < 0 {
				b.Fatal(p.err)
			}
		}
	})
}
