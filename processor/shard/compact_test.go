package shard

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/unpair/unpair/processor/engine"
	"github.com/unpair/unpair/schema"
)

// churnWorkload is workload with content ids that keep changing (new ones
// as the stream moves on, with statement-carried skills that change too)
// beside the catalog's, and learners that come and go.
func churnWorkload(seed uint64, n, parts int) [][]Input {
	r := rand.New(rand.NewPCG(seed, 2))
	out := make([][]Input, parts)
	for i := range n {
		li := i/200 + r.IntN(6)
		p := li % parts
		ev := schema.Evidence{ID: schema.UUID{byte(i), byte(i >> 8), byte(i >> 16), 0xcc}, Learner: fmt.Sprintf("%032x", li),
			Kind: schema.KindAttempt, Time: (t0 + int64(i)*60_000) * 1e6, HasSuccess: true, Success: r.IntN(4) > 0}
		if r.IntN(3) == 0 {
			ev.Content = fmt.Sprintf("q/%d", r.IntN(50))
		} else {
			ev.Content = fmt.Sprintf("n/%d", i/40+r.IntN(10))
			ev.Skills = []string{fmt.Sprintf("t/%d", i/300+r.IntN(3))}
		}
		switch r.IntN(20) {
		case 0:
			ev.Kind, ev.HasSuccess, ev.HasProgress, ev.Progress = schema.KindProgress, false, true, r.Float64()
		case 1:
			ev.Kind, ev.HasSuccess, ev.HasScore, ev.Scaled = schema.KindRating, false, true, 0.25
		}
		out[p] = append(out[p], Input{Evidence: ev, Source: engine.Source{Partition: int32(p), Offset: int64(len(out[p]))}})
	}
	return out
}

// outputStore keeps what a run wrote: states, the latest decision per
// pair, every event by id.
type outputStore struct {
	store
	mu        sync.Mutex
	decisions map[string]string
	evs       map[string]string
}

