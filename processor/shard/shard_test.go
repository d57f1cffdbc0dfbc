package shard

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/engine"
	"github.com/unpair/unpair/processor/mastery"
	"github.com/unpair/unpair/schema"
)

const t0 = int64(1_760_000_000_000)

func testCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	p := mastery.BKT{L0: 0.827, T: 0.180, F: 0.0127, G: 0.266, S: 0.148}
	var items []catalog.Item
	for i := range 50 {
		items = append(items, catalog.Item{Content: fmt.Sprintf("q/%d", i), Skills: []string{fmt.Sprintf("s%d", i%7)}})
	}
	var skills []catalog.Skill
	for i := range 7 {
		skills = append(skills, catalog.Skill{ID: fmt.Sprintf("s%d", i), BKT: &p})
	}
	s, err := catalog.New(catalog.Defaults{}, skills, items)
	if err != nil {
		t.Fatal(err)
	}
	return catalog.NewCatalog(s)
}

// workload is a per-partition sequence of inputs; learner i lives on
// partition i%parts, as the re-keyed topic would have it.
func workload(seed uint64, learners, perLearner, parts int) [][]Input {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([][]Input, parts)
	var id uint64
	for n := 0; n < learners*perLearner; n++ {
		li := r.IntN(learners)
		p := li % parts
		id++
		var u schema.UUID
		for k := range 8 {
			u[k] = byte(id >> (8 * k))
		}
		ev := schema.Evidence{ID: u, Learner: fmt.Sprintf("%032x", li), Content: fmt.Sprintf("q/%d", r.IntN(60)),
			Kind: schema.KindAttempt, Time: (t0 + int64(n)*1000) * 1e6, HasSuccess: true, Success: r.IntN(4) > 0}
		switch r.IntN(30) {
		case 0:
			ev.Kind, ev.HasSuccess, ev.HasScore, ev.Scaled = schema.KindRating, false, true, 0.25
		case 1:
			ev.Kind, ev.HasSuccess = schema.KindLaunch, false
		case 2:
			ev.Kind, ev.HasSuccess, ev.HasProgress, ev.Progress, ev.Duration = schema.KindProgress, false, true, r.Float64(), int64(r.IntN(600))*1e9
		}
		out[p] = append(out[p], Input{Evidence: ev, Source: engine.Source{Partition: int32(p), Offset: int64(len(out[p]))}})
	}
	return out
}

// cleanPass applies the workload with one engine, learner by learner.
func cleanPass(t *testing.T, w [][]Input) map[string]string {
	t.Helper()
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
	out := map[string]string{}
	for k, l := range ls {
		b, _ := l.MarshalBinary()
		out[k] = string(b)
	}
	return out
}

// testEngineConfig is the default policy with BKT deciding mastery: the
// test catalog has fitted BKT parameters and no item difficulties.
func testEngineConfig() engine.Config {
	c := engine.DefaultConfig()
	c.Model = engine.ModelBKT
	return c
}

