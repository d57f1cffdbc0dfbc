package shard

import (
	"context"
	"testing"

	"github.com/unpair/unpair/processor/engine"
	"github.com/unpair/unpair/schema"
)

// A started flush's batch holds what was submitted before StartFlush
// returned and nothing submitted after, even before Wait.
func TestStartFlushIsACut(t *testing.T) {
	a := newAgg(t, Config{Shards: 2})
	ctx := context.Background()
	in := func(learner string, off int64) []Input {
		ev := schema.Evidence{ID: schema.UUID{byte(off + 1), byte(len(learner))}, Learner: learner, Content: "q/1",
			Kind: schema.KindAttempt, Time: (t0 + off) * 1e6, HasSuccess: true, Success: true}
		return []Input{{Evidence: ev, Source: engine.Source{Partition: 0, Offset: off}}}
	}
	before := []string{"k1", "k2", "k3", "k4"}
	for i, l := range before {
		if err := a.Submit(ctx, in(l, int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	f, err := a.StartFlush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after := []string{"k5", "k6", "k7", "k8"}
	for i, l := range after {
		if err := a.Submit(ctx, in(l, int64(10+i))); err != nil {
			t.Fatal(err)
		}
	}
	b, err := f.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, c := range b.Learners {
		got[c.Learner] = true
	}
	for _, l := range before {
		if !got[l] {
			t.Errorf("learner %s, submitted before StartFlush, is not in its batch", l)
		}
	}
	for _, l := range after {
		if got[l] {
			t.Errorf("learner %s, submitted after StartFlush, is in its batch", l)
		}
	}
	if b.Offsets[0] != 3 {
		t.Errorf("batch offsets %v, want partition 0 at 3", b.Offsets)
	}
	if err := a.Release(b); err != nil {
		t.Fatal(err)
	}
	b2, err := a.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(b2.Learners) != len(after) {
		t.Errorf("next flush has %d learners, want the %d submitted after the start", len(b2.Learners), len(after))
	}
}
