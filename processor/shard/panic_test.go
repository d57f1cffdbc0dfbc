package shard

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/engine"
	"github.com/unpair/unpair/schema"
)

// panicRig is an aggregator over a store, with inputs made by hand for a
// few learners on partition 0.
type panicRig struct {
	t   *testing.T
	a   *Aggregator
	st  *store
	ctx context.Context
	all []Input // every input submitted, in order, for the clean pass
	id  uint32
	off int64
}

func newPanicRig(t *testing.T, cfg Config) *panicRig {
	t.Helper()
	r := &panicRig{t: t, st: &store{states: map[string][]byte{}, events: map[string]int{}}, ctx: context.Background()}
	cfg.Loader = r.st.load
	r.a = newAgg(t, cfg)
	return r
}

// in makes the next input of a learner: answers on q/0..q/4, mostly
// correct, one second apart.
func (r *panicRig) in(learner string) Input {
	r.id++
	r.off++
	ev := schema.Evidence{ID: schema.UUID{byte(r.id), byte(r.id >> 8), 0x5a}, Learner: learner,
		Content: fmt.Sprintf("q/%d", r.id%5), Kind: schema.KindAttempt, HasSuccess: true, Success: r.id%4 != 0,
		Time: (t0 + r.off*1000) * 1e6}
	return Input{Evidence: ev, Source: engine.Source{Partition: 0, Offset: r.off}}
}

// submit hands inputs to the aggregator and remembers them.
func (r *panicRig) submit(in ...Input) {
	r.t.Helper()
	r.all = append(r.all, in...)
	if err := r.a.Submit(r.ctx, in); err != nil {
		r.t.Fatal(err)
	}
}

func (r *panicRig) flush() *Batch {
	r.t.Helper()
	b, err := r.a.Flush(r.ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

// durable writes a batch and releases it, as the pipeline does.
func (r *panicRig) durable(b *Batch) {
	r.t.Helper()
	r.st.write(b)
	if err := r.a.Release(b); err != nil {
		r.t.Fatal(err)
	}
}

// check compares every learner's stored state and decisions with a clean
// pass over the inputs submitted, without the failed ones.
func (r *panicRig) check(failed ...engine.Source) {
	r.t.Helper()
	var w []Input
	for _, in := range r.all {
		if !slices.Contains(failed, in.Source) {
			w = append(w, in)
		}
	}
	want := cleanPass(r.t, [][]Input{w})
	e, err := engine.New(testEngineConfig(), testCatalog(r.t))
	if err != nil {
		r.t.Fatal(err)
	}
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	for k, v := range want {
		got := r.st.states[k]
		if string(got) == v {
			continue
		}
		gl, err1 := e.LoadLearner(k, got)
		wl, err2 := e.LoadLearner(k, []byte(v))
		if err1 != nil || err2 != nil {
			r.t.Fatalf("learner %s: stored state differs from a clean pass without %v (%v, %v)", k, failed, err1, err2)
		}
		r.t.Fatalf("learner %s: stored state differs from a clean pass without %v:\nstored decisions %+v\nclean decisions  %+v",
			k, failed, gl.Decisions(nil), wl.Decisions(nil))
	}
}

// sourceSet is a set of input positions the test goroutine fills while
// the shards read it.
type sourceSet struct {
	mu sync.Mutex
	m  map[engine.Source]bool
}

// hook is an apply hook that panics ("injected failure") on the inputs
// of the set.
func (p *sourceSet) hook(in *Input) {
	if p.has(in.Source) {
		panic("injected failure")
	}
}

func (p *sourceSet) add(s engine.Source) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[engine.Source]bool{}
	}
	p.m[s] = true
}

func (p *sourceSet) has(s engine.Source) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[s]
}

// failedSources lists a batch's failures, checking that each names the
// learner and the panic.
func failedSources(t *testing.T, b *Batch, learner, panicText string) []engine.Source {
	t.Helper()
	var out []engine.Source
	for _, f := range b.Failed {
		if f.Learner != learner || !strings.Contains(f.Panic, panicText) {
			t.Fatalf("failure %+v: want learner %s, panic %q", f, learner, panicText)
		}
		out = append(out, f.Source)
	}
	return out
}

