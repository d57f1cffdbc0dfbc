package shard

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/engine"
	"github.com/unpair/unpair/schema"
)

// Loader reads a learner's stored state; nil bytes and a nil error mean a
// new learner.
type Loader func(ctx context.Context, learnerKey string) ([]byte, error)

// Config configures an Aggregator.
type Config struct {
	Shards       int    // default runtime.GOMAXPROCS(0)
	QueueDepth   int    // batches queued per shard before Submit blocks; default 64
	MemoryBudget int64  // approximate bytes of learner state kept; 0 = no limit
	Loader       Loader // nil: every learner starts new
	// TrimAfter is the number of releases a learner must stay clean and
	// unchanged, after the release that cleaned it, before its spare slice
	// capacity is given back (engine.Learner.Trim; it is then trimmed
	// within TrimAfter more releases); 0: DefaultTrimAfter; negative:
	// never. A learner changed at least once in every TrimAfter flushes is
	// never trimmed, so it does not reallocate at every flush.
	TrimAfter int

	// compactFloor is the intern table size below which the engines never
	// compact (engine.CompactDue); 0: engine.DefaultCompactFloor. Tests
	// lower it.
	compactFloor int

	applyHook func(*Input)               // tests: called before each input is applied or re-applied (may panic)
	opHook    func(o op, learner string) // tests: called before a learner's flush, due, override or clean (may panic)
}

// Input is one piece of evidence and where it came from.
type Input struct {
	Evidence schema.Evidence
	Source   engine.Source
}

// Batch is a consistent set of changes handed out by Flush.
type Batch struct {
	Learners []Change
	// Offsets is the highest Source offset processed per partition, over
	// all shards, by the time of the Flush; once the batch is durable,
	// commit offset+1 for each.
	Offsets map[int32]int64
	// Failed are the inputs submitted before the Flush whose processing
	// panicked (recovered; counted in Stats.Panics) and not yet released:
	// dead-letter them (reason "internal") before committing Offsets,
	// which include them. A Flush not released hands them out again.
	// Usually each is the input that panicked; an input whose
	// re-application after another panic panicked too, or the unreleased
	// inputs of a learner that could not be rebuilt, are reported the same
	// way (Failure.Panic says so), so that no committed offset hides a
	// statement lost in silence.
	Failed []Failure
	marks  [][]mark // per shard
	failTo []uint64 // per shard: the failure sequence the batch covers (failures numbered below it)
	redo   []uint64 // per shard: redo log position at the Flush
}

// Failure is an input whose processing panicked (or, rarely, whose
// re-application after another panic did, or that belonged to a learner
// the shard had to give up; Panic says which). The shard recovered and
// rebuilt the learner, whose state may have been half-updated: reloaded
// it from the store and re-applied its other unreleased inputs, so that
// only the failed input's effect is missing.
type Failure struct {
	Learner string        // learner key
	Source  engine.Source // of the input
	Panic   string        // the panic value
	// Unreleased: the learner held changes not yet released when the
	// input panicked. They are not lost: they were re-applied over the
	// state reloaded from the store (an input whose re-application
	// panicked too is a Failure of its own).
	Unreleased bool
}

// Change is one learner's changes since its last release.
type Change struct {
	Learner   string // learner key
	Partition int32  // partition its latest evidence came from (-1: none)
	State     []byte // engine.Learner.MarshalBinary
	Decisions []decision.Decision
	Events    []decision.Event // in the order they happened
	// Offsets are this learner's applied offsets per partition, the guard a
	// store can use to make its writes idempotent.
	Offsets []engine.Source
	// Engagement is the current engagement of the pairs whose engagement
	// changed (for the learner's engagement hash, written with the state).
	Engagement []engine.PairEngagement
	// EngagementChanges are the changes of pair engagement made by
	// statements since the last release, in order, each with its source,
	// for the per-content figures of its partition
	// (engine.EngagementChange.Feed into that partition's
	// engagement.Aggregator, written before this batch's learner states).
	EngagementChanges []engine.EngagementChange
	// Skills are the learner's current states of the skills whose
	// published state changed (for the learner's skills hash, written with
	// the state: mastery.AppendSkill of each, by SkillState.Name), so that
	// readers can decide content the learner never touched.
	Skills []engine.SkillState
}

