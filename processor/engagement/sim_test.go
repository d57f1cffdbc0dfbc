package engagement

import (
	"context"
	"maps"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/schema"
)

// The harness below plays the part of the engine and the pipeline for one
// partition, the way docs/engagement.md asks them to behave: learner state
// guarded by the offset of its last statement, each flush writes the
// engagement batch first, then the learner states, then commits the offset.
// Crashes at chosen flushes throw away everything in memory and restart
// from the committed offset, like a new owner after a rebalance.

type crash int

const (
	noCrash           crash = iota
	crashBeforeWrite        // the batch is lost before reaching Redis
	crashAfterBatch         // engagement written, learner states not, offset not committed
	crashAfterLearner       // engagement and learner states written, offset not committed
	retryWrite              // go-redis retries the batch (written twice), no crash
)

type learnerState struct {
	offset int64 // offset of the last statement applied
	pairs  map[string]Pair
}

func (s learnerState) clone() learnerState {
	return learnerState{offset: s.offset, pairs: maps.Clone(s.pairs)}
}

type partitionSim struct {
	t         testing.TB
	w         *Writer
	rule      Rule
	partition int32
	durable   map[string]learnerState // learner states "in Redis"
	committed int64                   // Kafka committed offset; -1: none
	// master, when set, decides whether a pair is marked mastered after a statement.
	master func(p *Pair) bool
}

func newPartitionSim(t testing.TB, w *Writer, rule Rule, partition int32) *partitionSim {
	return &partitionSim{t: t, w: w, rule: rule, partition: partition, durable: map[string]learnerState{}, committed: -1}
}

// run consumes events (offset = index) flushing every flushEvery statements,
// crashing as crashes says at the given flush numbers (1-based, counted over
// the whole run, restarts included). After each restart the flush interval
// changes, so replayed batches end at other offsets than the lost ones: a
// replayed batch then mixes statements already stored with new ones.
func (s *partitionSim) run(events []schema.Evidence, flushEvery int, crashes map[int]crash) {
	ctx := context.Background()
	flushes, restarts := 0, 0
restart:
	every := int64(flushEvery + 13*restarts)
	restarts++
	sinceFlush := int64(0)
	base, err := s.w.Offset(ctx, s.partition)
	if err != nil {
		s.t.Fatal(err)
	}
	agg := NewAggregator(s.partition, base, s.rule)
	live := map[string]learnerState{}
	dirty := map[string]bool{}
	for pos := s.committed + 1; pos < int64(len(events)); pos++ {
		ev := &events[pos]
		st, ok := live[ev.Learner]
		if !ok {
			st = s.durable[ev.Learner].clone()
			if st.pairs == nil {
				st = learnerState{offset: -1, pairs: map[string]Pair{}}
			}
		}
		if pos > st.offset { // the engine's own offset guard
			before := st.pairs[ev.Content]
			after := before
			after.Apply(ev)
			if s.master != nil {
				if s.master(&after) {
					after.SetMastered(ev.Time)
				} else {
					after.ClearMastered()
				}
			}
			agg.Apply(ev, &before, &after, pos)
			st.pairs[ev.Content] = after
			st.offset = pos
			dirty[ev.Learner] = true
		}
		live[ev.Learner] = st
		if sinceFlush++; sinceFlush < every && pos != int64(len(events))-1 {
			continue
		}
		sinceFlush = 0
		flushes++
		b := agg.Flush(pos)
		c := crashes[flushes]
		if c == crashBeforeWrite {
			goto restart
		}
		if _, err := s.w.Write(ctx, b); err != nil {
			s.t.Fatal(err)
		}
		if c == retryWrite {
			if applied, err := s.w.Write(ctx, b); err != nil || applied {
				s.t.Fatalf("retried write: applied=%v err=%v, want a no-op", applied, err)
			}
		}
		if c == crashAfterBatch {
			goto restart
		}
		for l := range dirty {
			s.durable[l] = live[l].clone()
		}
		clear(dirty)
		if c == crashAfterLearner {
			goto restart
		}
		s.committed = pos
	}
}

func newMiniredis(t testing.TB) (*miniredis.Miniredis, redis.UniversalClient) {
	t.Helper()
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	return m, c
}
