package engagement

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/testenv"
	"github.com/unpair/unpair/schema"
)

// dump returns every key of the engagement figures with its content, HLLs
// as their count, so two stores can be compared.
func dump(t *testing.T, c redis.UniversalClient) map[string]string {
	t.Helper()
	return dumpPrefix(t, c, "unpair")
}

func dumpPrefix(t *testing.T, c redis.UniversalClient, prefix string) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := c.Keys(ctx, prefix+":v1:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		switch typ := c.Type(ctx, k).Val(); {
		case typ == "hash":
			m := c.HGetAll(ctx, k).Val()
			fs := make([]string, 0, len(m))
			for f, v := range m {
				fs = append(fs, f+"="+v)
			}
			slices.Sort(fs)
			out[k] = strings.Join(fs, " ")
		case typ == "set":
			m := c.SMembers(ctx, k).Val()
			slices.Sort(m)
			out[k] = strings.Join(m, " ")
		default:
			out[k] = c.Get(ctx, k).Val()
		}
	}
	return out
}

// randomEvents makes a partition's worth of statements of every kind over
// a few days, some out of time order.
func randomEvents(rng *rand.Rand, n int) []schema.Evidence {
	kinds := []schema.Kind{schema.KindLaunch, schema.KindAttempt, schema.KindCompletion, schema.KindProgress,
		schema.KindExperience, schema.KindRating, schema.KindOther, schema.KindVoid}
	evs := make([]schema.Evidence, n)
	for i := range evs {
		k := kinds[rng.IntN(len(kinds))]
		ev := schema.Evidence{
			Learner: fmt.Sprintf("%032x", rng.IntN(40)),
			Content: fmt.Sprintf("https://example.com/c/%d", rng.IntN(12)),
			Kind:    k,
			Time:    t0.Add(time.Duration(i)*17*time.Minute - time.Duration(rng.IntN(3))*time.Hour).UnixNano(),
		}
		switch k {
		case schema.KindAttempt, schema.KindCompletion:
			ev.HasSuccess, ev.Success = true, rng.IntN(2) == 0
		case schema.KindProgress:
			ev.HasProgress, ev.Progress = true, rng.Float64()
		case schema.KindRating:
			ev.HasScore, ev.Scaled = true, float64(rng.IntN(5))/4
		}
		if rng.IntN(3) == 0 {
			ev.Duration = int64(time.Duration(rng.IntN(3600)) * time.Second)
		}
		evs[i] = ev
	}
	return evs
}

// TestCrashesAndRetriesMatchOneCleanPass: a partition replayed with lost
// batches, crashes between the engagement write and the learner write,
// crashes before the commit and retried writes stores exactly what one
// clean pass stores.
func TestCrashesAndRetriesMatchOneCleanPass(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	events := randomEvents(rng, 1500)
	master := func(p *Pair) bool { return p.Completions >= 2 }
	rule := DefaultRule()

	_, clean := newMiniredis(t)
	cs := newPartitionSim(t, NewWriter(clean), rule, 3)
	cs.master = master
	cs.run(events, 50, nil)
	want := dump(t, clean)
	if len(want) < 10 {
		t.Fatalf("clean pass stored only %d keys", len(want))
	}

	for name, crashes := range map[string]map[int]crash{
		"lost batch":           {2: crashBeforeWrite, 9: crashBeforeWrite},
		"after batch":          {3: crashAfterBatch, 4: crashAfterBatch, 20: crashAfterBatch},
		"after learners":       {5: crashAfterLearner, 6: crashAfterLearner},
		"retried writes":       {1: retryWrite, 7: retryWrite, 30: retryWrite},
		"everything":           {2: crashAfterBatch, 3: retryWrite, 4: crashAfterLearner, 8: crashBeforeWrite, 12: crashAfterBatch},
		"crash on final flush": {30: crashAfterBatch, 31: crashAfterLearner},
	} {
		t.Run(name, func(t *testing.T) {
			_, c := newMiniredis(t)
			s := newPartitionSim(t, NewWriter(c), rule, 3)
			s.master = master
			s.run(events, 50, crashes)
			got := dump(t, c)
			for k, v := range want {
				if got[k] != v {
					t.Errorf("key %s:\n got %s\nwant %s", k, got[k], v)
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("extra key %s", k)
				}
			}
		})
	}
}