// TestPanicKeepsUnreleasedStatements: a learner with released and
// unreleased statements, then a poison input, then more statements: only
// the poison input is lost (reported in Batch.Failed); the learner's state
// and decisions equal a clean pass without it, and the other learners are
// untouched. Before the redo log, the learner's unreleased statements
// were dropped with it while their offsets were committed.
func TestPanicKeepsUnreleasedStatements(t *testing.T) {
	const bad = "bad-learner"
	var poison engine.Source
	var poisoned sourceSet
	cfg := Config{Shards: 2}
	cfg.applyHook = poisoned.hook
	r := newPanicRig(t, cfg)
	r.submit(r.in(bad), r.in("good-1"))
	r.durable(r.flush())
	r.submit(r.in(bad), r.in("good-1"), r.in(bad), r.in(bad))
	x := r.in(bad)
	poison = x.Source
	poisoned.add(poison)
	r.submit(x, r.in("good-2"), r.in(bad))
	r.submit(r.in(bad), r.in("good-1"))
	b := r.flush()
	if got := failedSources(t, b, bad, "injected failure"); !slices.Equal(got, []engine.Source{poison}) {
		t.Fatalf("failed %v, want only the poison input %v", got, poison)
	}
	if !b.Failed[0].Unreleased {
		t.Fatalf("failure %+v: the learner held unreleased statements", b.Failed[0])
	}
	r.durable(b)
	r.check(poison)
	st := r.a.Stats()
	if st.Panics != 1 || st.Rebuilds != 1 || st.Replays != 3 || st.Redo != 0 {
		t.Fatalf("stats %+v: want 1 panic, 1 rebuild re-applying the 3 unreleased statements, an empty redo log after release", st)
	}
	// The learner lives on: more statements, applied once.
	r.submit(r.in(bad), r.in(bad))
	b = r.flush()
	if len(b.Failed) != 0 {
		t.Fatalf("failures handed out again after release: %+v", b.Failed)
	}
	r.durable(b)
	r.check(poison)
}

// TestPanicBetweenFlushAndRelease: the panic comes while the batch holding
// the learner's last statements is being written: the rebuild's reload
// reads the store before the write (pre) or after it (post). Either way
// the final state is the clean pass without the poison input.
func TestPanicBetweenFlushAndRelease(t *testing.T) {
	for _, post := range []bool{false, true} {
		t.Run(fmt.Sprintf("store-after-write=%v", post), func(t *testing.T) {
			const bad = "bad-learner"
			var poison engine.Source
			var poisoned sourceSet
			cfg := Config{Shards: 2}
			cfg.applyHook = poisoned.hook
			r := newPanicRig(t, cfg)
			r.submit(r.in(bad), r.in("good-1"))
			r.durable(r.flush())
			r.submit(r.in(bad), r.in(bad), r.in("good-1"))
			inFlight := r.flush() // being written when the panic comes
			if post {
				r.st.write(inFlight)
			}
			before := r.in(bad)
			x := r.in(bad)
			poison = x.Source
			poisoned.add(poison)
			r.submit(before, x, r.in(bad))
			_ = r.flush() // a barrier: the panic and the rebuild are done (this batch is never written)
			if !post {
				r.st.write(inFlight) // the write lands after the reload read the store
			}
			if err := r.a.Release(inFlight); err != nil {
				t.Fatal(err)
			}
			// The release reaches the rebuilt learner: the entries it made
			// durable leave the redo log, the two applied since stay.
			if st := r.a.Stats(); st.Redo != 2 {
				t.Fatalf("%d redo entries held after the release, want 2", st.Redo)
			}
			b := r.flush()
			if got := failedSources(t, b, bad, "injected failure"); !slices.Equal(got, []engine.Source{poison}) {
				t.Fatalf("failed %v, want only the poison input %v", got, poison)
			}
			r.durable(b)
			r.check(poison)
			if st := r.a.Stats(); st.Redo != 0 {
				t.Fatalf("%d redo entries held after everything was released", st.Redo)
			}
		})
	}
}

// TestPanicInReplayDropsThatEntryToo: a statement that applied fine the
// first time but panics when re-applied over the reloaded state is dropped
// and reported as well; the rebuild does not loop.
func TestPanicInReplayDropsThatEntryToo(t *testing.T) {
	const bad = "bad-learner"
	var poison, fragile engine.Source
	var poisoned, fragiles sourceSet
	var mu sync.Mutex
	seen := 0
	cfg := Config{Shards: 1}
	cfg.applyHook = func(in *Input) {
		if poisoned.has(in.Source) {
			panic("injected failure")
		}
		if fragiles.has(in.Source) {
			mu.Lock()
			seen++
			n := seen
			mu.Unlock()
			if n > 1 {
				panic("injected failure on re-apply")
			}
		}
	}
	r := newPanicRig(t, cfg)
	r.submit(r.in(bad))
	r.durable(r.flush())
	in2 := r.in(bad)
	y := r.in(bad)
	fragile = y.Source
	fragiles.add(fragile)
	in4 := r.in(bad)
	x := r.in(bad)
	poison = x.Source
	poisoned.add(poison)
	r.submit(in2, y, in4, x, r.in(bad))
	b := r.flush()
	got := failedSources(t, b, bad, "injected failure")
	if !slices.Equal(got, []engine.Source{poison, fragile}) {
		t.Fatalf("failed %v, want the poison input then the one whose re-apply panicked", got)
	}
	r.durable(b)
	r.check(poison, fragile)
	if st := r.a.Stats(); st.Panics != 2 {
		t.Fatalf("stats %+v: want 2 panics", st)
	}
}

