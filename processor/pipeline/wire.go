package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/client"
	"github.com/unpair/unpair/processor/engagement"
	"github.com/unpair/unpair/processor/engine"
	"github.com/unpair/unpair/processor/httpapi"
	"github.com/unpair/unpair/processor/insight"
	"github.com/unpair/unpair/processor/mastery"
	"github.com/unpair/unpair/processor/shard"
	"github.com/unpair/unpair/processor/store"
	"github.com/unpair/unpair/schema"
)

// This file adapts the real parts of unpair to the pipeline's interfaces:
// the schema decoder, the sharded aggregator over the engine, the Redis
// store, the catalog and the query API.

// SchemaDecoder adapts a schema.Decoder. A message holding an array is
// decoded statement by statement; if any is rejected, the message is
// rejected with the violations of every rejected statement ("[i] " before
// each line). Stage 1 splits arrays before decoding, so this matters only
// with rekey off.
type SchemaDecoder struct{ D *schema.Decoder }

// Decode implements Decoder.
func (s SchemaDecoder) Decode(dst []schema.Evidence, raw []byte, received time.Time) ([]schema.Evidence, error) {
	var rej *rejection
	n := len(dst)
	s.D.NormalizeAll(raw, received, func(i int, e schema.Evidence, err error) {
		if err != nil {
			if rej == nil {
				rej = &rejection{}
			}
			rej.add(i, err)
			return
		}
		dst = append(dst, e)
	})
	if rej != nil {
		return dst[:n], rej
	}
	return dst, nil
}

// rejection turns schema errors into a Rejection.
type rejection struct {
	code  string
	lines []string
	multi bool
	first error
}

func (r *rejection) add(i int, err error) {
	if r.first == nil {
		r.first = err
	} else {
		r.multi = true
	}
	prefix := ""
	if i >= 0 && (r.multi || i > 0) {
		prefix = "[" + strconv.Itoa(i) + "] "
	}
	var se *schema.Error
	if errors.As(err, &se) {
		if r.code == "" {
			r.code = string(se.Reason)
		}
		for _, v := range se.Violations {
			r.lines = append(r.lines, prefix+v.String())
		}
		if se.Omitted > 0 {
			r.lines = append(r.lines, prefix+strconv.Itoa(se.Omitted)+" more violations not shown")
		}
		if len(se.Violations) == 0 {
			r.lines = append(r.lines, prefix+string(se.Reason))
		}
		return
	}
	if r.code == "" {
		r.code = ReasonInvalid
	}
	r.lines = append(r.lines, prefix+err.Error())
}

func (r *rejection) Error() string {
	if len(r.lines) == 1 {
		return r.code + ": " + r.lines[0]
	}
	return fmt.Sprintf("%s: %s (and %d more)", r.code, r.lines[0], len(r.lines)-1)
}
func (r *rejection) Code() string    { return r.code }
func (r *rejection) Lines() []string { return r.lines }
func (r *rejection) Unwrap() error   { return r.first }

// ShardAggregator adapts a shard.Aggregator.
type ShardAggregator struct {
	A *shard.Aggregator
	// ReleaseTimeout bounds a Release (a learner rebuilt during it reloads
	// from Redis); 0 means DefaultReleaseTimeout. A release cut short
	// leaves its learners dirty: the next flush writes them again, which
	// the store's offset guards make harmless.
	ReleaseTimeout time.Duration
}

// DefaultReleaseTimeout bounds ShardAggregator.Release.
const DefaultReleaseTimeout = 10 * time.Second

// shardInputs holds the converted input slices of Submit: shard.Aggregator
// copies its input and keeps no reference to it, so one slice per call in
// flight is enough.
var shardInputs = sync.Pool{New: func() any { return new([]shard.Input) }}

// Submit implements Aggregator.
func (s ShardAggregator) Submit(ctx context.Context, in []Input) error {
	p := shardInputs.Get().(*[]shard.Input)
	out := (*p)[:0]
	for _, x := range in {
		src := engine.Source{Partition: x.Source.Partition, Index: x.Source.Index, Offset: x.Source.Offset}
		if o := x.Source.Origin; o.Valid {
			src.Origin = engine.Origin{Partition: o.Partition, Index: o.Index, Offset: o.Offset, Valid: true}
		}
		out = append(out, shard.Input{Evidence: x.Evidence, Source: src})
	}
	err := s.A.Submit(ctx, out)
	clear(out) // drop the evidence's strings for the GC
	*p = out[:0]
	shardInputs.Put(p)
	return err
}

// Flush implements Aggregator.
func (s ShardAggregator) Flush(ctx context.Context) (*Batch, error) {
	sb, err := s.A.Flush(ctx)
	if err != nil {
		return nil, err
	}
	return batchOf(sb), nil
}

// StartFlush implements FlushStarter.
func (s ShardAggregator) StartFlush(ctx context.Context) (func(context.Context) (*Batch, error), error) {
	f, err := s.A.StartFlush(ctx)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (*Batch, error) {
		sb, err := f.Wait(ctx)
		if err != nil {
			return nil, err
		}
		return batchOf(sb), nil
	}, nil
}

