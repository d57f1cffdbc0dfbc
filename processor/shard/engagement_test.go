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

// TestSkillsThroughShards: the skill states the shards hand out, applied
// flush after flush (latest wins, as the skills hash keeps them), equal
// the final states of one engine's clean pass; and one Change's Skills
// window cannot be appended into the next one's.
func TestSkillsThroughShards(t *testing.T) {
	w := workload(5, 120, 20, 3)
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
	want := map[string]engine.SkillState{}
	for k, l := range ls {
		var ch engine.Changes
		l.Changes(&ch)
		for _, s := range ch.Skills {
			want[k+" "+s.Name] = s
		}
	}
	if len(want) == 0 {
		t.Fatal("the clean pass published no skills")
	}

	for _, shards := range []int{1, 4} {
		a := newAgg(t, Config{Shards: shards, QueueDepth: 2})
		got := map[string]engine.SkillState{}
		handedOut := 0
		take := func() {
			b, err := a.Flush(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range b.Learners {
				if len(c.Skills) > 0 && i+1 < len(b.Learners) && len(b.Learners[i+1].Skills) > 0 {
					next := b.Learners[i+1].Skills[0]
					_ = append(c.Skills, engine.SkillState{Name: "overwrite"})
					if b.Learners[i+1].Skills[0] != next {
						t.Fatalf("appending to learner %s's skills overwrote the next learner's", c.Learner)
					}
				}
				for _, s := range c.Skills {
					got[c.Learner+" "+s.Name] = s
					handedOut++
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
		if len(got) != len(want) {
			t.Fatalf("%d shards: %d learner-skills handed out, want %d", shards, len(got), len(want))
		}
		for k, s := range want {
			if got[k] != s {
				t.Fatalf("%d shards: skill %s = %+v, want %+v", shards, k, got[k], s)
			}
		}
		if handedOut <= len(want) {
			t.Fatalf("%d shards: %d skill states handed out over many flushes, want more than the %d final ones", shards, handedOut, len(want))
		}
	}
}
