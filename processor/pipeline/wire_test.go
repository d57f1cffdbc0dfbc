package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/engine"
	"github.com/unpair/unpair/processor/shard"
	"github.com/unpair/unpair/processor/simulate"
	"github.com/unpair/unpair/processor/store"
	"github.com/unpair/unpair/schema"
)

func TestSchemaDecoderRejections(t *testing.T) {
	d := SchemaDecoder{D: schema.NewDecoder(schema.Options{})}
	msgs, _, _, err := simulate.Cohort(func() simulate.Config {
		c := simulate.DefaultConfig()
		c.Learners, c.Sessions = 2, 2
		return c
	}())
	if err != nil {
		t.Fatal(err)
	}
	var good []byte
	for _, m := range msgs {
		if m.Defect == "" && !m.Duplicate {
			good = m.Value
			break
		}
	}
	evs, err := d.Decode(nil, good, time.Unix(0, 0))
	if err != nil || len(evs) != 1 {
		t.Fatalf("valid statement: %d evidence, %v", len(evs), err)
	}
	_, err = d.Decode(nil, []byte(`{"actor":{},"verb":{"id":"nope"}}`), time.Unix(0, 0))
	var rej Rejection
	if !errors.As(err, &rej) {
		t.Fatalf("invalid statement: error %T %v is not a Rejection", err, err)
	}
	if rej.Code() == "" || len(rej.Lines()) < 2 {
		t.Errorf("rejection code %q with %d lines, want a reason and every violation", rej.Code(), len(rej.Lines()))
	}
	arr := []byte("[" + string(good) + `,{"actor":{}}]`)
	evs, err = d.Decode(nil, arr, time.Unix(0, 0))
	if err == nil || len(evs) != 0 {
		t.Fatalf("array with a bad statement: %d evidence, %v; want a rejection and none", len(evs), err)
	}
	if !errors.As(err, &rej) || !strings.HasPrefix(rej.Lines()[0], "[1] ") {
		t.Errorf("array rejection lines %q, want them prefixed with the statement index", rej.Lines())
	}
	if _, err := d.Decode(nil, []byte("not json"), time.Unix(0, 0)); err == nil {
		t.Error("not JSON: no error")
	}
}

// TestAdaptersRoundTrip runs real statements through ShardAggregator and
// RedisStore (over miniredis) and reads the state back as the loader would.
func TestAdaptersRoundTrip(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	st, err := store.New(rdb, store.Options{Prefix: "rt"})
	if err != nil {
		t.Fatal(err)
	}
	agg, err := shard.New(engine.DefaultConfig(), catalog.NewCatalog(nil), shard.Config{Shards: 2, Loader: st.LoadState})
	if err != nil {
		t.Fatal(err)
	}
	defer agg.Close()
	a, s := ShardAggregator{A: agg}, RedisStore{S: st, RDB: rdb}
	dec := SchemaDecoder{D: schema.NewDecoder(schema.Options{})}
	c := simulate.DefaultConfig()
	c.Learners, c.Sessions = 5, 20
	msgs, _, _, err := simulate.Cohort(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var in []Input
	for i, m := range msgs {
		evs, err := dec.Decode(nil, m.Value, m.Time)
		if err != nil {
			continue
		}
		in = append(in, Input{Evidence: evs[0], Source: Source{Partition: 0, Offset: int64(i)}})
	}
	if err := a.Submit(ctx, in); err != nil {
		t.Fatal(err)
	}
	b, err := a.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Learners) == 0 || len(b.Events) == 0 {
		t.Fatalf("flush: %d learners, %d events; want some of each", len(b.Learners), len(b.Events))
	}
	if err := s.WriteBatch(ctx, b.Learners); err != nil {
		t.Fatal(err)
	}
	a.Release(b)
	for _, w := range b.Learners {
		got, err := st.LoadState(ctx, w.Learner)
		if err != nil || string(got) != string(w.State) {
			t.Fatalf("learner %s: stored state differs (%v)", w.Learner, err)
		}
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("ping: %v", err)
	}
	// the same statements again are skipped, not applied twice
	before := a.Skipped()
	if err := a.Submit(ctx, in); err != nil {
		t.Fatal(err)
	}
	b2, err := a.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Skipped() - before; got != uint64(len(in)) {
		t.Errorf("resubmitted %d statements, %d skipped", len(in), got)
	}
	if len(b2.Events) != 0 {
		t.Errorf("resubmission produced %d events", len(b2.Events))
	}
	a.Release(b2)
}