// batchOf converts a shard batch.
func batchOf(sb *shard.Batch) *Batch {
	b := &Batch{Learners: make([]LearnerWrite, len(sb.Learners)), Opaque: sb}
	for i := range sb.Learners {
		c := &sb.Learners[i]
		w := LearnerWrite{Learner: c.Learner, Partition: c.Partition, State: c.State, Decisions: c.Decisions,
			Offsets: make([]Source, len(c.Offsets)), Engagement: c.Engagement, Skills: c.Skills}
		for j, o := range c.Offsets {
			w.Offsets[j] = Source{Partition: o.Partition, Offset: o.Offset}
		}
		b.Learners[i] = w
		b.Events = append(b.Events, c.Events...)
		b.EngagementChanges = append(b.EngagementChanges, c.EngagementChanges...)
	}
	for _, f := range sb.Failed {
		b.Failed = append(b.Failed, Failure{Learner: f.Learner,
			Source: Source{Partition: f.Source.Partition, Index: f.Source.Index, Offset: f.Source.Offset}, Panic: f.Panic})
	}
	return b
}

// Release implements Aggregator.
func (s ShardAggregator) Release(b *Batch) {
	if sb, ok := b.Opaque.(*shard.Batch); ok {
		d := s.ReleaseTimeout
		if d <= 0 {
			d = DefaultReleaseTimeout
		}
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		// An error (closed, or cut short) leaves the learners dirty: they
		// are written again with the next flush.
		_ = s.A.ReleaseContext(ctx, sb)
	}
}

// DropPartitions implements Aggregator.
func (s ShardAggregator) DropPartitions(ctx context.Context, parts []int32) error {
	return s.A.DropPartitions(ctx, parts)
}

// Skipped implements Aggregator: duplicate statement ids and replayed
// offsets.
func (s ShardAggregator) Skipped() uint64 {
	st := s.A.Stats()
	return st.Duplicates + st.Stale
}

// Observe implements Observer: shard queue depths and pairs in memory.
func (s ShardAggregator) Observe(m *Metrics) {
	for i := 0; i < s.A.Shards(); i++ {
		m.ShardQueueDepth.WithLabelValues(strconv.Itoa(i)).Set(float64(s.A.QueueDepth(i)))
	}
	m.PairsInMemory.Set(float64(s.A.PairsInMemory()))
	st := s.A.Stats()
	m.addAggregatorCounts(map[string]uint64{
		AggEventLoadError: st.LoadErrors, AggEventCorruptState: st.CorruptStates, AggEventNewerState: st.NewerStates,
		AggEventEviction: st.Evictions, AggEventPanic: st.Panics, AggEventRebuild: st.Rebuilds, AggEventCompaction: st.Compactions,
	})
	m.AggregatorHeld.WithLabelValues("learners").Set(float64(st.Learners))
	m.AggregatorHeld.WithLabelValues("state_bytes").Set(float64(st.Bytes))
	m.AggregatorHeld.WithLabelValues("redo_entries").Set(float64(st.Redo))
	m.AggregatorHeld.WithLabelValues("interned_ids").Set(float64(st.Interned))
}

// Sweep implements Sweeper.
func (s ShardAggregator) Sweep(ctx context.Context, now time.Time) error { return s.A.Sweep(ctx, now) }

// RedisStore adapts a store.Store.
type RedisStore struct {
	S   *store.Store
	RDB redis.UniversalClient
}

// WriteBatch implements Store: each learner's write is guarded by its
// applied offset in the partition its latest evidence came from.
func (r RedisStore) WriteBatch(ctx context.Context, ws []LearnerWrite) error {
	out := make([]store.LearnerWrite, 0, len(ws))
	var buf []byte
	for i := range ws {
		part, off := guardOf(&ws[i])
		var eng []store.Field
		if n := len(ws[i].Engagement); n > 0 {
			eng = make([]store.Field, n)
			for j := range ws[i].Engagement {
				pe := &ws[i].Engagement[j]
				eng[j] = store.EngagementField(pe.Content, &pe.Pair, pe.BarelyTouched)
			}
		}
		var skills []store.Field
		if n := len(ws[i].Skills); n > 0 {
			skills = make([]store.Field, n)
			for j := range ws[i].Skills {
				sk := &ws[i].Skills[j]
				skills[j] = store.Field{Name: sk.Name, Value: string(mastery.AppendSkill(buf[:0], &sk.Skill))}
			}
		}
		// Refresh: a write after a sweep (review due, barely touched)
		// carries no newer offset than the stored one and must still apply;
		// a write below the stored offset is refused all the same.
		out = append(out, store.LearnerWrite{Learner: ws[i].Learner, Partition: part, Offset: off,
			State: ws[i].State, Decisions: ws[i].Decisions, Engagement: eng, Skills: skills, Refresh: true})
	}
	_, err := r.S.WriteBatch(ctx, out)
	return err
}

