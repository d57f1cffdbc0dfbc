package engagement

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/unpair/unpair/schema"
)

const (
	vLaunched    = "http://adlnet.gov/expapi/verbs/launched"
	vAnswered    = "http://adlnet.gov/expapi/verbs/answered"
	vCompleted   = "http://adlnet.gov/expapi/verbs/completed"
	vPassed      = "http://adlnet.gov/expapi/verbs/passed"
	vProgressed  = "http://adlnet.gov/expapi/verbs/progressed"
	vExperienced = "http://adlnet.gov/expapi/verbs/experienced"
	vRated       = "http://id.tincanapi.com/verb/rated"
)

// t0 is 10:00 UTC twenty days ago: stored figures expire by the real
// clock of Redis, so test data must be recent.
var t0 = time.Now().UTC().Truncate(24 * time.Hour).Add(-20*24*time.Hour + 10*time.Hour)

func at(d time.Duration) int64 { return t0.Add(d).UnixNano() }

func TestPairApply(t *testing.T) {
	f := func(name string, evs []schema.Evidence, want Pair) {
		t.Helper()
		var p Pair
		for i := range evs {
			p.Apply(&evs[i])
		}
		if p != want {
			t.Errorf("%s:\n got %+v\nwant %+v", name, p, want)
		}
	}
	f("launch then answer", []schema.Evidence{
		{Verb: vLaunched, Kind: schema.KindLaunch, Time: at(0)},
		{Verb: vAnswered, Kind: schema.KindAttempt, Time: at(time.Minute), HasSuccess: true, Duration: int64(30 * time.Second)},
	}, Pair{FirstSeen: at(0), LastSeen: at(time.Minute), StartedAt: at(0), TimeSpent: int64(30 * time.Second),
		Starts: 1, Attempts: 1, LastVerb: VerbCode(vAnswered), LastKind: schema.KindAttempt})
	f("rating alone does not start", []schema.Evidence{
		{Verb: vRated, Kind: schema.KindRating, Time: at(0), HasScore: true, Scaled: 0.5, Duration: int64(time.Minute)},
	}, Pair{FirstSeen: at(0), LastSeen: at(0), LastVerb: VerbCode(vRated), LastKind: schema.KindRating})
	f("passed is a scored attempt and a completion", []schema.Evidence{
		{Verb: vPassed, Kind: schema.KindCompletion, Time: at(0), HasSuccess: true, Success: true},
	}, Pair{FirstSeen: at(0), LastSeen: at(0), StartedAt: at(0), CompletedAt: at(0), Attempts: 1, Completions: 1,
		LastVerb: VerbCode(vPassed), LastKind: schema.KindCompletion})
	f("completion with result.completion false does not complete", []schema.Evidence{
		{Verb: vCompleted, Kind: schema.KindCompletion, Time: at(0), HasCompletion: true},
	}, Pair{FirstSeen: at(0), LastSeen: at(0), StartedAt: at(0), LastVerb: VerbCode(vCompleted), LastKind: schema.KindCompletion})
	f("experience with result.completion true completes", []schema.Evidence{
		{Verb: vExperienced, Kind: schema.KindExperience, Time: at(0), HasCompletion: true, Completion: true},
	}, Pair{FirstSeen: at(0), LastSeen: at(0), StartedAt: at(0), CompletedAt: at(0), Completions: 1,
		LastVerb: VerbCode(vExperienced), LastKind: schema.KindExperience})
	f("furthest progress kept, clamped, NaN ignored", []schema.Evidence{
		{Verb: vProgressed, Kind: schema.KindProgress, Time: at(0), HasProgress: true, Progress: 0.4},
		{Verb: vProgressed, Kind: schema.KindProgress, Time: at(time.Hour), HasProgress: true, Progress: 0.1},
		{Verb: vProgressed, Kind: schema.KindProgress, Time: at(2 * time.Hour), HasProgress: true, Progress: math.NaN()},
	}, Pair{FirstSeen: at(0), LastSeen: at(2 * time.Hour), StartedAt: at(0), Progress: 0.4, Flags: flagHasProgress,
		LastVerb: VerbCode(vProgressed), LastKind: schema.KindProgress})
	f("late statement moves first seen back, not the last verb", []schema.Evidence{
		{Verb: vAnswered, Kind: schema.KindAttempt, Time: at(time.Hour)},
		{Verb: vLaunched, Kind: schema.KindLaunch, Time: at(0)},
	}, Pair{FirstSeen: at(0), LastSeen: at(time.Hour), StartedAt: at(0), Starts: 1, Attempts: 1,
		LastVerb: VerbCode(vAnswered), LastKind: schema.KindAttempt})
	f("duration capped, negative ignored, unknown verb coded 0", []schema.Evidence{
		{Verb: "https://example.com/verbs/binged", Kind: schema.KindExperience, Time: at(0), Duration: int64(100 * time.Hour)},
		{Verb: "https://example.com/verbs/binged", Kind: schema.KindExperience, Time: at(0), Duration: -5},
	}, Pair{FirstSeen: at(0), LastSeen: at(0), StartedAt: at(0), TimeSpent: int64(MaxStatementDuration), LastKind: schema.KindExperience})
	f("epoch time stays distinguishable from never", []schema.Evidence{
		{Verb: vLaunched, Kind: schema.KindLaunch, Time: 0},
	}, Pair{FirstSeen: 1, LastSeen: 1, StartedAt: 1, Starts: 1, LastVerb: VerbCode(vLaunched), LastKind: schema.KindLaunch})
}

