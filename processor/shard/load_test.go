package shard

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unpair/unpair/processor/engine"
	"github.com/unpair/unpair/schema"
)

// A stored state written by a newer release is neither corrupt nor
// replaced: the shard retries the load (stalling, backpressure) and counts
// it, and the learner keeps its history once a readable state is served.
func TestNewerStateStallsInsteadOfStartingNew(t *testing.T) {
	e, err := engine.New(testEngineConfig(), testCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	const key = "learner-newer"
	l := e.NewLearner(key)
	for i := range 3 {
		ev := schema.Evidence{ID: schema.UUID{byte(i + 1)}, Learner: key, Content: "q/1", Kind: schema.KindAttempt,
			Time: (t0 + int64(i)*1000) * 1e6, HasSuccess: true, Success: true}
		e.Apply(l, &ev, engine.Source{Partition: 0, Offset: int64(i)})
	}
	stored, _ := l.MarshalBinary()
	newer := append([]byte(nil), stored...)
	newer[2]++ // the format version byte: one above what this code reads
	var readable atomic.Bool
	a := newAgg(t, Config{Shards: 1, Loader: func(context.Context, string) ([]byte, error) {
		if readable.Load() {
			return stored, nil
		}
		return newer, nil
	}})
	ev := schema.Evidence{ID: schema.UUID{9}, Learner: key, Content: "q/1", Kind: schema.KindAttempt,
		Time: (t0 + 10_000) * 1e6, HasSuccess: true, Success: true}
	if err := a.Submit(context.Background(), []Input{{Evidence: ev, Source: engine.Source{Partition: 0, Offset: 3}}}); err != nil {
		t.Fatal(err)
	}
	poll := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting until %s (stats %+v)", what, a.Stats())
			}
			runtime.Gosched()
		}
	}
	poll("the newer state is retried", func() bool { return a.Stats().NewerStates >= 2 })
	if st := a.Stats(); st.CorruptStates != 0 || st.Learners != 0 || st.Processed != 0 || st.LoadErrors != 0 {
		t.Fatalf("newer state: %+v, want no corrupt count, no learner started, nothing processed", st)
	}
	readable.Store(true) // the learner's newer owner is gone; its state is readable again
	b, err := a.Flush(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Learners) != 1 || len(b.Learners[0].Decisions) == 0 {
		t.Fatalf("flush: %+v", b.Learners)
	}
	if got := b.Learners[0].Decisions[0].Evidence.Attempts; got != 4 {
		t.Fatalf("attempts %d after the stall, want 4 (3 stored + 1): the history was lost", got)
	}
	if st := a.Stats(); st.Loads != 1 || st.CorruptStates != 0 {
		t.Fatalf("stats %+v", st)
	}
}