// TestPanicInFlushRecovered: a panic while collecting a learner at Flush
// (engine Changes or AppendBinary) is recovered: the learner is rebuilt
// and, when the panic does not recur, handed out in the same batch with
// the right state. When it recurs, its unreleased inputs are reported
// failed (their offsets are committed with the batch) and the other
// learners are unaffected; the process never dies.
func TestPanicInFlushRecovered(t *testing.T) {
	for _, always := range []bool{false, true} {
		t.Run(fmt.Sprintf("recurs=%v", always), func(t *testing.T) {
			const bad = "bad-learner"
			var mu sync.Mutex
			armed := false
			cfg := Config{Shards: 2}
			cfg.opHook = func(o op, learner string) {
				mu.Lock()
				defer mu.Unlock()
				if o == opFlush && learner == bad && armed {
					armed = always
					panic("injected flush failure")
				}
			}
			arm := func() { mu.Lock(); armed = true; mu.Unlock() }
			r := newPanicRig(t, cfg)
			r.submit(r.in(bad), r.in("good-1"))
			r.durable(r.flush())
			r.submit(r.in(bad), r.in("good-1"), r.in(bad))
			unreleased := []engine.Source{r.all[2].Source, r.all[4].Source}
			arm()
			b := r.flush()
			learners := map[string]bool{}
			for _, c := range b.Learners {
				learners[c.Learner] = true
			}
			if !learners["good-1"] {
				t.Fatalf("batch learners %v: the other learner is missing", learners)
			}
			if !always {
				if len(b.Failed) != 0 || !learners[bad] {
					t.Fatalf("batch learners %v failed %+v: want the rebuilt learner, no failure", learners, b.Failed)
				}
				r.durable(b)
				r.check()
				r.submit(r.in(bad))
				r.durable(r.flush())
				r.check()
			} else {
				got := failedSources(t, b, bad, "injected flush failure")
				if learners[bad] || !slices.Equal(got, unreleased) {
					t.Fatalf("batch learners %v failed %v: want the learner left out and its unreleased inputs %v failed", learners, got, unreleased)
				}
				r.durable(b)
				r.check(unreleased...)
			}
			if st := r.a.Stats(); st.Panics == 0 || st.Rebuilds != 1 {
				t.Fatalf("stats %+v: want the panics counted and 1 rebuild", st)
			}
		})
	}
}