// mark is what one learner handed out at a Flush. It points at the held
// learner, not its key: a learner dropped and reloaded since is another
// held learner, which the mark must not clean.
type mark struct {
	h    *held
	mark engine.Mark
}

// Stats are counters (totals since New) and gauges.
type Stats struct {
	Processed     uint64 // evidence applied
	Duplicates    uint64 // same statement id again
	Stale         uint64 // offset at or below the applied one (redelivery)
	VoidUnmatched uint64 // voids whose target was not in the window
	Voided        uint64 // statements that arrived after their void
	Ignored       uint64 // evidence without learner or content, or without state effect
	Loads         uint64 // learners loaded through the Loader with stored state
	LoadErrors    uint64 // loader errors (each retried)
	CorruptStates uint64 // stored states that did not decode (the learner starts new)
	NewerStates   uint64 // loads of states written by a newer release (engine.ErrNewerFormat): retried with backoff, never started new
	Evictions     uint64 // clean learners evicted under the memory budget
	Trims         uint64 // idle learners trimmed: their spare capacity given back (Config.TrimAfter)
	Panics        uint64 // recovered panics: of inputs (see Batch.Failed), re-applications, flush, sweep, override, release, reload, compaction
	Compactions   uint64 // intern table compactions (engine.Compact), between batches
	Interned      int64  // entries in the shards' engine intern tables (content ids, skill ids, skill sets)
	Rebuilds      uint64 // learners dropped after a panic and rebuilt (reloaded, redo log re-applied)
	Replays       uint64 // redo entries re-applied by rebuilds
	Redo          int64  // inputs and control operations held for a rebuild (applied, not yet released)
	Learners      int64  // learners in memory
	Pairs         int64  // learner-content pairs in memory
	Bytes         int64  // approximate bytes of learner state in memory
}

// ErrClosed is returned after Close.
var ErrClosed = errors.New("shard: aggregator closed")

// Aggregator runs N shards. Its methods are safe for concurrent use.
type Aggregator struct {
	cfg    Config
	shards []*shard
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	split  sync.Pool // *[]*[]Input, for Submit with more than stackShards shards
}

// stackShards is the shard count up to which Submit splits a batch in a
// stack array instead of a pooled slice.
const stackShards = 16

type op uint8

const (
	opInputs op = iota
	opFlush
	opRelease
	opSweep
	opDrop
	opOverride
	opCompact // not a message: the label of a compaction for opHook
)

type msg struct {
	op       op
	ctx      context.Context // the caller's (control messages): bounds a rebuild's reload
	inputs   *[]Input
	marks    []mark
	failTo   uint64 // opRelease: the failure sequence the released batch covers
	redo     uint64 // opRelease: the redo log position of the released Flush
	now      int64
	drop     func(key string, partition int32) bool
	parts    map[int32]bool // DropPartitions: also forget these offsets
	override *override
	reply    chan<- reply
}

type override struct {
	learner, content string
	suppress         bool
	until, at        int64
}

type reply struct {
	shard   int
	changes []Change
	marks   []mark
	offsets map[int32]int64
	failed  []Failure
	failTo  uint64 // failure sequence covered by failed: every failure numbered below it
	redo    uint64 // redo log position covered by the changes (0: none)
	err     error  // a panic that escaped the per-learner recovery
}