func TestPairMastered(t *testing.T) {
	var p Pair
	if p.Mastered() {
		t.Fatal("zero pair is mastered")
	}
	p.SetMastered(at(0))
	p.SetMastered(at(time.Hour)) // keeps the first time
	if !p.Mastered() || p.MasteredAt != at(0) {
		t.Fatalf("after SetMastered: MasteredAt=%d, want %d", p.MasteredAt, at(0))
	}
	p.ClearMastered()
	if p.Mastered() {
		t.Fatal("still mastered after ClearMastered")
	}
}

func TestPairBinaryRoundTrip(t *testing.T) {
	ps := []Pair{
		{},
		{FirstSeen: -5, LastSeen: math.MaxInt64, StartedAt: 3, CompletedAt: 4, MasteredAt: 5, TimeSpent: 6,
			Starts: math.MaxUint32, Attempts: 7, Completions: 8, Progress: 1, LastVerb: 65535, LastKind: schema.KindVoid, Flags: flagHasProgress},
	}
	for _, p := range ps {
		b, err := p.AppendBinary([]byte("prefix"))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != len("prefix")+PairSize {
			t.Fatalf("encoded length %d, want %d", len(b)-len("prefix"), PairSize)
		}
		b = append(b, "trailer"...)
		q, n, err := DecodePair(b[len("prefix"):])
		if err != nil || n != PairSize || q != p {
			t.Fatalf("DecodePair = %+v, %d, %v; want %+v, %d", q, n, err, p, PairSize)
		}
		m, _ := p.MarshalBinary()
		var r Pair
		if err := r.UnmarshalBinary(m); err != nil || r != p {
			t.Fatalf("UnmarshalBinary = %+v, %v", r, err)
		}
		if err := r.UnmarshalBinary(append(m, 0)); err == nil {
			t.Fatal("UnmarshalBinary accepted a trailing byte")
		}
	}
}

func TestDecodePairRejects(t *testing.T) {
	good, _ := (&Pair{Progress: 0.5, Flags: flagHasProgress}).MarshalBinary()
	f := func(name string, mutate func(b []byte) []byte) {
		t.Helper()
		b := mutate(bytes.Clone(good))
		if _, _, err := DecodePair(b); err == nil {
			t.Errorf("%s: DecodePair accepted it", name)
		}
	}
	f("empty", func(b []byte) []byte { return nil })
	f("short", func(b []byte) []byte { return b[:PairSize-1] })
	f("version", func(b []byte) []byte { b[0] = 9; return b })
	f("progress NaN", func(b []byte) []byte { copy(b[1+48+12:], []byte{0, 0, 0xc0, 0x7f}); return b })
	f("progress > 1", func(b []byte) []byte { copy(b[1+48+12:], []byte{0, 0, 0, 0x40}); return b })
	f("negative time spent", func(b []byte) []byte { b[1+40+7] = 0x80; return b })
	f("unknown flag", func(b []byte) []byte { b[PairSize-1] = 0x80; return b })
}

func FuzzDecodePair(f *testing.F) {
	good, _ := (&Pair{StartedAt: 5, Progress: 0.5}).MarshalBinary()
	f.Add(good)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, n, err := DecodePair(b)
		if err != nil {
			return
		}
		again, _ := p.AppendBinary(nil)
		if !bytes.Equal(again, b[:n]) {
			t.Fatalf("re-encoding differs: %x vs %x", again, b[:n])
		}
	})
}

func TestVerbCodes(t *testing.T) {
	seen := map[string]bool{}
	for i, v := range verbIRIs {
		if i == 0 {
			continue
		}
		if seen[v] {
			t.Errorf("verb %s listed twice", v)
		}
		seen[v] = true
		if VerbIRI(VerbCode(v)) != v {
			t.Errorf("verb %s does not round-trip", v)
		}
	}
	if VerbCode("urn:x") != 0 || VerbIRI(60000) != "" {
		t.Error("unknown verbs must map to 0 and back to \"\"")
	}
}

func BenchmarkPairApplyEncode(b *testing.B) {
	ev := schema.Evidence{Verb: vAnswered, Kind: schema.KindAttempt, Time: at(0), HasSuccess: true, Duration: int64(time.Second)}
	var p Pair
	buf := make([]byte, 0, PairSize)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Time += int64(time.Second)
		p.Apply(&ev)
		buf, _ = p.AppendBinary(buf[:0])
		if _, _, err := DecodePair(buf); err != nil {
			b.Fatal(err)
		}
	}
}