// TestPanicInSweepRecovered: a panic in the review sweep of one learner
// is recovered; the learner is rebuilt with its unreleased statements and
// the next sweep does its work. A sweep's effect is itself in the redo
// log: a later poison input keeps it.
func TestPanicInSweepRecovered(t *testing.T) {
	const bad = "bad-learner"
	var mu sync.Mutex
	sweepPanics := 1
	var poison engine.Source
	var poisoned sourceSet
	cfg := Config{Shards: 2}
	cfg.opHook = func(o op, learner string) {
		mu.Lock()
		defer mu.Unlock()
		if o == opSweep && learner == bad && sweepPanics > 0 {
			sweepPanics--
			panic("injected sweep failure")
		}
	}
	cfg.applyHook = poisoned.hook
	r := newPanicRig(t, cfg)
	// Three correct answers on one item: suppressed until a review date.
	answer := func() Input {
		in := r.in(bad)
		in.Evidence.Content, in.Evidence.Success = "q/1", true
		return in
	}
	r.submit(answer())
	r.durable(r.flush())
	r.submit(answer(), answer(), r.in("good-1"))
	now := time.UnixMilli(t0 + 60*24*3600*1000)
	if err := r.a.Sweep(r.ctx, now); err != nil {
		t.Fatal(err)
	}
	if st := r.a.Stats(); st.Panics != 1 || st.Rebuilds != 1 {
		t.Fatalf("stats %+v: want the sweep's panic recovered and the learner rebuilt", st)
	}
	if err := r.a.Sweep(r.ctx, now); err != nil {
		t.Fatal(err)
	}
	x := r.in(bad)
	poison = x.Source
	poisoned.add(poison)
	r.submit(x, r.in(bad))
	b := r.flush()
	if got := failedSources(t, b, bad, "injected failure"); !slices.Equal(got, []engine.Source{poison}) {
		t.Fatalf("failed %v, want only %v", got, poison)
	}
	var reviewDue bool
	for _, c := range b.Learners {
		for _, ev := range c.Events {
			reviewDue = reviewDue || c.Learner == bad && ev.Decision.Reason == decision.ReviewDue
		}
	}
	if !reviewDue {
		t.Fatalf("no review_due event for %s after the second sweep (and the rebuild after the poison input)", bad)
	}
	r.durable(b)

	// The reference: the same statements, one sweep between them.
	e, err := engine.New(testEngineConfig(), testCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	l := e.NewLearner(bad)
	for i, in := range r.all {
		if i == len(r.all)-2 { // the sweep came before the poison input
			e.Due(l, now.UnixMilli())
		}
		if in.Evidence.Learner != bad || in.Source == poison {
			continue
		}
		e.Apply(l, &in.Evidence, in.Source)
	}
	want, _ := l.MarshalBinary()
	if got := r.st.states[bad]; string(got) != string(want) {
		gl, err := e.LoadLearner(bad, got)
		if err != nil {
			t.Fatal(err)
		}
		t.Fatalf("state after a recovered sweep panic, a sweep and a poison input differs from the clean pass:\nstored %+v\nclean  %+v",
			gl.Decisions(nil), l.Decisions(nil))
	}
}

// TestPanicInOverrideAndReleaseRecovered: an override that panics is
// reported to its caller and leaves the learner rebuilt with its
// unreleased statements; a panic while releasing (engine Clean) rebuilds
// the learner too. Nothing is lost, the process lives.
func TestPanicInOverrideAndReleaseRecovered(t *testing.T) {
	const bad = "bad-learner"
	var mu sync.Mutex
	fire := map[op]int{opOverride: 1, opRelease: 1}
	cfg := Config{Shards: 2}
	cfg.opHook = func(o op, learner string) {
		mu.Lock()
		defer mu.Unlock()
		if learner == bad && fire[o] > 0 {
			fire[o]--
			panic("injected " + opNames[o] + " failure")
		}
	}
	r := newPanicRig(t, cfg)
	r.submit(r.in(bad), r.in(bad))
	err := r.a.Override(r.ctx, bad, "q/3", true, 0, t0)
	if err == nil || !strings.Contains(err.Error(), "injected override failure") {
		t.Fatalf("override: %v, want the recovered panic", err)
	}
	b := r.flush()
	r.st.write(b)
	if err := r.a.Release(b); err != nil { // Clean panics: the learner is rebuilt
		t.Fatal(err)
	}
	r.check()
	r.submit(r.in(bad))
	r.durable(r.flush())
	r.check()
	if st := r.a.Stats(); st.Panics != 2 || st.Rebuilds != 2 || st.Redo != 0 {
		t.Fatalf("stats %+v: want 2 panics, 2 rebuilds, nothing left to redo", st)
	}
}

// TestRandomPanicsEqualCleanPass: a mixed workload over many learners and
// partitions with random poison inputs, flushes whose writes land late
// (after later inputs were applied), and failed writes retried: the
// stored states equal a clean pass without exactly the inputs reported
// failed, which are the poison inputs.
func TestRandomPanicsEqualCleanPass(t *testing.T) {
	w := workload(11, 60, 30, 3)
	rng := rand.New(rand.NewPCG(5, 5))
	poison := map[engine.Source]bool{}
	for p := range w {
		for i := range w[p] {
			if rng.IntN(40) == 0 {
				poison[w[p][i].Source] = true
			}
		}
	}
	cfg := Config{Shards: 3, QueueDepth: 2}
	cfg.applyHook = func(in *Input) {
		if poison[in.Source] {
			panic("poison")
		}
	}
	st := &store{states: map[string][]byte{}, events: map[string]int{}}
	cfg.Loader = st.load
	a := newAgg(t, cfg)
	ctx := context.Background()
	failed := map[engine.Source]bool{}
	var pending *Batch // flushed, its write in flight
	submitAll(t, a, w, 7, func(round int) {
		if pending != nil && rng.IntN(2) == 0 {
			st.write(pending) // the in-flight write lands
			a.Release(pending)
			for _, f := range pending.Failed {
				failed[f.Source] = true
			}
			pending = nil
		}
		if pending == nil && rng.IntN(3) == 0 {
			b, err := a.Flush(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pending = b
		}
	})
	for range 2 {
		if pending != nil {
			st.write(pending)
			a.Release(pending)
			for _, f := range pending.Failed {
				failed[f.Source] = true
			}
		}
		b, err := a.Flush(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pending = b
	}
	if len(failed) != len(poison) {
		t.Fatalf("%d inputs failed, %d poisoned", len(failed), len(poison))
	}
	for s := range failed {
		if !poison[s] {
			t.Fatalf("input %v failed but was not poisoned", s)
		}
	}
	var clean [][]Input
	for _, part := range w {
		var keep []Input
		for _, in := range part {
			if !poison[in.Source] {
				keep = append(keep, in)
			}
		}
		clean = append(clean, keep)
	}
	for k, v := range cleanPass(t, clean) {
		if string(st.states[k]) != v {
			t.Fatalf("learner %s: state differs from a clean pass without the %d poisoned inputs", k, len(poison))
		}
	}
	if s := a.Stats(); s.Panics != uint64(len(poison)) || s.Redo != 0 {
		t.Fatalf("stats %+v: want %d panics and an empty redo log", s, len(poison))
	}
}

// TestPanicInControlMessageIsAnError: a panic that escapes the
// per-learner recovery (here a Drop predicate's) is recovered per
// message: the caller gets an error naming the shard and the panic, and
// the shards keep working.
func TestPanicInControlMessageIsAnError(t *testing.T) {
	r := newPanicRig(t, Config{Shards: 2})
	r.submit(r.in("a"), r.in("b"))
	err := r.a.Drop(r.ctx, func(string, int32) bool { panic("predicate bug") })
	if err == nil || !strings.Contains(err.Error(), "panic in drop: predicate bug") {
		t.Fatalf("Drop with a panicking predicate: %v", err)
	}
	r.submit(r.in("a"))
	r.durable(r.flush())
	r.check()
	if st := r.a.Stats(); st.Panics == 0 {
		t.Fatalf("stats %+v: the panics are not counted", st)
	}
}

// TestPanicInLoader: a loader that panics on a learner's first touch costs
// that input; one that panics when a rebuild reloads the learner makes its
// unreleased inputs failures too (their offsets are committed with the
// batch: dead-lettered, not lost in silence). The shard lives on.
func TestPanicInLoader(t *testing.T) {
	const bad = "bad-learner"
	var mu sync.Mutex
	loads := 0
	var poisoned sourceSet
	st := &store{states: map[string][]byte{}, events: map[string]int{}}
	cfg := Config{Shards: 2, Loader: func(ctx context.Context, key string) ([]byte, error) {
		if key == bad {
			mu.Lock()
			loads++
			n := loads
			mu.Unlock()
			if n == 1 || n == 3 { // the first touch, and the reload of the rebuild
				panic("loader bug")
			}
		}
		return st.load(ctx, key)
	}}
	cfg.applyHook = poisoned.hook
	r := &panicRig{t: t, st: st, ctx: context.Background(), a: newAgg(t, cfg)}
	first := r.in(bad)
	r.submit(first, r.in("good-1")) // first touch panics in the loader
	b := r.flush()
	if got := failedSources(t, b, bad, "loader bug"); !slices.Equal(got, []engine.Source{first.Source}) {
		t.Fatalf("failed %v, want the first input %v", got, first.Source)
	}
	r.durable(b)
	kept := []Input{r.in(bad), r.in(bad)}
	x := r.in(bad)
	poisoned.add(x.Source)
	r.submit(kept[0], kept[1], x, r.in("good-1"))
	b = r.flush()
	var got []engine.Source
	for _, f := range b.Failed {
		if f.Learner != bad {
			t.Fatalf("failure %+v of another learner", f)
		}
		got = append(got, f.Source)
	}
	want := []engine.Source{x.Source, kept[0].Source, kept[1].Source}
	if !slices.Equal(got, want) || !strings.Contains(b.Failed[1].Panic, "loader bug") {
		t.Fatalf("failed %+v, want the poison input, then the unreleased inputs the reload could not carry", b.Failed)
	}
	r.durable(b)
	r.check(first.Source, x.Source, kept[0].Source, kept[1].Source)
	r.submit(r.in(bad)) // the learner loads again
	r.durable(r.flush())
	r.check(first.Source, x.Source, kept[0].Source, kept[1].Source)
}
