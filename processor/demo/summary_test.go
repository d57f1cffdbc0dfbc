package demo

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/unpair/unpair/processor/decision"
)

func TestAccounted(t *testing.T) {
	f := func(s Summary, want bool) {
		t.Helper()
		if got := s.Accounted(); got != want {
			t.Errorf("Accounted(%+v) = %v, want %v", s, got, want)
		}
	}
	f(Summary{Produced: 10, Processed: 7, DeadLettered: 2, Duplicate: 1}, true)
	f(Summary{Produced: 10, Processed: 7, DeadLettered: 2}, false)                             // one missing
	f(Summary{Produced: 10, Processed: 8, DeadLettered: 2, Duplicate: 1}, false)               // one counted twice
	f(Summary{Produced: 10, Processed: 10, Uncommitted: 3}, false)                             // offsets behind
	f(Summary{Produced: 10, Processed: 10, Uncommitted: -1}, false)                            // commits unknown
	f(Summary{}, false)                                                                        // nothing produced
	f(Summary{Produced: 3, Processed: 1, DeadLettered: 1, Duplicate: 1, Uncommitted: 0}, true) // every outcome
}

func TestCounts(t *testing.T) {
	f := func(m map[string]int, want string) {
		t.Helper()
		if got := counts(m); got != want {
			t.Errorf("counts(%v) = %q, want %q", m, got, want)
		}
	}
	f(nil, "none")
	f(map[string]int{"b": 1, "a": 1, "c": 5}, "c 5, a 1, b 1")
	f(map[string]int{"": 2}, "(none) 2")
}

func TestQuoteArgs(t *testing.T) {
	got := quoteArgs([]string{"query", "https://x.org/a?b=1", "it's", "plain-key_1", ""})
	want := []string{"query", "'https://x.org/a?b=1'", `'it'\''s'`, "plain-key_1", "''"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("quoteArgs = %q, want %q", got, want)
	}
}

func TestSummaryWrite(t *testing.T) {
	s := &Summary{
		Learners: 2, Produced: 10, Processed: 7, DeadLettered: 2, Duplicate: 1,
		DeadReasons: map[string]int{"malformed_json": 2}, SentInvalid: 2, SentDuplicates: 1,
		Elapsed: 2 * time.Second, Produce: time.Second, Decided: 4,
		Active: map[decision.Reason]int{decision.Mastered: 2, decision.Feedback: 1},
		Examples: []Example{{Learner: "mailto:a@example.org", LearnerKey: "k1",
			Decision: decision.Decision{Content: "https://x.org/q 1", Reason: decision.Mastered, Suppressed: true, Explanation: "You know it."}}},
		HTTPAddr: "127.0.0.1:9", Redis: []string{"127.0.0.1:6"}, Prefix: "p", InProcess: true,
		Topics: []string{"in", "by", "dlq", "dec", "cat"},
	}
	var b bytes.Buffer
	s.Write(&b, "unpair")
	out := b.String()
	for _, want := range []string{
		"5 statements/s",
		"produced 10 = processed 7 + dead-lettered 2 + duplicate 1",
		"every offset committed; the simulator sent 2 invalid and 1 duplicate statements",
		"dead letters   malformed_json 2",
		"suppressed     3 of 4 decided pairs: mastered 2, feedback 1",
		"curl -s 'http://127.0.0.1:9/v1/learners/k1/contents/https:%2F%2Fx.org%2Fq%201'",
		"unpair query --redis 127.0.0.1:6 --prefix p k1 'https://x.org/q 1'",
		`"You know it."`,
		"http://127.0.0.1:9/insight/",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	s.Processed = 10
	b.Reset()
	s.Write(&b, "unpair")
	if !strings.Contains(b.String(), "produced 10 != (off by +3) processed 10") {
		t.Errorf("summary hides a miscount:\n%s", b.String())
	}
	s.Uncommitted = 4
	b.Reset()
	s.Write(&b, "unpair")
	if !strings.Contains(b.String(), "4 offsets not committed") {
		t.Errorf("summary hides uncommitted offsets:\n%s", b.String())
	}
}
