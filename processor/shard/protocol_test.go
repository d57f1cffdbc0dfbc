package shard

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/unpair/unpair/processor/engine"
	"github.com/unpair/unpair/schema"
)

// answers returns n correct answers of one learner on one content, from
// partition 0 starting at offset first.
func answers(learner string, n int, first int64) []Input {
	var in []Input
	for i := range n {
		off := first + int64(i)
		ev := schema.Evidence{ID: schema.UUID{byte(off + 1), 0x41}, Learner: learner, Content: "q/1", Kind: schema.KindAttempt,
			Time: (t0 + off) * 1e6, HasSuccess: true, Success: true}
		in = append(in, Input{Evidence: ev, Source: engine.Source{Partition: 0, Offset: off}})
	}
	return in
}

// A batch released after its learner was dropped and reloaded must not
// clean the reloaded learner: the mark belongs to the dropped one.
func TestReleaseAfterDropKeepsReloadedLearnerDirty(t *testing.T) {
	ctx := context.Background()
	a := newAgg(t, Config{Shards: 1})
	if err := a.Submit(ctx, answers("k1", 3, 0)); err != nil {
		t.Fatal(err)
	}
	b1, err := a.Flush(ctx)
	if err != nil || len(b1.Learners) != 1 {
		t.Fatalf("first flush: %v, %d learners", err, len(b1.Learners))
	}
	if err := a.DropPartitions(ctx, []int32{0}); err != nil {
		t.Fatal(err)
	}
	// The new owner has nothing stored (no loader): Kafka redelivers the
	// same evidence, which rebuilds the same state, counters included.
	if err := a.Submit(ctx, answers("k1", 3, 0)); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(b1); err != nil {
		t.Fatal(err)
	}
	b2, err := a.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(b2.Learners) != 1 || len(b2.Learners[0].Events) != 1 {
		t.Fatalf("reloaded learner after a stale release: %+v, want it dirty with its event", b2.Learners)
	}
	if string(b2.Learners[0].State) != string(b1.Learners[0].State) {
		t.Fatal("redelivered evidence did not rebuild the same state")
	}
}

// Release does not wait for evidence queued behind the flush: the shard
// takes it before its next queued batch.
func TestReleaseOvertakesQueuedEvidence(t *testing.T) {
	ctx := context.Background()
	gates := map[string]chan struct{}{"slow1": make(chan struct{}), "slow2": make(chan struct{})}
	a := newAgg(t, Config{Shards: 1, QueueDepth: 8, Loader: func(ctx context.Context, key string) ([]byte, error) {
		if g := gates[key]; g != nil {
			select {
			case <-g:
			case <-ctx.Done():
			}
		}
		return nil, nil
	}})
	if err := a.Submit(ctx, answers("k1", 3, 0)); err != nil {
		t.Fatal(err)
	}
	b, err := a.Flush(ctx)
	if err != nil || len(b.Learners) != 1 {
		t.Fatalf("flush: %v, %d learners", err, len(b.Learners))
	}
	// The shard stalls in the loader on slow1; k2, slow2 and k3 wait in
	// its queue.
	for i, k := range []string{"slow1", "k2", "slow2", "k3"} {
		if err := a.Submit(ctx, answers(k, 1, 10+int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- a.Release(b) }()
	s := a.shards[0]
	poll := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting until %s", what)
			}
			runtime.Gosched()
		}
	}
	poll("the release is queued", func() bool { return len(s.ctl) == 1 })
	close(gates["slow1"])
	// The shard takes the release before k2's batch, then stalls on slow2.
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Release waited for the evidence queued behind it")
	}
	if len(s.q) == 0 {
		t.Fatal("the queue drained before the release was taken")
	}
	close(gates["slow2"])
	b2, err := a.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, c := range b2.Learners {
		got[c.Learner] = true
	}
	if got["k1"] || len(got) != 4 || !got["slow1"] || !got["slow2"] || !got["k2"] || !got["k3"] {
		t.Fatalf("after release: dirty learners %v, want slow1, k2, slow2, k3", got)
	}
}

// The learners of one flush share buffers: appending to one learner's
// State, Decisions or Events must not change another's.
func TestChangesDoNotAlias(t *testing.T) {
	ctx := context.Background()
	w := workload(4, 50, 6, 2)
	want := cleanPass(t, w)
	a := newAgg(t, Config{Shards: 2})
	submitAll(t, a, w, 16, nil)
	b, err := a.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Learners) != len(want) {
		t.Fatalf("%d learners changed, want %d", len(b.Learners), len(want))
	}
	type copyOf struct {
		state  string
		decs   int
		events []string
	}
	before := make([]copyOf, len(b.Learners))
	for i, c := range b.Learners {
		before[i] = copyOf{state: string(c.State), decs: len(c.Decisions)}
		for _, ev := range c.Events {
			before[i].events = append(before[i].events, ev.ID)
		}
	}
	for i := range b.Learners {
		c := &b.Learners[i]
		c.State = append(c.State, 0xff, 0xff, 0xff, 0xff)
		c.Decisions = append(c.Decisions, c.Decisions...)
		c.Events = append(c.Events, c.Events...)
	}
	for i, c := range b.Learners {
		if string(c.State[:len(c.State)-4]) != before[i].state || before[i].state != want[c.Learner] {
			t.Fatalf("learner %s: state changed by appends to other learners", c.Learner)
		}
		if len(c.Decisions) != 2*before[i].decs {
			t.Fatalf("learner %s: decisions changed", c.Learner)
		}
		for j, id := range before[i].events {
			if c.Events[j].ID != id {
				t.Fatalf("learner %s: event %d changed by appends to other learners", c.Learner, j)
			}
		}
	}
}