// New starts an aggregator with one engine per shard over the catalog.
func New(ecfg engine.Config, cat *catalog.Catalog, cfg Config) (*Aggregator, error) {
	if cfg.Shards <= 0 {
		cfg.Shards = runtime.GOMAXPROCS(0)
	}
	if cfg.Shards > 4096 {
		return nil, fmt.Errorf("shards: must be at most 4096, got %d", cfg.Shards)
	}
	if cfg.QueueDepth <= 0 {
		cfg.QueueDepth = 64
	}
	if cfg.MemoryBudget < 0 {
		return nil, fmt.Errorf("memory_budget: must not be negative, got %d", cfg.MemoryBudget)
	}
	if cfg.TrimAfter == 0 {
		cfg.TrimAfter = DefaultTrimAfter
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &Aggregator{cfg: cfg, ctx: ctx, cancel: cancel}
	a.split.New = func() any { s := make([]*[]Input, cfg.Shards); return &s }
	for i := 0; i < cfg.Shards; i++ {
		eng, err := engine.New(ecfg, cat)
		if err != nil {
			cancel()
			return nil, err
		}
		s := &shard{id: i, agg: a, eng: eng, q: make(chan msg, cfg.QueueDepth),
			ctl: make(chan msg, ctlDepth), free: make(chan *[]Input, cfg.QueueDepth+2),
			learners: map[string]*held{}}
		if cfg.MemoryBudget > 0 {
			s.budget = cfg.MemoryBudget / int64(cfg.Shards)
		}
		a.shards = append(a.shards, s)
	}
	for _, s := range a.shards {
		a.wg.Add(1)
		go s.run()
	}
	return a, nil
}

// Shards returns the number of shards.
func (a *Aggregator) Shards() int { return len(a.shards) }

// ShardOf returns the shard owning a learner key.
func (a *Aggregator) ShardOf(learnerKey string) int {
	return int(xxhash.Sum64String(learnerKey) % uint64(len(a.shards)))
}

// QueueDepth returns the number of messages queued for a shard.
func (a *Aggregator) QueueDepth(shard int) int {
	if shard < 0 || shard >= len(a.shards) {
		return 0
	}
	return len(a.shards[shard].q)
}

// PairsInMemory returns the number of learner-content pairs held.
func (a *Aggregator) PairsInMemory() int64 {
	var n int64
	for _, s := range a.shards {
		n += s.pairs.Load()
	}
	return n
}

// Stats sums the shards' counters.
func (a *Aggregator) Stats() Stats {
	var t Stats
	for _, s := range a.shards {
		t.Processed += s.processed.Load()
		t.Duplicates += s.duplicates.Load()
		t.Stale += s.stale.Load()
		t.VoidUnmatched += s.voidUnmatched.Load()
		t.Voided += s.voided.Load()
		t.Ignored += s.ignored.Load()
		t.Loads += s.loads.Load()
		t.LoadErrors += s.loadErrors.Load()
		t.CorruptStates += s.corrupt.Load()
		t.NewerStates += s.newer.Load()
		t.Evictions += s.evictions.Load()
		t.Trims += s.trims.Load()
		t.Panics += s.panics.Load()
		t.Rebuilds += s.rebuilds.Load()
		t.Replays += s.replays.Load()
		t.Compactions += s.compactions.Load()
		t.Interned += s.interned.Load()
		t.Redo += s.redoLive.Load()
		t.Learners += s.nLearners.Load()
		t.Pairs += s.pairs.Load()
		t.Bytes += s.bytes.Load()
	}
	return t
}

func (a *Aggregator) send(ctx context.Context, s *shard, m msg) error {
	return a.sendOn(ctx, s.q, m)
}

func (a *Aggregator) sendOn(ctx context.Context, q chan<- msg, m msg) error {
	if a.ctx.Err() != nil {
		return ErrClosed
	}
	select {
	case q <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-a.ctx.Done():
		return ErrClosed
	}
}

// Submit hands evidence to the shards owning its learners, in order per
// learner; the inputs are copied, so in can be reused when Submit returns.
// Each shard gets one slice (from its own free list) and one channel send
// per call. It blocks while a shard's queue is full.
func (a *Aggregator) Submit(ctx context.Context, in []Input) error {
	var local [stackShards]*[]Input
	var parts []*[]Input
	var sp *[]*[]Input
	if len(a.shards) <= stackShards {
		parts = local[:len(a.shards)]
	} else {
		sp = a.split.Get().(*[]*[]Input)
		parts = *sp
	}
	n := uint64(len(a.shards))
	for i := range in {
		k := xxhash.Sum64String(in[i].Evidence.Learner) % n
		p := parts[k]
		if p == nil {
			p = a.shards[k].getInputs(len(in))
			parts[k] = p
		}
		*p = append(*p, in[i])
	}
	var err error
	for k, p := range parts {
		if p == nil {
			continue
		}
		parts[k] = nil
		if err == nil {
			err = a.send(ctx, a.shards[k], msg{op: opInputs, inputs: p})
		}
		if err != nil {
			a.shards[k].putInputs(p)
		}
	}
	if sp != nil {
		a.split.Put(sp)
	}
	return err
}

// broadcast sends a message to every shard, through its queue (in order
// with the evidence) or, when control, through its control channel (taken
// before the next queued message), and collects the replies.
func (a *Aggregator) broadcast(ctx context.Context, control bool, mk func(shard int) msg) ([]reply, error) {
	ch, err := a.sendAll(ctx, control, mk)
	if err != nil {
		return nil, err
	}
	return a.collect(ctx, ch)
}

// sendAll hands every shard its message; the replies come on the returned
// channel.
func (a *Aggregator) sendAll(ctx context.Context, control bool, mk func(shard int) msg) (chan reply, error) {
	ch := make(chan reply, len(a.shards))
	for i, s := range a.shards {
		m := mk(i)
		m.reply = ch
		m.ctx = ctx
		q := s.q
		if control {
			q = s.ctl
		}
		if err := a.sendOn(ctx, q, m); err != nil {
			return nil, err
		}
	}
	return ch, nil
}

// collect waits for every shard's reply on ch.
func (a *Aggregator) collect(ctx context.Context, ch chan reply) ([]reply, error) {
	out := make([]reply, len(a.shards))
	var errs []error
	for range a.shards {
		select {
		case r := <-ch:
			out[r.shard] = r
			if r.err != nil {
				errs = append(errs, r.err)
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-a.ctx.Done():
			return nil, ErrClosed
		}
	}
	return out, errors.Join(errs...)
}

// Flush is a barrier: it returns every change made by evidence submitted
// before the call, from every shard. Learners stay dirty until Release.
// ctx also bounds the reload of a learner rebuilt during the flush (after
// a panic collecting it): if it ends before the store answers, the
// learner's unreleased inputs are reported failed (Batch.Failed).
func (a *Aggregator) Flush(ctx context.Context) (*Batch, error) {
	f, err := a.StartFlush(ctx)
	if err != nil {
		return nil, err
	}
	return f.Wait(ctx)
}

// PendingFlush is a flush whose barrier is in every shard's queue.
type PendingFlush struct {
	a  *Aggregator
	ch chan reply
}

// StartFlush puts the flush barrier in every shard's queue and returns
// without waiting for the shards to reach it: the batch Wait returns holds
// every change made by evidence submitted before StartFlush returned, and
// none made by evidence submitted after it (each shard's queue is in
// order). So a caller that makes "submit" and "start a flush" mutually
// exclusive gets a consistent cut without holding submitters back while
// the shards build the batch. ctx bounds the flush's rebuilds as in Flush:
// keep it alive until Wait returns.
func (a *Aggregator) StartFlush(ctx context.Context) (*PendingFlush, error) {
	ch, err := a.sendAll(ctx, false, func(int) msg { return msg{op: opFlush} })
	if err != nil {
		return nil, fmt.Errorf("cannot flush: %w", err)
	}
	return &PendingFlush{a: a, ch: ch}, nil
}

// Wait returns the batch of a started flush.
func (f *PendingFlush) Wait(ctx context.Context) (*Batch, error) {
	a := f.a
	rs, err := a.collect(ctx, f.ch)
	if err != nil {
		return nil, fmt.Errorf("cannot flush: %w", err)
	}
	n := 0
	for _, r := range rs {
		n += len(r.changes)
	}
	b := &Batch{Learners: make([]Change, 0, n), Offsets: map[int32]int64{}, marks: make([][]mark, len(a.shards)),
		failTo: make([]uint64, len(a.shards)), redo: make([]uint64, len(a.shards))}
	for i, r := range rs {
		b.Learners = append(b.Learners, r.changes...)
		b.marks[i] = r.marks
		b.Failed = append(b.Failed, r.failed...)
		b.failTo[i] = r.failTo
		b.redo[i] = r.redo
		for p, o := range r.offsets {
			if cur, ok := b.Offsets[p]; !ok || o > cur {
				b.Offsets[p] = o
			}
		}
	}
	return b, nil
}

// Release marks a batch durable: its events are dropped and its learners
// become clean unless they changed since the Flush. It waits until every
// shard has taken note; a shard takes a release before its next queued
// batch, so Release does not wait for the evidence submitted since the
// Flush. Learners dropped since the Flush are not touched (a reloaded
// learner stays dirty). Release waits as long as the aggregator lives; see
// ReleaseContext to bound it.
func (a *Aggregator) Release(b *Batch) error {
	return a.ReleaseContext(context.Background(), b)
}

// ReleaseContext is Release within ctx, which also bounds the reload of a
// learner rebuilt during the release (after a panic cleaning it): if ctx
// ends before the store answers, the learner's unreleased inputs are
// reported failed with the next Flush instead of the release waiting for
// the whole outage. A release cut short by ctx may have been taken by
// some shards and not others; releasing the batch again is harmless.
func (a *Aggregator) ReleaseContext(ctx context.Context, b *Batch) error {
	if b == nil {
		return nil
	}
	_, err := a.broadcast(ctx, true, func(i int) msg { return msg{op: opRelease, marks: b.marks[i], failTo: b.failTo[i], redo: b.redo[i]} })
	if err != nil {
		return fmt.Errorf("cannot release batch: %w", err)
	}
	return nil
}

// Sweep re-evaluates suppressed pairs whose Until is at or before now, in
// memory; their events come with the next Flush.
func (a *Aggregator) Sweep(ctx context.Context, now time.Time) error {
	ms := now.UnixMilli()
	if _, err := a.broadcast(ctx, false, func(int) msg { return msg{op: opSweep, now: ms} }); err != nil {
		return fmt.Errorf("cannot sweep: %w", err)
	}
	return nil
}

// Drop removes every learner for which f(key, partition) is true, with its
// unreleased changes, and forgets the processed offsets of no partition.
func (a *Aggregator) Drop(ctx context.Context, f func(learnerKey string, partition int32) bool) error {
	if _, err := a.broadcast(ctx, false, func(int) msg { return msg{op: opDrop, drop: f} }); err != nil {
		return fmt.Errorf("cannot drop learners: %w", err)
	}
	return nil
}

// DropPartitions removes the learners whose latest evidence came from one
// of the partitions, and forgets those partitions' processed offsets.
func (a *Aggregator) DropPartitions(ctx context.Context, parts []int32) error {
	set := make(map[int32]bool, len(parts))
	for _, p := range parts {
		set[p] = true
	}
	f := func(_ string, p int32) bool { return set[p] }
	_, err := a.broadcast(ctx, false, func(int) msg { return msg{op: opDrop, drop: f, parts: set} })
	if err != nil {
		return fmt.Errorf("cannot drop partitions %v: %w", parts, err)
	}
	return nil
}

// Override sets (suppress) or lifts an operator's suppression of one pair;
// until and at are unix ms. The change comes with the next Flush.
func (a *Aggregator) Override(ctx context.Context, learnerKey, content string, suppress bool, until, at int64) error {
	s := a.shards[a.ShardOf(learnerKey)]
	ch := make(chan reply, 1)
	err := a.send(ctx, s, msg{op: opOverride, reply: ch, ctx: ctx,
		override: &override{learner: learnerKey, content: content, suppress: suppress, until: until, at: at}})
	if err != nil {
		return fmt.Errorf("cannot override %s: %w", content, err)
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return fmt.Errorf("cannot override %s: %w", content, r.err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-a.ctx.Done():
		return ErrClosed
	}
}

// Close stops the shards; unreleased changes are discarded.
func (a *Aggregator) Close() error {
	a.cancel()
	a.wg.Wait()
	return nil
}
