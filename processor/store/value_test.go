package store

import (
	"reflect"
	"strings"
	"testing"

	"github.com/unpair/unpair/processor/decision"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	f := func(d decision.Decision, wantPrefix string) {
		t.Helper()
		b, err := EncodeDecision(d)
		if err != nil {
			t.Fatalf("EncodeDecision(%+v): %v", d, err)
		}
		if !strings.HasPrefix(string(b), wantPrefix) {
			t.Fatalf("encoded %q, want prefix %q", b, wantPrefix)
		}
		h, got, err := DecodeDecision(string(b))
		if err != nil {
			t.Fatalf("DecodeDecision(%q): %v", b, err)
		}
		if !reflect.DeepEqual(got, d) {
			t.Fatalf("round trip: got %+v, want %+v", got, d)
		}
		if h.Suppressed != d.Suppressed || h.Reason != d.Reason || h.Until != d.Until {
			t.Fatalf("head %+v disagrees with decision %+v", h, d)
		}
	}
	f(decision.Decision{Content: "https://x.org/q1", Suppressed: true, Reason: decision.Mastered, Explanation: "You know this | well.", Since: 5, Until: 1735689600000,
		Evidence: decision.Evidence{Attempts: 4, Correct: 4, PKnown: 0.97, Model: "bkt", Skills: []string{"fractions"}}}, "1|mastered|1735689600000|{")
	f(decision.Decision{Content: "c|with|bars", Suppressed: false, Reason: decision.WrongAnswer}, "0|wrong_answer|0|{")
	f(decision.Decision{Content: "c", Suppressed: true, Reason: decision.Manual, Until: -1}, "1|manual|-1|{")
}

func TestEncodeDecisionRejects(t *testing.T) {
	f := func(d decision.Decision, want string) {
		t.Helper()
		_, err := EncodeDecision(d)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("EncodeDecision(%+v) = %v, want error containing %q", d, err, want)
		}
	}
	f(decision.Decision{Reason: decision.Mastered}, "content: required")
	f(decision.Decision{Content: "c", Reason: "a|b"}, "must not contain '|'")
}

func TestParseHeadRejects(t *testing.T) {
	for _, v := range []string{"", "1", "2|mastered|0|{}", "1mastered|0|{}", "1|mastered", "1|mastered|0", "1|mastered|soon|{}", "x|a|0|{}"} {
		if _, _, err := ParseHead(v); err == nil {
			t.Errorf("ParseHead(%q): no error", v)
		}
	}
	if _, _, err := DecodeDecision("1|mastered|0|not json"); err == nil {
		t.Error("DecodeDecision with a non-JSON body: no error")
	}
}

func TestHeadActive(t *testing.T) {
	f := func(h Head, now int64, want bool) {
		t.Helper()
		if got := h.Active(now); got != want {
			t.Fatalf("%+v.Active(%d) = %v, want %v", h, now, got, want)
		}
	}
	f(Head{Suppressed: true}, 1e12, true)             // no end
	f(Head{Suppressed: true, Until: 100}, 99, true)   // before until
	f(Head{Suppressed: true, Until: 100}, 100, false) // until reached
	f(Head{Suppressed: false}, 0, false)
	f(Head{Suppressed: false, Until: 100}, 50, false)
}

func TestValidateLearnerKey(t *testing.T) {
	ok := []string{"0123456789abcdef0123456789abcdef", "L1", "a_b-C", strings.Repeat("a", MaxLearnerKeyLen)}
	bad := []string{"", "alice@example.com", "mailto:a@b.c", "a{b}", "a b", "a:b", "a|b", "a.b", strings.Repeat("a", MaxLearnerKeyLen+1), "é"}
	for _, k := range ok {
		if err := ValidateLearnerKey(k); err != nil {
			t.Errorf("ValidateLearnerKey(%q) = %v, want nil", k, err)
		}
	}
	for _, k := range bad {
		err := ValidateLearnerKey(k)
		if err == nil {
			t.Errorf("ValidateLearnerKey(%q) = nil, want error", k)
			continue
		}
		if len(k) > 3 && strings.Contains(err.Error(), k) {
			t.Errorf("ValidateLearnerKey(%q) echoes the rejected key: %v", k, err)
		}
	}
}

func TestSchemaKeys(t *testing.T) {
	s, err := NewSchema("")
	if err != nil {
		t.Fatal(err)
	}
	k := s.Keys("abc")
	want := Keys{"unpair:v1:{abc}:d", "unpair:v1:{abc}:s", "unpair:v1:{abc}:o", "unpair:v1:{abc}:e", "unpair:v1:{abc}:k"}
	if k != want {
		t.Fatalf("Keys = %+v, want %+v", k, want)
	}
	if s.DecisionsKey("abc") != want.Decisions || s.Prefix() != "unpair" {
		t.Fatalf("DecisionsKey/Prefix disagree: %q %q", s.DecisionsKey("abc"), s.Prefix())
	}
	for _, p := range []string{"a{b", "a}b", "a b"} {
		if _, err := NewSchema(p); err == nil {
			t.Errorf("NewSchema(%q): no error", p)
		}
	}
}

func BenchmarkEncodeDecision(b *testing.B) {
	d := decision.Decision{Content: "https://x.org/q1", Suppressed: true, Reason: decision.Mastered, Explanation: "You answered 4 in a row.", Until: 1735689600000,
		Evidence: decision.Evidence{Attempts: 4, Correct: 4, PKnown: 0.97, Model: "bkt"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeDecision(d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseHead(b *testing.B) {
	v := "1|mastered|1735689600000|{\"content\":\"x\"}"
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseHead(v); err != nil {
			b.Fatal(err)
		}
	}
}