// applyOnce runs evidence through a fresh ShardAggregator with the given
// sources and returns the final decisions per learner and content, and how
// many statements were skipped.
func applyOnce(t *testing.T, in []Input) (map[string]string, uint64) {
	t.Helper()
	agg, err := shard.New(engine.DefaultConfig(), catalog.NewCatalog(nil), shard.Config{Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer agg.Close()
	a := ShardAggregator{A: agg}
	ctx := context.Background()
	if err := a.Submit(ctx, in); err != nil {
		t.Fatal(err)
	}
	b, err := a.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, w := range b.Learners {
		for _, d := range w.Decisions {
			got[w.Learner+" "+d.Content] = js(d)
		}
	}
	return got, a.Skipped()
}

// A re-key batch produced twice (a retry after a partial failure, a crash
// before the input commit) lands again at new by-learner offsets, far
// behind the first copies; the statements of one JSON-array message share
// one offset. Both must be applied exactly once.
func TestReKeyedCopiesAndArrayStatementsApplyOnce(t *testing.T) {
	c := simulate.DefaultConfig()
	c.Learners, c.Sessions = 2, 40
	c.DuplicateShare, c.InvalidShare, c.VoidShare = 0, 0, 0
	msgs, _, _, err := simulate.Cohort(c)
	if err != nil {
		t.Fatal(err)
	}
	dec := SchemaDecoder{D: schema.NewDecoder(schema.Options{})}
	var evs []schema.Evidence
	for _, m := range msgs {
		got, err := dec.Decode(nil, m.Value, m.Time)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, got...)
	}
	if len(evs) < 60 {
		t.Fatalf("cohort too small: %d statements", len(evs))
	}

	// the reference: one statement per message, each once
	var clean []Input
	for i, ev := range evs {
		clean = append(clean, Input{Evidence: ev, Source: Source{Partition: 0, Offset: int64(i)}})
	}
	want, skipped := applyOnce(t, clean)
	if skipped != 0 || len(want) == 0 {
		t.Fatalf("clean pass: %d skipped, %d decisions", skipped, len(want))
	}

	// rekey on: every statement re-keyed twice, the second copies after all
	// the first ones
	var twice []Input
	for round := range 2 {
		for i, ev := range evs {
			twice = append(twice, Input{Evidence: ev, Source: Source{Partition: 0, Offset: int64(round*len(evs) + i),
				Origin: Origin{Partition: 3, Offset: int64(100 + i/4), Index: int32(i % 4), Valid: true}}})
		}
	}
	got, skipped := applyOnce(t, twice)
	if skipped != uint64(len(evs)) {
		t.Errorf("rekey on, every statement twice: %d skipped, want %d", skipped, len(evs))
	}
	if js(got) != js(want) {
		t.Errorf("rekey on, every statement twice: decisions differ from one clean pass")
	}

	// rekey off: arrays of 5 statements per message, then the same messages
	// replayed (a restart before the commit)
	var arrays []Input
	for range 2 {
		for i, ev := range evs {
			arrays = append(arrays, Input{Evidence: ev, Source: Source{Partition: 0, Offset: int64(i / 5), Index: int32(i % 5)}})
		}
	}
	got, skipped = applyOnce(t, arrays)
	if skipped != uint64(len(evs)) {
		t.Errorf("rekey off, array messages replayed once: %d skipped, want %d", skipped, len(evs))
	}
	if js(got) != js(want) {
		t.Errorf("rekey off, array messages: decisions differ from one clean pass")
	}
}

// The aggregator's cumulative counts become counters by their growth, and
// what it holds becomes gauges.
func TestObserveExportsAggregatorStats(t *testing.T) {
	agg, err := shard.New(engine.DefaultConfig(), catalog.NewCatalog(nil), shard.Config{Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer agg.Close()
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	a := ShardAggregator{A: agg}
	a.Observe(m)
	ev := schema.Evidence{ID: schema.UUID{1}, Learner: "0123456789abcdef0123456789abcdef", Content: "q/1", Kind: schema.KindAttempt,
		Time: 1.7e18, HasSuccess: true, Success: true}
	if err := a.Submit(context.Background(), []Input{{Evidence: ev, Source: Source{Partition: 0, Offset: 1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.Observe(m)
	if got := testutilCounter(m.AggregatorHeld.WithLabelValues("learners")); got != 1 {
		t.Errorf("learners held = %v, want 1", got)
	}
	if got := testutilCounter(m.AggregatorHeld.WithLabelValues("redo_entries")); got != 1 {
		t.Errorf("redo entries = %v, want 1 (applied, not released)", got)
	}
	m.addAggregatorCounts(map[string]uint64{AggEventPanic: 3})
	m.addAggregatorCounts(map[string]uint64{AggEventPanic: 5})
	if got := testutilCounter(m.AggregatorEvents.WithLabelValues(AggEventPanic)); got != 5 {
		t.Errorf("panic events = %v, want 5 (growth added once)", got)
	}
}