// TestNaiveDeltasWouldDoubleCount shows what the guard is for: the same
// crash with an aggregator that ignores the stored offset counts twice.
func TestNaiveDeltasWouldDoubleCount(t *testing.T) {
	events := randomEvents(rand.New(rand.NewPCG(3, 4)), 300)
	_, c := newMiniredis(t)
	w := NewWriter(c)
	ctx := context.Background()
	agg := NewAggregator(0, -1, DefaultRule())
	pairs := map[[2]string]Pair{}
	for i := range events {
		ev := &events[i]
		k := [2]string{ev.Learner, ev.Content}
		before := pairs[k]
		after := before
		after.Apply(ev)
		pairs[k] = after
		agg.Apply(ev, &before, &after, int64(i))
	}
	b := agg.Flush(int64(len(events) - 1))
	if _, err := w.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	first := dump(t, c)
	// A redelivery of the same offsets through a new batch is refused...
	b2 := b
	if applied, err := w.Write(ctx, b2); err != nil || applied {
		t.Fatalf("rewrite: applied=%v err=%v", applied, err)
	}
	// ...while the same deltas under a fresh offset (what HINCRBY would do) change the figures.
	b2.Offset += 1000
	if _, err := w.Write(ctx, b2); err != nil {
		t.Fatal(err)
	}
	if second := dump(t, c); fmt.Sprint(second) == fmt.Sprint(first) {
		t.Fatal("writing the deltas again changed nothing: the comparison above proves nothing")
	}
}