// guardOf picks the offset guarding a learner's write: its applied offset
// in the partition of its latest evidence; else (no evidence from that
// partition: a sweep or an override) the newest offset it has; else (no
// Kafka position at all: an override of a learner never seen) offset 0 of
// partition 0, which applies only while nothing newer is stored.
func guardOf(w *LearnerWrite) (int32, int64) {
	part, off := w.Partition, int64(-1)
	for _, o := range w.Offsets {
		if o.Partition == part && o.Offset > off {
			off = o.Offset
		}
	}
	if off < 0 {
		for _, o := range w.Offsets {
			if o.Offset > off {
				part, off = o.Partition, o.Offset
			}
		}
	}
	if off < 0 || part < 0 {
		return 0, 0
	}
	return part, off
}

// Ping implements Store.
func (r RedisStore) Ping(ctx context.Context) error { return r.RDB.Ping(ctx).Err() }

// Observer is an Aggregator that reports its own gauges; Run calls it
// every second.
type Observer interface {
	Observe(m *Metrics)
}

// Sweeper is an Aggregator that re-evaluates time-bound suppressions.
type Sweeper interface {
	Sweep(ctx context.Context, now time.Time) error
}

// Built is the real dependency set of `unpair run` and what to close.
type Built struct {
	Deps
	Shards *shard.Aggregator
	Redis  redis.UniversalClient
	Cat    *catalog.Catalog
}

// Close stops the aggregator and closes the Redis client.
func (b *Built) Close() error {
	var errs []error
	if b.Shards != nil {
		errs = append(errs, b.Shards.Close())
	}
	if b.Redis != nil {
		errs = append(errs, b.Redis.Close())
	}
	return errors.Join(errs...)
}

// Build makes the real dependencies from cfg: a Redis client (a cluster
// client when several addresses are given or RedisCluster is set, with the
// ACL user and TLS of cfg; refused credentials fail here), the store, the catalog (from
// CatalogFile, then the topic), the decoder, the sharded aggregator that
// loads learners from the store on first touch, and the query API.
func Build(cfg Config, log *zap.Logger) (*Built, error) {
	cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	rdb, err := cfg.RedisClient()
	if err != nil {
		return nil, err
	}
	b := &Built{Redis: rdb}
	// Wrong credentials fail at start, naming the settings; a Redis that
	// does not answer yet is waited for like an outage.
	if err := CheckRedisAuth(context.Background(), rdb, &cfg); err != nil {
		b.Close()
		return nil, err
	}
	st, err := store.New(rdb, store.Options{Prefix: cfg.RedisPrefix})
	if err != nil {
		b.Close()
		return nil, err
	}
	var snap *catalog.Snapshot
	if cfg.CatalogFile != "" {
		if snap, err = catalog.Load(cfg.CatalogFile); err != nil {
			b.Close()
			return nil, fmt.Errorf("catalog %s: %w", cfg.CatalogFile, err)
		}
	}
	b.Cat = catalog.NewCatalog(snap)
	ecfg := engine.DefaultConfig()
	agg, err := shard.New(ecfg, b.Cat, shard.Config{Shards: cfg.Shards, Loader: st.LoadState})
	if err != nil {
		b.Close()
		return nil, err
	}
	b.Shards = agg
	keyer := schema.NewLearnerKeyer([]byte(cfg.LearnerSecret))
	// The query API decides content a learner never touched from the
	// learner's skill states and the same live catalog the engine reads.
	cl, err := client.New(rdb, client.Options{Secret: []byte(cfg.LearnerSecret), Prefix: cfg.RedisPrefix, Catalog: b.Cat})
	if err != nil {
		b.Close()
		return nil, err
	}
	// The query API and the insight routes (per-content engagement JSON,
	// the insight page) are served side by side; the API token guards the
	// JSON of both (the page itself is static).
	ins := http.NewServeMux()
	err = insight.Register(ins, insight.Config{Redis: rdb, Prefix: cfg.RedisPrefix, Secret: []byte(cfg.LearnerSecret), Rule: ecfg.Engagement})
	if err != nil {
		b.Close()
		return nil, err
	}
	api := http.NewServeMux()
	api.Handle("/v1/", httpapi.New(cl, cfg.APIToken, log.With(zap.String("component", "httpapi"))))
	api.Handle("/v1/contents/", httpapi.RequireToken(cfg.APIToken, ins))
	api.Handle("/v1/insight/", httpapi.RequireToken(cfg.APIToken, ins))
	api.Handle("/insight", ins)
	api.Handle("/insight/", ins)
	b.Deps = Deps{
		Decoder:    SchemaDecoder{D: schema.NewDecoder(schema.Options{Keyer: keyer, MaxBytes: MaxStatementBytes})},
		Aggregator: ShardAggregator{A: agg, ReleaseTimeout: cfg.FlushTimeout},
		Store:      RedisStore{S: st, RDB: rdb},
		Catalog: CatalogSinkFunc(func(key, value []byte) error {
			u, err := catalog.ParseUpdate(key, value)
			if err != nil {
				return err
			}
			return b.Cat.Apply(u)
		}),
		API:     api,
		Figures: EngagementFigures{Rule: ecfg.Engagement, W: engagement.NewWriter(rdb, engagement.WithKeys(engagement.Keys{Prefix: cfg.RedisPrefix}))},
		Logger:  log,
	}
	return b, nil
}
