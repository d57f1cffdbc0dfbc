package pipeline

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"
)

func newTestRekey(t *testing.T, cfg *Config, topic *topicLog, j *journal) (*rekeyStage, *fakeProducer) {
	t.Helper()
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	out := &fakeProducer{j: j}
	return &rekeyStage{cfg: cfg, log: zap.NewNop(), m: m, dec: fakeDecoder{}, out: out, open: topic.readers(),
		input: topic.topic, hard: context.Background(), now: time.Now, warnDead: rateLimited{every: time.Second}}, out
}

func TestRekeyRoutesByLearnerAndDeadLetters(t *testing.T) {
	j := &journal{}
	cfg := testConfig()
	topic := newTopicLog("in", 2, "l1|c|1", "bad", `["l2|c|1", "bad", "l3|c|1"]`, "l1|c|0", "panic", "  ")
	s, out := newTestRekey(t, cfg, topic, j)
	gen := newFakeGen(j, "in", 0, 1)
	s.runGeneration(gen)
	eventually(t, "input committed", func() bool { return gen.committed(0) == 3 && gen.committed(1) == 3 })
	gen.end()

	by := out.topic(cfg.ByLearnerTopic)
	var keys []string
	for _, m := range by {
		keys = append(keys, string(m.Key))
		if _, ok := Header(m, HeaderSourceOffset); !ok {
			t.Errorf("by-learner message %q lacks its origin headers", m.Value)
		}
	}
	if len(by) != 4 {
		t.Fatalf("by-learner messages = %v, want 4 (l1, l2, l3 of the array, l1)", keys)
	}
	elems := 0
	for _, m := range by {
		if string(m.Value) == `"l2|c|1"` || string(m.Value) == `"l3|c|1"` {
			elems++
			if want := string(m.Value[1:3]); string(m.Key) != want {
				t.Errorf("array element %s keyed %q, want %q", m.Value, m.Key, want)
			}
		}
	}
	if elems != 2 {
		t.Errorf("array elements produced on their own = %d, want 2", elems)
	}
	dl := out.topic(cfg.DeadLetterTopic)
	reasons := map[string]int{}
	for _, m := range dl {
		r, _ := Header(m, HeaderReason)
		reasons[r]++
	}
	if reasons["invalid_statement"] != 2 || reasons[ReasonInternal] != 1 || reasons[ReasonEmpty] != 1 {
		t.Errorf("dead letter reasons = %v, want 2 invalid_statement, 1 internal, 1 empty", reasons)
	}
	// the produce of each batch precedes its commit
	entries := j.list()
	if len(entries) == 0 || entries[0] != "produce 2" && entries[0][:7] != "produce" {
		t.Errorf("first effect = %v, want a produce", entries)
	}
}

func TestRekeyNoCommitWhileProduceFails(t *testing.T) {
	j := &journal{}
	cfg := testConfig()
	cfg.FlushTimeout = 20 * time.Millisecond
	topic := newTopicLog("in", 1, "l1|c|1")
	s, out := newTestRekey(t, cfg, topic, j)
	out.fail = true
	gen := newFakeGen(j, "in", 0)
	s.runGeneration(gen)
	eventually(t, "a failed produce", func() bool { return j2f(s) > 0 })
	gen.end()
	if c := gen.committed(0); c != -1 {
		t.Fatalf("committed %d though the produce failed", c)
	}
}

func j2f(s *rekeyStage) float64 {
	return testutilCounter(s.m.KafkaProduceErrors.WithLabelValues("rekey"))
}