func TestReaderFigures(t *testing.T) {
	m, c := newMiniredis(t)
	_ = m
	ctx := context.Background()
	rule := Rule{MinProgress: 0.5, TimeShare: 0.25, IdleDays: 3}
	w := NewWriter(c)
	now := t0.Add(10 * 24 * time.Hour)
	day0 := t0 // ten days before now
	const content = "https://example.com/course/a"
	// Two partitions, learners split between them.
	type step struct {
		part    int32
		learner string
		ev      schema.Evidence
	}
	L := func(i int) string { return fmt.Sprintf("%032x", i) }
	steps := []step{
		// l1 (p0): started on day0, progress 0.1, idle since: abandoned.
		{0, L(1), schema.Evidence{Kind: schema.KindLaunch, Time: day0.UnixNano(), Duration: int64(20 * time.Second)}},
		{0, L(1), schema.Evidence{Kind: schema.KindProgress, Time: day0.Add(time.Minute).UnixNano(), HasProgress: true, Progress: 0.1}},
		// l2 (p0): started day0, completed day0 with a rating.
		{0, L(2), schema.Evidence{Kind: schema.KindLaunch, Time: day0.UnixNano()}},
		{0, L(2), schema.Evidence{Kind: schema.KindCompletion, Time: day0.Add(time.Hour).UnixNano(), HasSuccess: true, Success: true, Duration: int64(10 * time.Minute)}},
		{0, L(2), schema.Evidence{Kind: schema.KindRating, Time: day0.Add(time.Hour).UnixNano(), HasScore: true, Scaled: 1}},
		// l3 (p1): started day0 + 1, progress 0.9, idle: not abandoned (far along).
		{1, L(3), schema.Evidence{Kind: schema.KindProgress, Time: day0.Add(24 * time.Hour).UnixNano(), HasProgress: true, Progress: 0.9}},
		// l4 (p1): started yesterday, low progress, not idle yet; rated 0.5.
		{1, L(4), schema.Evidence{Kind: schema.KindLaunch, Time: now.Add(-24 * time.Hour).UnixNano()}},
		{1, L(4), schema.Evidence{Kind: schema.KindRating, Time: now.Add(-24 * time.Hour).UnixNano(), HasScore: true, Scaled: 0.5}},
	}
	aggs := map[int32]*Aggregator{0: NewAggregator(0, -1, rule), 1: NewAggregator(1, -1, rule)}
	pairs := map[string]Pair{}
	for i, s := range steps {
		ev := s.ev
		ev.Learner, ev.Content = s.learner, content
		before := pairs[s.learner]
		after := before
		after.Apply(&ev)
		if s.learner == L(2) && ev.Kind == schema.KindCompletion {
			after.SetMastered(ev.Time)
		}
		pairs[s.learner] = after
		aggs[s.part].Apply(&ev, &before, &after, int64(i))
	}
	for p, a := range aggs {
		if _, err := w.Write(ctx, a.Flush(100)); err != nil {
			t.Fatalf("partition %d: %v", p, err)
		}
	}
	r := NewReader(c, rule, Keys{})
	got, err := r.Content(ctx, content, 30, now)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("starts", got.Starts, 4)
	check("completions", got.Completions, 1)
	check("completion rate", got.CompletionRate, 0.25)
	check("attempts", got.Attempts, 1)
	check("launches", got.Launches, 3)
	check("unique learners", got.UniqueLearners, 4)
	check("reach", got.Reach, 4)
	check("time spent", got.TimeSpentMS, (20*time.Second + 10*time.Minute).Milliseconds())
	check("idle", got.Idle, 3)
	check("abandoned", got.Abandoned, 1)
	check("abandonment rate", math.Round(got.AbandonmentRate*1000)/1000, 0.333)
	check("ratings", got.Ratings, 2)
	check("average rating", got.AverageRating, 0.75)
	check("mastered", got.Mastered, 1)
	check("mastered share", got.MasteredShare, 0.25)
	check("days", len(got.Daily), 30)
	check("day0", got.Daily[19], Daily{Date: day0.Format("2006-01-02"), Starts: 2, Completions: 1})
	check("day0+1", got.Daily[20].Starts, 1)
	check("yesterday", got.Daily[28].Starts, 1)
	// median of l1's 20 s (bucket 15-30 s) and l2's 10 min (bucket 8-16 min):
	// the middle rank (1 of 2) falls at the end of the first bucket.
	check("median time", got.MedianTimeSpentMS, (30 * time.Second).Milliseconds())

	// The window leaves out what is older: 5 days hold only l4.
	got5, err := r.Content(ctx, content, 5, now)
	if err != nil {
		t.Fatal(err)
	}
	check("5-day starts", got5.Starts, 1)
	check("5-day unique", got5.UniqueLearners, 1)

	list, err := r.BarelyTouched(ctx, Query{Days: 30, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	check("barely touched list", len(list), 1)
	ml, err := r.Mastered(ctx, Query{Days: 30, Now: now, MinBase: 5})
	if err != nil {
		t.Fatal(err)
	}
	check("mastered list with MinBase 5", len(ml), 0)
	cs, err := r.Contents(ctx, 30, now)
	if err != nil {
		t.Fatal(err)
	}
	check("contents", cs, []string{content})
	if _, err := r.Content(ctx, content, 31, now); err == nil || !strings.Contains(err.Error(), "days") {
		t.Errorf("31-day window: error %v, want one naming days", err)
	}
}

func TestHistMedian(t *testing.T) {
	f := func(counts map[int]int64, want time.Duration) {
		t.Helper()
		h := make([]int64, histBuckets)
		for i, c := range counts {
			h[i] = c
		}
		if got := histMedian(h); got != want {
			t.Errorf("histMedian(%v) = %v, want %v", counts, got, want)
		}
	}
	f(nil, 0)
	f(map[int]int64{0: 2}, 7500*time.Millisecond)      // middle of [0, 15 s)
	f(map[int]int64{2: 1, 3: 1}, 60*time.Second)       // end of [30 s, 60 s)
	f(map[int]int64{15: 9}, histBase<<(histBuckets-2)) // open-ended bucket: its lower bound
	for _, d := range []time.Duration{time.Nanosecond, 14 * time.Second, 15 * time.Second, time.Hour, 1000 * time.Hour} {
		i := histBucket(int64(d))
		lo, hi := histBounds(i)
		if d < lo || (i < histBuckets-1 && d >= hi) {
			t.Errorf("%v in bucket %d = [%v, %v)", d, i, lo, hi)
		}
	}
}

func BenchmarkAggregatorApply(b *testing.B) {
	events := randomEvents(rand.New(rand.NewPCG(5, 6)), 4096)
	agg := NewAggregator(0, -1, DefaultRule())
	pairs := map[[2]string]Pair{}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev := &events[i%len(events)]
		k := [2]string{ev.Learner, ev.Content}
		before := pairs[k]
		after := before
		after.Apply(ev)
		pairs[k] = after
		agg.Apply(ev, &before, &after, int64(i))
		if i%4096 == 4095 {
			agg.Flush(int64(i))
		}
	}
}

func BenchmarkWriterWrite(b *testing.B) {
	_, c := newMiniredis(b)
	benchWrite(b, c)
}

// BenchmarkWriterWriteRedis runs the same against the real Redis of
// UNPAIR_TEST_REDIS (its Lua engine is what production runs).
func BenchmarkWriterWriteRedis(b *testing.B) {
	c := redis.NewClient(&redis.Options{Addr: testenv.Redis(b)})
	defer c.Close()
	ctx := context.Background()
	if err := c.FlushDB(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	benchWrite(b, c)
}

// benchWrite flushes 1000 statements (12 contents, 40 learners, about 12
// days: some 150 content-day cells) per iteration.
func benchWrite(b *testing.B, c redis.UniversalClient) {
	w := NewWriter(c)
	ctx := context.Background()
	events := randomEvents(rand.New(rand.NewPCG(7, 8)), 1000)
	agg := NewAggregator(0, -1, DefaultRule())
	pairs := map[[2]string]Pair{}
	cells, n := 0, 0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		n++
		for j := range events {
			ev := &events[j]
			k := [2]string{ev.Learner, ev.Content}
			before := pairs[k]
			after := before
			after.Apply(ev)
			pairs[k] = after
			agg.Apply(ev, &before, &after, int64(i*len(events)+j))
		}
		batch := agg.Flush(int64((i + 1) * len(events)))
		cells += len(batch.Cells)
		if _, err := w.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cells)/float64(n), "cells/op")
}
