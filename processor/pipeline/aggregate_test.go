package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestAggStageCommitsAfterDurable(t *testing.T) {
	j := &journal{}
	cfg := testConfig()
	values := []string{
		"l1|c1|1", "l2|c1|1", "l1|c1|1", "bad1", "l2|c1|0", "panic", "l3|c2|1", "l1|c2|1;l1|c3|1", "",
	}
	topic := newTopicLog("by", 2, values...)
	s, agg, st, out := newTestAggStage(t, cfg, topic, j)
	gen := newFakeGen(j, "by", 0, 1)
	s.runGeneration(gen)

	want := map[int]int64{0: int64(len(topic.parts[0])), 1: int64(len(topic.parts[1]))}
	eventually(t, "commits of every partition", func() bool {
		return gen.committed(0) == want[0] && gen.committed(1) == want[1]
	})
	gen.end()

	dl := out.topic(cfg.DeadLetterTopic)
	var reasons []string
	for _, m := range dl {
		r, _ := Header(m, HeaderReason)
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	if got, w := strings.Join(reasons, ","), "empty,internal,invalid_statement"; got != w {
		t.Errorf("dead letter reasons = %s, want %s", got, w)
	}
	if ev := out.topic(cfg.DecisionTopic); len(ev) != 1 || string(ev[0].Key) != "l1" {
		t.Errorf("decision events = %v, want one for l1", ev)
	}
	if got := len(st.state); got != 3 {
		t.Errorf("learners written = %d, want 3", got)
	}
	if len(agg.dropped) != 1 || len(agg.dropped[0]) != 2 {
		t.Errorf("dropped partitions = %v, want both partitions once", agg.dropped)
	}
	// Every commit must follow a write or produce that covers it: the last
	// entry before each commit group is not another commit of a later flush
	// without a write. Check the order of the first flush with content.
	entries := j.list()
	firstWrite := slices.IndexFunc(entries, func(e string) bool { return strings.HasPrefix(e, "write") })
	firstProduce := slices.IndexFunc(entries, func(e string) bool { return strings.HasPrefix(e, "produce") })
	firstCommit := slices.IndexFunc(entries, func(e string) bool { return strings.HasPrefix(e, "commit") })
	if firstWrite < 0 || firstCommit < firstWrite || firstCommit < firstProduce {
		t.Errorf("order of effects: %v; want produce and write before the first commit", entries)
	}
	if entries[len(entries)-1] != "drop [0 1]" && entries[len(entries)-1] != "drop [1 0]" {
		t.Errorf("last effect = %q, want the drop of the partitions", entries[len(entries)-1])
	}
	processed := testutil.ToFloat64(s.m.Statements.WithLabelValues(OutcomeProcessed, ""))
	dead := testutil.ToFloat64(s.m.Statements.WithLabelValues(OutcomeDeadLettered, "invalid_statement")) +
		testutil.ToFloat64(s.m.Statements.WithLabelValues(OutcomeDeadLettered, "internal")) +
		testutil.ToFloat64(s.m.Statements.WithLabelValues(OutcomeDeadLettered, "empty"))
	dup := testutil.ToFloat64(s.m.Statements.WithLabelValues(OutcomeDuplicate, ""))
	// 7 statements in 6 valid messages; the second statement of the array
	// shares its message's offset, which the aggregator skips (see doc.go).
	if processed+dup != 7 || dead != 3 {
		t.Errorf("counted processed=%v duplicate=%v dead=%v, want 7 statements and 3 messages (each counted once)", processed, dup, dead)
	}
}

func TestAggStageDeadLetterHeaders(t *testing.T) {
	j := &journal{}
	cfg := testConfig()
	topic := newTopicLog("by", 1, "bad")
	topic.parts[0][0].Headers = originHeaders(origin{Topic: "xapi.statements", Partition: 7, Offset: 42}, nil)
	s, _, _, out := newTestAggStage(t, cfg, topic, j)
	gen := newFakeGen(j, "by", 0)
	s.runGeneration(gen)
	eventually(t, "commit", func() bool { return gen.committed(0) == 1 })
	gen.end()
	dl := out.topic(cfg.DeadLetterTopic)
	if len(dl) != 1 {
		t.Fatalf("dead letters = %d, want 1", len(dl))
	}
	want := map[string]string{
		HeaderReason: "invalid_statement", HeaderError: "actor: required\nverb.id: must be an IRI",
		HeaderSourceTopic: "xapi.statements", HeaderSourcePartition: "7", HeaderSourceOffset: "42",
	}
	for k, w := range want {
		if got, _ := Header(dl[0], k); got != w {
			t.Errorf("header %s = %q, want %q", k, got, w)
		}
	}
	if _, ok := Header(dl[0], HeaderTime); !ok {
		t.Errorf("header %s missing", HeaderTime)
	}
	if string(dl[0].Value) != "bad" || string(dl[0].Key) != "k0" {
		t.Errorf("dead letter key/value = %q/%q, want the original k0/bad", dl[0].Key, dl[0].Value)
	}
}

func TestAggStageRedisDownStopsCommitsAndFetching(t *testing.T) {
	j := &journal{}
	cfg := testConfig()
	cfg.FlushSize = 4
	cfg.MaxInFlight = 10
	var values []string
	for i := range 100 {
		values = append(values, fmt.Sprintf("l%d|c|1", i%7))
	}
	topic := newTopicLog("by", 1, values...)
	s, _, st, _ := newTestAggStage(t, cfg, topic, j)
	st.setFail(true)
	var rd *fakeReader
	open := s.open
	s.open = func(tp string, p int, off int64) (PartitionReader, error) {
		r, err := open(tp, p, off)
		rd = r.(*fakeReader)
		return r, err
	}
	gen := newFakeGen(j, "by", 0)
	s.runGeneration(gen)

	eventually(t, "the in-flight bound to be reached", func() bool { return s.inFlight.inUse() == cfg.MaxInFlight })
	eventually(t, "not ready while redis fails", func() bool { return s.health.Ready() != nil })
	if n := rd.fetched(); n > cfg.MaxInFlight {
		t.Fatalf("fetched %d statements while redis is down, bound is %d", n, cfg.MaxInFlight)
	}
	if c := gen.committed(0); c != -1 {
		t.Fatalf("committed offset %d while redis is down", c)
	}
	if testutil.ToFloat64(s.m.RedisErrors) == 0 {
		t.Errorf("redis errors not counted")
	}

	st.setFail(false)
	eventually(t, "everything committed after redis is back", func() bool { return gen.committed(0) == 100 })
	eventually(t, "ready again", func() bool { return s.health.Ready() == nil })
	gen.end()
	if testutil.ToFloat64(s.m.RedisRetries) == 0 {
		t.Errorf("redis retries not counted")
	}
}

func TestAggStageRevokeWhileRedisDownCommitsNothing(t *testing.T) {
	j := &journal{}
	cfg := testConfig()
	cfg.FlushTimeout = 50 * 1e6 // 50ms
	topic := newTopicLog("by", 1, "l1|c|1", "l2|c|1")
	s, agg, st, _ := newTestAggStage(t, cfg, topic, j)
	st.setFail(true)
	gen := newFakeGen(j, "by", 0)
	s.runGeneration(gen)
	eventually(t, "a failed write", func() bool { return testutil.ToFloat64(s.m.RedisErrors) > 0 })
	gen.end() // returns once the final flush gave up after FlushTimeout
	if c := gen.committed(0); c != -1 {
		t.Fatalf("committed %d though nothing is durable", c)
	}
	if len(agg.dropped) != 1 {
		t.Fatalf("partitions not dropped after an abandoned flush: %v", agg.dropped)
	}
	if agg.released != 0 {
		t.Errorf("released %d batches that never became durable", agg.released)
	}
}

func TestAggStageRedeliveryIsSkipped(t *testing.T) {
	j := &journal{}
	cfg := testConfig()
	topic := newTopicLog("by", 1, "l1|c|1", "l1|c|1", "l1|c|0")
	s, agg, _, out := newTestAggStage(t, cfg, topic, j)
	gen := newFakeGen(j, "by", 0)
	s.runGeneration(gen)
	eventually(t, "commit", func() bool { return gen.committed(0) == 3 })
	gen.end()
	// A new generation starting over from offset 0 (a commit lost in a
	// crash) must not apply anything twice.
	gen2 := newFakeGen(j, "by", 0)
	s.runGeneration(gen2)
	eventually(t, "second pass committed", func() bool { return gen2.committed(0) == 3 })
	gen2.end()
	if agg.skipped != 3 {
		t.Errorf("skipped %d on redelivery, want 3", agg.skipped)
	}
	if n := len(out.topic(cfg.DecisionTopic)); n != 1 {
		t.Errorf("decision events = %d, want 1 (the redelivery changes nothing)", n)
	}
	if d := testutil.ToFloat64(s.m.Statements.WithLabelValues(OutcomeDuplicate, "")); d != 3 {
		t.Errorf("duplicates counted = %v, want 3", d)
	}
}

func TestAggStageRouteCheck(t *testing.T) {
	j := &journal{}
	cfg := testConfig()
	cfg.Rekey = false
	topic := newTopicLog("in", 1, "l1|c|1", "l2|c|1")
	topic.parts[0][0].Key = []byte("l1") // keyed right
	s, _, _, _ := newTestAggStage(t, cfg, topic, j)
	s.routeCheck = true
	gen := newFakeGen(j, "in", 0)
	s.runGeneration(gen)
	eventually(t, "commit", func() bool { return gen.committed(0) == 2 })
	gen.end()
	if n := testutil.ToFloat64(s.m.Misrouted.WithLabelValues(MisrouteKeyMismatch)); n != 1 {
		t.Errorf("misrouted key_mismatch = %v, want 1", n)
	}
}

func TestAggStageSubmitPanicDeadLetters(t *testing.T) {
	j := &journal{}
	cfg := testConfig()
	topic := newTopicLog("by", 1, "bad", "boom|c|1")
	s, agg, _, out := newTestAggStage(t, cfg, topic, j)
	agg.panicOn = "boom"
	gen := newFakeGen(j, "by", 0)
	s.runGeneration(gen)
	eventually(t, "commit", func() bool { return gen.committed(0) == 2 })
	gen.end()
	dl := out.topic(cfg.DeadLetterTopic)
	if len(dl) != 2 {
		t.Fatalf("dead letters = %d, want 2 (one rejected, one internal)", len(dl))
	}
	reasons := map[string]string{}
	for _, m := range dl {
		reasons[string(m.Value)], _ = Header(m, HeaderReason)
	}
	if reasons["bad"] != "invalid_statement" || reasons["boom|c|1"] != ReasonInternal {
		t.Errorf("reasons = %v, want bad: invalid_statement, boom|c|1: internal", reasons)
	}
	dead := testutil.ToFloat64(s.m.Statements.WithLabelValues(OutcomeDeadLettered, "invalid_statement")) +
		testutil.ToFloat64(s.m.Statements.WithLabelValues(OutcomeDeadLettered, ReasonInternal))
	if dead != 2 {
		t.Errorf("dead letters counted %v times, want 2", dead)
	}
}

func TestAggStageClosedAggregatorEndsGenerationWithoutDeadLetters(t *testing.T) {
	j := &journal{}
	cfg := testConfig()
	topic := newTopicLog("by", 1, "l1|c|1", "l2|c|1")
	s, agg, _, out := newTestAggStage(t, cfg, topic, j)
	agg.failWith = errors.New("shard: aggregator closed")
	gen := newFakeGen(j, "by", 0)
	s.runGeneration(gen)
	gen.wg.Wait() // the fetcher returns, which ends the generation
	if n := len(out.topic(cfg.DeadLetterTopic)); n != 0 {
		t.Errorf("dead letters = %d, want none: a closed aggregator is not the statements' fault", n)
	}
	if c := gen.committed(0); c != -1 {
		t.Errorf("committed %d of statements never applied", c)
	}
}

// A duplicate handed over between a flush's snapshot and its barrier is
// counted by that flush, while its statement is accepted only in the next
// snapshot: the totals must still add up, each statement counted once.
func TestFlushCountsEachStatementOnce(t *testing.T) {
	j := &journal{}
	cfg := testConfig()
	s, agg, _, _ := newTestAggStage(t, cfg, newTopicLog("by", 1), j)
	gen := newFakeGen(j, "by", 0)
	gs := &genState{marks: map[int32]int64{}, committed: map[int32]int64{}, budget: newBudget(cfg.MaxInFlight), kick: make(chan struct{}, 1)}
	count := func(outcome string) float64 {
		t.Helper()
		return testutil.ToFloat64(s.m.Statements.WithLabelValues(outcome, ""))
	}
	flush := func(accepted int, newDups uint64) {
		t.Helper()
		gs.mu.Lock()
		gs.accepted += accepted
		gs.mu.Unlock()
		agg.mu.Lock()
		agg.skipped += newDups
		agg.mu.Unlock()
		if !s.flush(context.Background(), gen, gs) {
			t.Fatal("flush gave up")
		}
	}
	// flush 1: its snapshot holds 2 statements, but its barrier also applied
	// 3 later ones, all duplicates; flush 2's snapshot holds those 3.
	flush(2, 3)
	flush(3, 0)
	flush(4, 1)
	if p, d := count(OutcomeProcessed), count(OutcomeDuplicate); p != 5 || d != 4 {
		t.Errorf("processed %v + duplicate %v; want 5 + 4 for 9 statements", p, d)
	}
}

// failingAgg hands out one panicked statement with its next flush.
type failingAgg struct {
	*fakeAgg
	failed []Failure
}

func (f *failingAgg) Flush(ctx context.Context) (*Batch, error) {
	b, err := f.fakeAgg.Flush(ctx)
	if b != nil {
		b.Failed, f.failed = f.failed, nil
	}
	return b, err
}

func TestFlushDeadLettersStatementsTheAggregatorCouldNotApply(t *testing.T) {
	j := &journal{}
	cfg := testConfig()
	s, agg, _, out := newTestAggStage(t, cfg, newTopicLog("by", 1), j)
	s.agg = &failingAgg{fakeAgg: agg, failed: []Failure{{Learner: "l9", Source: Source{Partition: 0, Offset: 41}, Panic: "index out of range"}}}
	gen := newFakeGen(j, "by", 0)
	gs := &genState{marks: map[int32]int64{}, committed: map[int32]int64{}, budget: newBudget(cfg.MaxInFlight), kick: make(chan struct{}, 1)}
	gs.accepted = 3
	if !s.flush(context.Background(), gen, gs) {
		t.Fatal("flush gave up")
	}
	dl := out.topic(cfg.DeadLetterTopic)
	if len(dl) != 1 {
		t.Fatalf("dead letters = %d, want 1", len(dl))
	}
	if r, _ := Header(dl[0], HeaderReason); r != ReasonInternal {
		t.Errorf("reason = %q, want %q", r, ReasonInternal)
	}
	if o, _ := Header(dl[0], HeaderSourceOffset); o != "41" {
		t.Errorf("source offset header = %q, want 41", o)
	}
	if e, _ := Header(dl[0], HeaderError); !strings.Contains(e, "index out of range") {
		t.Errorf("error header = %q, want the panic value", e)
	}
	p := testutil.ToFloat64(s.m.Statements.WithLabelValues(OutcomeProcessed, ""))
	d := testutil.ToFloat64(s.m.Statements.WithLabelValues(OutcomeDeadLettered, ReasonInternal))
	if p != 2 || d != 1 {
		t.Errorf("processed %v, dead-lettered %v; want 2 and 1 for 3 statements", p, d)
	}
}