func newAgg(t *testing.T, cfg Config) *Aggregator {
	t.Helper()
	a, err := New(testEngineConfig(), testCatalog(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// store is what the pipeline would keep in Redis.
type store struct {
	mu     sync.Mutex
	states map[string][]byte
	events map[string]int
	fail   int // loader calls left to fail
}

func (s *store) load(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail > 0 {
		s.fail--
		return nil, errors.New("store unavailable")
	}
	return s.states[key], nil
}

func (s *store) write(b *Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range b.Learners {
		s.states[c.Learner] = c.State
		for _, ev := range c.Events {
			s.events[ev.ID]++
		}
	}
}

func submitAll(t *testing.T, a *Aggregator, w [][]Input, batch int, every func(round int)) {
	t.Helper()
	ctx := context.Background()
	pos := make([]int, len(w))
	for round := 0; ; round++ {
		done := true
		for p := range w { // interleave partitions, batch inputs per partition
			if pos[p] >= len(w[p]) {
				continue
			}
			done = false
			end := min(pos[p]+batch, len(w[p]))
			if err := a.Submit(ctx, w[p][pos[p]:end]); err != nil {
				t.Fatal(err)
			}
			pos[p] = end
		}
		if done {
			return
		}
		if every != nil {
			every(round)
		}
	}
}

func TestShardedEqualsCleanPass(t *testing.T) {
	w := workload(1, 200, 20, 4)
	want := cleanPass(t, w)
	for _, shards := range []int{1, 3, 8} {
		a := newAgg(t, Config{Shards: shards, QueueDepth: 2})
		st := &store{states: map[string][]byte{}, events: map[string]int{}}
		submitAll(t, a, w, 37, func(round int) {
			if round%5 == 0 {
				b, err := a.Flush(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				st.write(b)
				if round%10 == 0 { // every other batch is "written" but released later: retried
					return
				}
				a.Release(b)
			}
		})
		b, err := a.Flush(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		st.write(b)
		a.Release(b)
		for k, v := range want {
			if string(st.states[k]) != v {
				t.Fatalf("%d shards: learner %s state differs from a clean pass", shards, k)
			}
		}
		for p, part := range w {
			if got := b.Offsets[int32(p)]; got != int64(len(part)-1) {
				t.Fatalf("%d shards: offset of partition %d = %d, want %d", shards, p, got, len(part)-1)
			}
		}
		if b2, _ := a.Flush(context.Background()); len(b2.Learners) != 0 {
			t.Fatalf("%d shards: %d learners dirty after release", shards, len(b2.Learners))
		}
		if s := a.Stats(); s.Processed != uint64(200*20) || s.Learners != 200 || a.PairsInMemory() == 0 {
			t.Fatalf("%d shards: stats %+v", shards, s)
		}
	}
}

func TestFlushUntilRelease(t *testing.T) {
	a := newAgg(t, Config{Shards: 2})
	ctx := context.Background()
	var in []Input
	for i := range 3 {
		ev := schema.Evidence{ID: schema.UUID{byte(i + 1)}, Learner: "k1", Content: "q/1", Kind: schema.KindAttempt,
			Time: (t0 + int64(i)) * 1e6, HasSuccess: true, Success: true}
		in = append(in, Input{Evidence: ev, Source: engine.Source{Partition: 0, Offset: int64(i)}})
	}
	a.Submit(ctx, in)
	b1, _ := a.Flush(ctx)
	if len(b1.Learners) != 1 || len(b1.Learners[0].Events) != 1 || b1.Learners[0].Events[0].Kind != decision.EventSuppressed {
		t.Fatalf("first flush: %+v", b1.Learners)
	}
	b2, _ := a.Flush(ctx) // the write of b1 failed: the changes come again
	if len(b2.Learners) != 1 || len(b2.Learners[0].Events) != 1 || len(b2.Learners[0].Decisions) != 1 {
		t.Fatalf("flush without release: %+v", b2.Learners)
	}
	if err := a.Release(b2); err != nil {
		t.Fatal(err)
	}
	if b3, _ := a.Flush(ctx); len(b3.Learners) != 0 {
		t.Fatalf("flush after release: %+v", b3.Learners)
	}
	if err := a.Sweep(ctx, time.UnixMilli(t0+30*24*3600*1000)); err != nil {
		t.Fatal(err)
	}
	b4, _ := a.Flush(ctx)
	if len(b4.Learners) != 1 || len(b4.Learners[0].Events) != 1 || b4.Learners[0].Events[0].Decision.Reason != decision.ReviewDue {
		t.Fatalf("flush after sweep: %+v", b4.Learners)
	}
}

func TestEvictReloadEqualsCleanPass(t *testing.T) {
	w := workload(2, 300, 15, 3)
	want := cleanPass(t, w)
	st := &store{states: map[string][]byte{}, events: map[string]int{}, fail: 3}
	a := newAgg(t, Config{Shards: 2, MemoryBudget: 40_000, Loader: st.load})
	submitAll(t, a, w, 20, func(round int) {
		b, err := a.Flush(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		st.write(b)
		a.Release(b)
	})
	b, _ := a.Flush(context.Background())
	st.write(b)
	a.Release(b)
	s := a.Stats()
	if s.Evictions == 0 || s.Loads == 0 || s.LoadErrors != 3 {
		t.Fatalf("stats %+v: want evictions, reloads and 3 retried load errors", s)
	}
	for k, v := range want {
		if string(st.states[k]) != v {
			t.Fatalf("learner %s: state after evictions and reloads differs from a clean pass", k)
		}
	}
}

func TestDropPartitions(t *testing.T) {
	w := workload(3, 40, 10, 4)
	a := newAgg(t, Config{Shards: 3})
	submitAll(t, a, w, 50, nil)
	if _, err := a.Flush(context.Background()); err != nil { // barrier: everything applied
		t.Fatal(err)
	}
	before := a.Stats()
	if err := a.DropPartitions(context.Background(), []int32{1, 2}); err != nil {
		t.Fatal(err)
	}
	b, _ := a.Flush(context.Background())
	for _, c := range b.Learners {
		if c.Partition == 1 || c.Partition == 2 {
			t.Fatalf("learner %s of a revoked partition still held", c.Learner)
		}
	}
	if _, ok := b.Offsets[1]; ok {
		t.Fatal("offsets of revoked partition 1 still reported")
	}
	if _, ok := b.Offsets[0]; !ok {
		t.Fatal("offsets of kept partition 0 lost")
	}
	after := a.Stats()
	if after.Learners != 20 || before.Learners != 40 || after.Pairs >= before.Pairs || int64(a.PairsInMemory()) != after.Pairs {
		t.Fatalf("learners %d -> %d, pairs %d -> %d", before.Learners, after.Learners, before.Pairs, after.Pairs)
	}
}

func TestSubmitBlocksAndHonoursContext(t *testing.T) {
	release := make(chan struct{})
	a := newAgg(t, Config{Shards: 1, QueueDepth: 1, Loader: func(ctx context.Context, _ string) ([]byte, error) {
		<-release // a stalled store stalls the shard
		return nil, nil
	}})
	in := []Input{{Evidence: schema.Evidence{Learner: "k", Content: "q/1", Kind: schema.KindAttempt, HasSuccess: true}}}
	a.Submit(context.Background(), in) // taken by the shard, which stalls in the loader
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var err error
	for err == nil { // fill the queue until Submit blocks and the deadline hits
		err = a.Submit(ctx, in)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Submit on a full queue: %v", err)
	}
	if a.QueueDepth(0) != 1 {
		t.Fatalf("queue depth %d, want 1", a.QueueDepth(0))
	}
	close(release)
	if _, err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}
