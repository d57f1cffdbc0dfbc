package shard

import (
	"context"
	"fmt"
	"testing"

	"github.com/unpair/unpair/processor/engagement"
	"github.com/unpair/unpair/processor/engine"
)

// TestEngagementThroughShards: the engagement changes and pairs the shards
// hand out, fed to one aggregator per partition flush after flush, give the
// figures and pairs of one engine's clean pass.
func TestEngagementThroughShards(t *testing.T) {
	w := workload(3, 150, 20, 3)
	rule := engagement.DefaultRule()
	figures := func(aggs []*engagement.Aggregator) string {
		out := ""
		for _, a := range aggs {
			b := a.Flush(0)
			out += fmt.Sprintf("partition %d:\n", b.Partition)
			for _, c := range b.Cells {
				out += fmt.Sprintf("  %s %s %v\n", c.Day, c.Content, c.Delta)
			}
		}
		return out
	}
	newAggs := func() []*engagement.Aggregator {
		aggs := make([]*engagement.Aggregator, len(w))
		for p := range aggs {
			aggs[p] = engagement.NewAggregator(int32(p), -1, rule)
		}
		return aggs
	}
	feed := func(aggs []*engagement.Aggregator, chs []engine.EngagementChange) {
		for i := range chs {
			chs[i].Feed(aggs[chs[i].Source.Partition])
		}
	}

	// One engine, one pass.
	e, err := engine.New(testEngineConfig(), testCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	ls := map[string]*engine.Learner{}
	for _, part := range w {
		for i := range part {
			k := part[i].Evidence.Learner
			if ls[k] == nil {
				ls[k] = e.NewLearner(k)
			}
			e.Apply(ls[k], &part[i].Evidence, part[i].Source)
		}
	}
	clean := newAggs()
	wantPairs := map[string]engine.PairEngagement{}
	for k, l := range ls {
		var ch engine.Changes
		l.Changes(&ch)
		feed(clean, ch.EngagementChanges)
		for _, pe := range ch.Engagement {
			wantPairs[k+" "+pe.Content] = pe
		}
	}
	want := figures(clean)

	for _, shards := range []int{1, 4} {
		a := newAgg(t, Config{Shards: shards, QueueDepth: 2})
		aggs := newAggs()
		gotPairs := map[string]engine.PairEngagement{}
		take := func() {
			b, err := a.Flush(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range b.Learners {
				feed(aggs, c.EngagementChanges)
				for _, pe := range c.Engagement {
					gotPairs[c.Learner+" "+pe.Content] = pe
				}
			}
			a.Release(b)
		}
		submitAll(t, a, w, 29, func(round int) {
			if round%3 == 0 {
				take()
			}
		})
		take()
		if got := figures(aggs); got != want {
			t.Fatalf("%d shards: figures differ from a clean pass:\n%s\nwant\n%s", shards, got, want)
		}
		if len(gotPairs) != len(wantPairs) {
			t.Fatalf("%d shards: %d pairs handed out, want %d", shards, len(gotPairs), len(wantPairs))
		}
		for k, pe := range wantPairs {
			if gotPairs[k] != pe {
				t.Fatalf("%d shards: pair %s = %+v, want %+v", shards, k, gotPairs[k], pe)
			}
		}
	}
}
