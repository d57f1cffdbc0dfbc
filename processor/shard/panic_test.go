package shard

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/unpair/unpair/processor/engine"
	"github.com/unpair/unpair/schema"
)

// TestPanicInOneInputIsRecovered: a panic while applying one input (here
// injected through the test hook) costs that input only: the process
// lives, the other inputs and learners are applied, the failure is counted
// and handed out with every Flush until released, and the learner is
// dropped and reloaded from the store on its next input.
func TestPanicInOneInputIsRecovered(t *testing.T) {
	var mu sync.Mutex
	stored := map[string][]byte{}
	loads := map[string]int{}
	loader := func(_ context.Context, key string) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		loads[key]++
		return stored[key], nil
	}
	const bad = "bad-learner"
	cfg := Config{Shards: 2, Loader: loader}
	cfg.applyHook = func(in *Input) {
		if in.Evidence.Learner == bad && in.Source.Offset == 3 {
			panic("injected failure")
		}
	}
	agg, err := New(testEngineConfig(), testCatalog(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer agg.Close()
	ctx := context.Background()
	var id byte
	in := func(learner string, off int64) Input {
		id++
		return Input{Evidence: schema.Evidence{ID: schema.UUID{id, 0xaa}, Learner: learner, Content: "q/1", Kind: schema.KindAttempt,
			HasSuccess: true, Success: true, Time: (t0 + off*1000) * 1e6}, Source: engine.Source{Partition: 0, Offset: off}}
	}
	// Offset 1: the bad learner's first statement, made durable.
	if err := agg.Submit(ctx, []Input{in(bad, 1)}); err != nil {
		t.Fatal(err)
	}
	b, err := agg.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range b.Learners {
		stored[c.Learner] = c.State
	}
	if err := agg.Release(b); err != nil {
		t.Fatal(err)
	}
	// Offsets 2-5: an unreleased statement of the bad learner, then the
	// panicking one, with other learners before and after.
	if err := agg.Submit(ctx, []Input{in(bad, 2), in("good-1", 2), in(bad, 3), in("good-2", 4), in("good-1", 5)}); err != nil {
		t.Fatal(err)
	}
	f := func(b *Batch, want int) {
		t.Helper()
		if len(b.Failed) != want {
			t.Fatalf("batch fails %+v, want %d failure(s)", b.Failed, want)
		}
		if want == 0 {
			return
		}
		fl := b.Failed[0]
		if fl.Learner != bad || fl.Source != (engine.Source{Partition: 0, Offset: 3}) || !strings.Contains(fl.Panic, "injected failure") || !fl.Unreleased {
			t.Fatalf("failure %+v, want learner %s at partition 0 offset 3, the panic value, unreleased changes dropped", fl, bad)
		}
	}
	b1, err := agg.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f(b1, 1)
	if st := agg.Stats(); st.Panics != 1 || st.Processed != 5 {
		t.Fatalf("stats %+v: want 1 panic and 5 processed (offsets 1, 2 and the good learners' 3)", st)
	}
	got := map[string]bool{}
	for _, c := range b1.Learners {
		got[c.Learner] = true
	}
	if !got["good-1"] || !got["good-2"] || got[bad] || b1.Offsets[0] != 5 {
		t.Fatalf("batch learners %v offsets %v: want the good learners, not the dropped one, offset 5", got, b1.Offsets)
	}
	b2, err := agg.Flush(ctx) // not released: the failure comes again
	if err != nil {
		t.Fatal(err)
	}
	f(b2, 1)
	if err := agg.Release(b2); err != nil {
		t.Fatal(err)
	}
	// The bad learner's next statement reloads it from the store.
	if err := agg.Submit(ctx, []Input{in(bad, 6)}); err != nil {
		t.Fatal(err)
	}
	b3, err := agg.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f(b3, 0)
	mu.Lock()
	n := loads[bad]
	mu.Unlock()
	if n != 2 {
		t.Fatalf("bad learner loaded %d times, want 2 (first touch, then after the panic)", n)
	}
	var state []byte
	for _, c := range b3.Learners {
		if c.Learner == bad {
			state = c.State
		}
	}
	e, err := engine.New(testEngineConfig(), testCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	l, err := e.LoadLearner(bad, state)
	if err != nil {
		t.Fatalf("bad learner's new state: %v", err)
	}
	if d, _ := l.Decision("q/1"); d.Evidence.Attempts != 2 {
		t.Fatalf("bad learner has %d attempts on q/1, want 2 (offset 1 from the store, offset 6; offset 2 was dropped with it)", d.Evidence.Attempts)
	}
}
