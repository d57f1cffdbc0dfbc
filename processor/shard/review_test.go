package shard

import (
	"slices"
	"testing"

	"github.com/unpair/unpair/processor/engine"
)

// TestLateReleaseKeepsNewerFailures: failures are released by the
// sequence a Flush covered, not by count. x1 panics, Flush b1 reports
// [x1]; x2 panics, Flush b2 reports [x1 x2]; b2 is written and released;
// x3 panics; a late Release(b1) arrives (and then b2's again). The next
// Flush must still report x3: its offset is in that batch's Offsets, so
// dropping it would commit it with no dead letter.
func TestLateReleaseKeepsNewerFailures(t *testing.T) {
	const bad = "bad-learner"
	var poisoned sourceSet
	cfg := Config{Shards: 1}
	cfg.applyHook = func(in *Input) {
		if poisoned.has(in.Source) {
			panic("injected failure")
		}
	}
	r := newPanicRig(t, cfg)
	poison := func() engine.Source {
		before := r.in(bad)
		x := r.in(bad)
		poisoned.add(x.Source)
		r.submit(before, x)
		return x.Source
	}
	f := func(b *Batch, want ...engine.Source) {
		t.Helper()
		if got := failedSources(t, b, bad, "injected failure"); !slices.Equal(got, want) {
			t.Fatalf("failed %v, want %v", got, want)
		}
	}
	x1 := poison()
	b1 := r.flush()
	f(b1, x1)
	x2 := poison()
	b2 := r.flush()
	f(b2, x1, x2)
	r.durable(b2)
	x3 := poison()
	for _, late := range []*Batch{b1, b2, b1} {
		if err := r.a.Release(late); err != nil {
			t.Fatal(err)
		}
	}
	b3 := r.flush()
	f(b3, x3)
	if b3.Offsets[0] != x3.Offset {
		t.Fatalf("offsets %v, want partition 0 up to %d", b3.Offsets, x3.Offset)
	}
	r.durable(b3)
	f(r.flush())
	r.check(x1, x2, x3)
}
