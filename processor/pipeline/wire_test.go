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
