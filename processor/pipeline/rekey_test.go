package pipeline

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
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

// The re-key stage names each statement's own place and index in its
// input message, whatever origin headers the producer sent; the aggregating
// stage turns them into Source.Origin only when they name the input topic.
func TestRekeyOriginIsOwnPlaceAndIndex(t *testing.T) {
	j := &journal{}
	cfg := testConfig()
	topic := newTopicLog("in", 1, `["l1|c|1", "bad", "l1|c|0"]`, "l2|c|1")
	forged := []kafka.Header{{Key: HeaderSourceTopic, Value: []byte("in")}, {Key: HeaderSourcePartition, Value: []byte("7")},
		{Key: HeaderSourceOffset, Value: []byte("99")}, {Key: HeaderSourceIndex, Value: []byte("3")}}
	topic.parts[0][1].Headers = forged
	s, out := newTestRekey(t, cfg, topic, j)
	gen := newFakeGen(j, "in", 0)
	s.runGeneration(gen)
	eventually(t, "input committed", func() bool { return gen.committed(0) == 2 })
	gen.end()

	type pos struct {
		value          string
		partition, off string
		index          string
	}
	var got []pos
	for _, m := range append(out.topic(cfg.ByLearnerTopic), out.topic(cfg.DeadLetterTopic)...) {
		p, _ := Header(m, HeaderSourcePartition)
		o, _ := Header(m, HeaderSourceOffset)
		i, _ := Header(m, HeaderSourceIndex)
		got = append(got, pos{string(m.Value), p, o, i})
	}
	want := []pos{{`"l1|c|1"`, "0", "0", "0"}, {`"l1|c|0"`, "0", "0", "2"}, {"l2|c|1", "0", "1", "0"}, {`"bad"`, "0", "0", "1"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("origins (value, partition, offset, index) = %v, want %v", got, want)
	}

	agg := &aggStage{originTopic: "in"}
	by := out.topic(cfg.ByLearnerTopic)
	if o := agg.origin(&by[1]); o != (Origin{Partition: 0, Index: 2, Offset: 0, Valid: true}) {
		t.Errorf("origin of the third array element = %+v", o)
	}
	if o := agg.origin(&by[2]); o != (Origin{Partition: 0, Offset: 1, Valid: true}) {
		t.Errorf("origin of a message the producer sent forged headers with = %+v, want its own place", o)
	}
	other := &aggStage{originTopic: "another-input"}
	if o := other.origin(&by[0]); o.Valid {
		t.Errorf("origin naming another topic taken as valid: %+v", o)
	}
	if o := (&aggStage{}).origin(&by[0]); o.Valid {
		t.Errorf("origin taken with rekey off: %+v", o)
	}
	// an older re-key stage's message (no index header) and a re-sent one
	// are not ordered by origin
	legacy := by[0]
	legacy.Headers = nil
	for _, h := range by[0].Headers {
		if h.Key != HeaderSourceIndex {
			legacy.Headers = append(legacy.Headers, h)
		}
	}
	if o := agg.origin(&legacy); o.Valid {
		t.Errorf("origin of a message without the index header taken as valid: %+v", o)
	}
	resent := resendable([]kafka.Message{by[0]}, errors.New("refused"))
	if o := agg.origin(&resent[0]); o.Valid {
		t.Errorf("origin of a re-sent message taken as valid: %+v", o)
	}
}
