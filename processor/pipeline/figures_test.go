package pipeline

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/engagement"
	"github.com/unpair/unpair/processor/shard"
	"github.com/unpair/unpair/processor/store"
)

// addEngagement records a flushed learner's engagement in the oracle: its
// pairs as the :e hash holds them, and its changes in the per-content
// figures of their partitions (fresh aggregators: one clean pass).
func (o *oracle) addEngagement(figs map[int32]*engagement.Aggregator, c *shard.Change) {
	if len(c.Engagement) > 0 && o.engagement[c.Learner] == nil {
		o.engagement[c.Learner] = map[string]string{}
	}
	for i := range c.Engagement {
		pe := &c.Engagement[i]
		o.engagement[c.Learner][pe.Content] = store.EngagementField(pe.Content, &pe.Pair, pe.BarelyTouched).Value
	}
	for i := range c.EngagementChanges {
		ch := &c.EngagementChanges[i]
		a := figs[ch.Source.Partition]
		if a == nil {
			a = engagement.NewAggregator(ch.Source.Partition, -1, engagement.DefaultRule())
			figs[ch.Source.Partition] = a
		}
		ch.Feed(a)
	}
}

// checkEngagement compares every learner's engagement hash and every
// partition's per-content daily figures in Redis with the oracle's, then the
// per-content figures a reader sums over all partitions (starts,
// completions, unique learners, ...) for the last 30 days.
func (r *rig) checkEngagement(o *oracle) {
	t := r.t
	t.Helper()
	ctx := context.Background()
	sc, err := store.NewSchema(r.cfg.RedisPrefix)
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for learner, want := range o.engagement {
		got, err := r.rdb.HGetAll(ctx, sc.Keys(learner).Engagement).Result()
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, want) {
			bad++
			if bad <= 3 {
				t.Errorf("learner %s: engagement hash differs from the clean pass:\n got %v\nwant %v", learner, got, want)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d learners' engagement differs from the clean pass", bad, len(o.engagement))
	}

	keys := engagement.Keys{Prefix: r.cfg.RedisPrefix}
	cells, contents := 0, map[string]bool{}
	for p, b := range o.figures {
		want := map[string]string{} // day/content -> stored value
		for _, c := range b.Cells {
			vals := make([]string, len(c.Delta))
			for i, v := range c.Delta {
				vals[i] = strconv.FormatInt(v, 10)
			}
			want[c.Day.String()+" "+c.Content] = strings.Join(vals, ",")
			contents[c.Content] = true
		}
		got := map[string]string{}
		prefix := keys.Day(p, 0)
		prefix = prefix[:strings.LastIndexByte(prefix, ':')+1]
		iter := r.rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			k := iter.Val()
			h, err := r.rdb.HGetAll(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			for content, v := range h {
				got[strings.TrimPrefix(k, prefix)+" "+content] = v
			}
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
		cells += len(want)
		if !maps.Equal(got, want) {
			n := 0
			for _, k := range slices.Sorted(maps.Keys(want)) {
				if got[k] != want[k] && n < 5 {
					n++
					t.Errorf("partition %d %s: figures %q, clean pass %q", p, k, got[k], want[k])
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok && n < 5 {
					n++
					t.Errorf("partition %d %s: figures %q the clean pass does not have", p, k, got[k])
				}
			}
			t.Errorf("partition %d: per-content figures differ from the clean pass (%d cells stored, %d expected)", p, len(got), len(want))
		}
	}
	if len(contents) == 0 {
		t.Fatal("the clean pass has no per-content figures: the comparison would prove nothing")
	}

	// What readers see: the oracle's figures written to a scratch Redis and
	// read back the same way.
	mr := miniredis.RunT(t)
	scratch := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer scratch.Close()
	w := engagement.NewWriter(scratch, engagement.WithKeys(keys))
	for _, b := range o.figures {
		b.Offset = 0
		if _, err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	ids := slices.Sorted(maps.Keys(contents))
	now := time.Now()
	gotF, err := engagement.NewReader(r.rdb, engagement.DefaultRule(), keys).Figures(ctx, ids, 30, now)
	if err != nil {
		t.Fatal(err)
	}
	wantF, err := engagement.NewReader(scratch, engagement.DefaultRule(), keys).Figures(ctx, ids, 30, now)
	if err != nil {
		t.Fatal(err)
	}
	var starts, completions, learners int64
	for i := range ids {
		g, w := gotF[i], wantF[i]
		if g.Starts != w.Starts || g.Completions != w.Completions || g.UniqueLearners != w.UniqueLearners ||
			g.Attempts != w.Attempts || g.Mastered != w.Mastered {
			t.Errorf("content %s: starts/completions/learners/attempts/mastered %d/%d/%d/%d/%d, clean pass %d/%d/%d/%d/%d", ids[i],
				g.Starts, g.Completions, g.UniqueLearners, g.Attempts, g.Mastered, w.Starts, w.Completions, w.UniqueLearners, w.Attempts, w.Mastered)
		}
		starts, completions, learners = starts+w.Starts, completions+w.Completions, learners+w.UniqueLearners
	}
	t.Logf("engagement: %d learners' pairs, %d content-day cells over %d partitions; %d contents: %d starts, %d completions, %d learner-content pairs active",
		len(o.engagement), cells, len(o.figures), len(ids), starts, completions, learners)
}

// TestBarelyTouchedEventsEqualCleanPass processes a cohort, then sweeps
// the processor at a fixed time: the barely_touched (and review_due) events
// on the decisions topic, the learners' states and engagement and the
// per-content figures equal a clean pass swept at the same time.
func TestBarelyTouchedEventsEqualCleanPass(t *testing.T) {
	r := newRig(t, 2)
	msgs := cohort(t, 40, 200, 17)
	r.produce(msgs)
	in := r.start(testLogger(t))
	r.waitDone(90 * time.Second)
	sweepAt := time.Now().Truncate(time.Second)
	by := r.readAll(r.cfg.ByLearnerTopic)
	o := runOracleWith(t, by, false, sweepAt)
	barely := 0
	for _, e := range o.events {
		if e.Kind == decision.EventBarelyTouched {
			barely++
		}
	}
	if barely == 0 {
		t.Fatal("the clean pass reports no pair barely touched: the cohort tests nothing")
	}
	if err := in.b.Shards.Sweep(context.Background(), sweepAt); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 30*time.Second, fmt.Sprintf("%d barely_touched events on the decisions topic", barely), func() bool {
		n := map[string]bool{}
		for _, ms := range r.readAll(r.cfg.DecisionTopic) {
			for _, m := range ms {
				if strings.Contains(string(m.Value), `"kind":"barely_touched"`) {
					id, _ := Header(m, HeaderEventID)
					n[id] = true
				}
			}
		}
		return len(n) >= barely
	})
	in.stop(t)
	r.checkRedis(o)
	r.checkDecisionTopic(o)
	r.checkEngagement(o)
	t.Logf("%d barely_touched events", barely)
}