func (s *outputStore) write(b *Batch) {
	s.store.write(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range b.Learners {
		for _, d := range c.Decisions {
			s.decisions[c.Learner+" "+d.Content] = fmt.Sprintf("%+v", d)
		}
		for _, ev := range c.Events {
			s.evs[ev.ID] = fmt.Sprintf("%+v", ev)
		}
	}
}

// The shard compacts its engine's tables between batches; with evictions,
// reloads and churning ids, every learner's stored state, every decision
// written and every event equal those of a never-compacting aggregator
// and of a clean pass.
func TestCompactionKeepsShardOutputs(t *testing.T) {
	w := churnWorkload(5, 6000, 3)
	want := cleanPass(t, w)
	run := func(floor int) (*outputStore, Stats) {
		st := &outputStore{store: store{states: map[string][]byte{}, events: map[string]int{}},
			decisions: map[string]string{}, evs: map[string]string{}}
		a := newAgg(t, Config{Shards: 2, MemoryBudget: 60_000, Loader: st.load, compactFloor: floor})
		submitAll(t, a, w, 25, func(round int) {
			b, err := a.Flush(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			st.write(b)
			if round%7 != 3 { // sometimes the write "fails": released with a later flush
				a.Release(b)
			}
		})
		b, err := a.Flush(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		st.write(b)
		a.Release(b)
		return st, a.Stats()
	}
	never, nst := run(1 << 40)
	got, gst := run(1)
	if gst.Compactions == 0 || nst.Compactions != 0 || gst.Evictions == 0 || gst.Loads == 0 {
		t.Fatalf("stats %+v (never compacting: %+v): want compactions, evictions and reloads", gst, nst)
	}
	if gst.Interned >= nst.Interned {
		t.Fatalf("%d entries interned with compaction, %d without: nothing dropped", gst.Interned, nst.Interned)
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if string(got.states[k]) != want[k] || string(never.states[k]) != want[k] {
			t.Fatalf("learner %s: stored state differs from a clean pass", k)
		}
	}
	for name, m := range map[string][2]map[string]string{"decision": {got.decisions, never.decisions}, "event": {got.evs, never.evs}} {
		if len(m[0]) != len(m[1]) {
			t.Fatalf("%d %ss written with compaction, %d without", len(m[0]), name, len(m[1]))
		}
		for k, v := range m[1] {
			if m[0][k] != v {
				t.Fatalf("%s %s: %s with compaction, %s without", name, k, m[0][k], v)
			}
		}
	}
	t.Logf("%d compactions; %d entries interned at the end, %d without compaction", gst.Compactions, gst.Interned, nst.Interned)
}

// A stream of a million distinct content ids over a few learners at a
// time, evicted under a memory budget, keeps the intern tables bounded by
// max(2x the ids the held learners reference, the default floor), plus the
// statements between two checks. (Under -race, 300,000 ids: still over
// four times the floor.)
func TestInternTablesStayBounded(t *testing.T) {
	n, batch := 1_000_000, 1000
	if raceEnabled {
		n = 300_000
	}
	st := &store{states: map[string][]byte{}, events: map[string]int{}}
	a := newAgg(t, Config{Shards: 1, MemoryBudget: 1 << 20, Loader: st.load})
	ctx := context.Background()
	in := make([]Input, 0, batch)
	maxInterned := int64(0)
	for i := range n {
		li := i / 2000 // a learner is active for 2,000 statements, then gone
		ev := schema.Evidence{ID: schema.UUID{byte(i), byte(i >> 8), byte(i >> 16), 0xdd}, Learner: fmt.Sprintf("L%d", li),
			Content: fmt.Sprintf("n/%d", i), Kind: schema.KindAttempt, Time: (t0 + int64(i)*1000) * 1e6,
			HasSuccess: true, Success: i%3 > 0}
		in = append(in, Input{Evidence: ev, Source: engine.Source{Partition: 0, Offset: int64(i)}})
		if len(in) < batch {
			continue
		}
		if err := a.Submit(ctx, in); err != nil {
			t.Fatal(err)
		}
		in = in[:0]
		if (i+1)%(10*batch) == 0 {
			b, err := a.Flush(ctx)
			if err != nil {
				t.Fatal(err)
			}
			st.mu.Lock()
			clear(st.states) // learners before li are gone for good: the store forgets them (the test's memory)
			for _, c := range b.Learners {
				if c.Learner == fmt.Sprintf("L%d", li) {
					st.states[c.Learner] = c.State
				}
			}
			clear(st.events)
			st.mu.Unlock()
			if err := a.Release(b); err != nil {
				t.Fatal(err)
			}
			maxInterned = max(maxInterned, a.Stats().Interned)
		}
	}
	s := a.Stats()
	bound := int64(2*engine.DefaultCompactFloor + 2*batch + 10*batch)
	t.Logf("%d compactions; intern table entries at most %d, %d at the end (bound %d); %d learners held, %d evictions", s.Compactions, maxInterned, s.Interned, bound, s.Learners, s.Evictions)
	if s.Compactions < uint64(n/(2*engine.DefaultCompactFloor)) || maxInterned > bound || s.Interned > bound {
		t.Fatalf("intern tables not bounded: %d compactions, at most %d entries, %d at the end, bound %d", s.Compactions, maxInterned, s.Interned, bound)
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("heap in use after the stream: %d MB", ms.HeapInuse>>20)
}

// A panic inside a compaction (a bug) costs a rebuild of every held
// learner, not their state: the stored states equal a clean pass.
func TestPanicInCompactionRebuildsLearners(t *testing.T) {
	w := churnWorkload(6, 3000, 2)
	want := cleanPass(t, w)
	st := &store{states: map[string][]byte{}, events: map[string]int{}}
	var once sync.Once
	a := newAgg(t, Config{Shards: 1, MemoryBudget: 60_000, Loader: st.load, compactFloor: 1,
		opHook: func(o op, _ string) {
			if o == opCompact {
				once.Do(func() { panic("injected in compaction") })
			}
		}})
	submitAll(t, a, w, 25, func(round int) {
		b, err := a.Flush(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		st.write(b)
		a.Release(b)
	})
	b, err := a.Flush(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st.write(b)
	a.Release(b)
	s := a.Stats()
	if s.Panics != 1 || s.Rebuilds == 0 || s.Compactions == 0 || len(b.Failed) != 0 {
		t.Fatalf("stats %+v, failed %v: want one panic, rebuilds, later compactions, no failed input", s, b.Failed)
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if string(st.states[k]) != want[k] {
			t.Fatalf("learner %s: stored state differs from a clean pass after a panic in compaction", k)
		}
	}
}
