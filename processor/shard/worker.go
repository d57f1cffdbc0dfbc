package shard

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/engine"
)

// ctlDepth is the number of control messages (releases) a shard buffers.
const ctlDepth = 4

// held is a learner in memory.
type held struct {
	l       *engine.Learner
	lastUse uint64
	size    int
	pairs   int
	inDirty bool
	gone    bool // dropped or evicted: marks handed out before do not apply
	// rebuiltAs is the learner rebuilt from this one after a panic: its
	// redo entries are that one's (redo.go).
	rebuiltAs *held
	// unguardedTo is the redo log position after the learner's latest
	// entry that no position guard recognizes (an input without a Kafka
	// offset, a sweep or an override); while it is above the log's base,
	// each Flush records a sum of the state it hands out (flushed), so
	// that a rebuild can tell which of those entries the stored state
	// already holds (recover.go).
	unguardedTo uint64
	flushed     []flushedState // unreleased, oldest first
	// cleanAt is the release (shard.releases) that last left the learner
	// clean, and queuedAt the one that queued it for the idle trim (0: not
	// queued); see trim.go.
	cleanAt, queuedAt uint64
}

// flushedState is a learner's state as one Flush handed it out: the redo
// log position at that Flush (every entry of the learner before it is in
// the state) and the xxhash of the state's bytes.
type flushedState struct {
	pos, sum uint64
}

// noteFlushed records the state a Flush hands out for a learner with live
// unguarded redo entries, dropping the records the log has released.
func (s *shard) noteFlushed(h *held, state []byte) {
	s.pruneFlushed(h)
	if h.unguardedTo <= s.log.base {
		return
	}
	h.flushed = append(h.flushed, flushedState{pos: s.log.pos, sum: xxhash.Sum64(state)})
}

// pruneFlushed drops a learner's flushed records at or before the redo
// log's base: every entry before them is released.
func (s *shard) pruneFlushed(h *held) {
	k := 0
	for k < len(h.flushed) && h.flushed[k].pos <= s.log.base {
		k++
	}
	if k > 0 {
		n := copy(h.flushed, h.flushed[k:])
		h.flushed = h.flushed[:n]
	}
}

// counts are the per-evidence outcome counters, kept in plain fields by the
// shard goroutine and published to the atomics once per batch.
type counts struct {
	processed, duplicates, stale, voidUnmatched, voided, ignored uint64
}

// shard owns its learners; only its goroutine touches them. The padding
// keeps two shards' hot fields off a shared cache line.
type shard struct {
	_      [64]byte
	id     int
	agg    *Aggregator
	eng    *engine.Engine
	q      chan msg      // evidence and ordered control messages
	ctl    chan msg      // releases: taken before the next queued message
	free   chan *[]Input // input slices back from this shard, for Submit
	budget int64

	learners map[string]*held
	dirty    []*held
	offsets  offsetTable
	tick     uint64
	n        counts
	hint     flushHint
	failed   []Failure       // recovered panics not yet released
	failBase uint64          // sequence number of failed[0]: failures are numbered shard-wide, in order
	applying *held           // the learner an input is being applied to, for fail
	ctx      context.Context // the message in hand's: bounds a rebuild's reload
	wasDirty bool            // whether it held unreleased changes before that input
	log      redoLog         // the learners' redo entries (redo.go)
	releases uint64          // releases taken
	cooling  []cooling       // learners cleaned by a release, oldest first, for the idle trim (trim.go)

	processed, duplicates, stale, voidUnmatched, voided, ignored atomic.Uint64
	loads, loadErrors, corrupt, evictions, panics, rebuilds      atomic.Uint64
	trims                                                        atomic.Uint64
	replays, newer, compactions                                  atomic.Uint64
	nLearners, pairs, bytes, redoLive, interned                  atomic.Int64
	_                                                            [64]byte
}

// flushHint sizes the buffers of the next flush from the last one, per
// changed learner, so that a flush allocates a handful of buffers instead
// of a few per learner.
type flushHint struct {
	state, decisions, events int // per changed learner, at the last flush
}

// maxChunk bounds one flush buffer of serialized states; a flush larger
// than that uses several.
const maxChunk = 4 << 20

// getInputs returns an empty input slice for Submit, from the shard's free
// list when it has one.
func (s *shard) getInputs(hint int) *[]Input {
	select {
	case p := <-s.free:
		return p
	default:
		p := make([]Input, 0, max(hint/len(s.agg.shards)+hint/8, 64))
		return &p
	}
}

// putInputs clears a slice (dropping its strings for the GC) and puts it on
// the free list, or lets it go when the list is full.
func (s *shard) putInputs(p *[]Input) {
	clear(*p)
	*p = (*p)[:0]
	select {
	case s.free <- p:
	default:
	}
}

func (s *shard) run() {
	defer s.agg.wg.Done()
	for {
		select {
		case m := <-s.ctl:
			s.handle(m)
			continue
		default:
		}
		select {
		case m := <-s.ctl:
			s.handle(m)
		case m := <-s.q:
			s.handle(m)
		case <-s.agg.ctx.Done():
			return
		}
	}
}

// handle runs one message and sends its reply, exactly once, even when a
// panic escapes the per-learner recovery (a bug in the shard itself): the
// caller gets an error instead of waiting forever, and the goroutine lives.
func (s *shard) handle(m msg) {
	s.ctx = s.agg.ctx
	if m.op == opInputs {
		in := *m.inputs
		for i := 0; i < len(in); {
			i = s.applyFrom(in, i)
		}
		s.putInputs(m.inputs)
		s.maybeCompact()
		s.publish()
		return
	}
	if m.ctx != nil {
		s.ctx = m.ctx
	}
	r := s.do(m)
	s.ctx = s.agg.ctx
	if m.op == opRelease || m.op == opDrop {
		s.maybeCompact() // learners were evicted or dropped: their ids may go
	}
	s.redoLive.Store(int64(s.log.live()))
	if m.reply != nil {
		m.reply <- r
	}
}

var opNames = [...]string{opInputs: "inputs", opFlush: "flush", opRelease: "release", opSweep: "sweep", opDrop: "drop", opOverride: "override", opCompact: "compact"}

func (s *shard) do(m msg) (r reply) {
	r.shard = s.id
	defer func() {
		if v := recover(); v != nil {
			s.panics.Add(1)
			r = reply{shard: s.id, err: fmt.Errorf("shard %d: panic in %s: %v", s.id, opNames[m.op], v)}
		}
	}()
	switch m.op {
	case opFlush:
		return s.flush()
	case opRelease:
		s.release(m.marks, m.failTo, m.redo)
	case opSweep:
		s.sweep(m.now)
	case opDrop:
		for k, h := range s.learners {
			if m.drop(k, h.l.Partition()) {
				s.forget(k, h)
			}
		}
		for p := range m.parts {
			s.offsets.drop(p)
		}
		s.compactDirty()
		if len(s.dirty) == 0 {
			s.releaseRedo(s.log.pos)
		}
	case opOverride:
		r.err = s.override(m.override)
	}
	return r
}

// flushBuf is what one flush appends to: the states in chunks, the rest
// in one slice each.
type flushBuf struct {
	states []byte
	chunk  int // size of a new states chunk
	ch     engine.Changes
	offs   []engine.Source
	nState int
	nDec   int
	nEv    int
}

// flush hands out every dirty learner's changes. The states are appended
// to shared chunks and the decisions, events and offsets to one slice
// each; every Change gets its own capacity-limited window of them, so
// appending to one never writes into another. The buffers are new at every
// flush: a caller may keep a batch's slices for as long as it likes.
//
// A panic while collecting one learner (engine Changes or AppendBinary)
// costs that learner's place in this batch at most: it is rebuilt (reloaded
// and its redo log re-applied, recover.go) and collected again; when the
// rebuilt learner panics too, its unreleased inputs are reported failed
// (so that no committed offset hides a lost statement) and it is dropped.
func (s *shard) flush() reply {
	r := reply{shard: s.id, offsets: s.offsets.snapshot()}
	n := len(s.dirty)
	keepRedo := false
	if n > 0 {
		r.changes = make([]Change, 0, n)
		r.marks = make([]mark, 0, n)
		chunk := min(n*s.hint.state+n*s.hint.state/8, maxChunk)
		fb := &flushBuf{
			chunk:  chunk,
			states: make([]byte, 0, max(chunk, 4096)),
			ch: engine.Changes{
				Decisions: make([]decision.Decision, 0, n*s.hint.decisions+n*s.hint.decisions/8),
				Events:    make([]decision.Event, 0, n*s.hint.events+n*s.hint.events/8),
			},
			offs: make([]engine.Source, 0, n+n/8), // usually one partition per learner
		}
		rebuilt := false
		for _, h := range s.dirty[:n] {
			if !h.inDirty || h.gone {
				continue
			}
			c, mk, v := s.collect(h, fb)
			if v != nil {
				s.panics.Add(1)
				rebuilt = true
				h2 := s.rebuild(h, fmt.Sprintf("flush: %v", v))
				if h2 == nil {
					continue
				}
				c, mk, v = s.collect(h2, fb)
				if v != nil {
					s.panics.Add(1)
					s.abandon(h2, fmt.Sprintf("flush after reload: %v", v))
					continue
				}
			}
			if mk.h == nil { // not serializable: kept dirty, and its redo entries too
				keepRedo = true
				continue
			}
			s.noteFlushed(mk.h, c.State)
			r.changes = append(r.changes, c)
			r.marks = append(r.marks, mk)
		}
		if rebuilt {
			s.compactDirty()
		}
		if k := len(r.changes); k > 0 {
			s.hint = flushHint{state: fb.nState / k, decisions: (fb.nDec + k - 1) / k, events: (fb.nEv + k - 1) / k}
		}
	}
	if !keepRedo {
		r.redo = s.log.pos
	}
	if len(s.failed) > 0 {
		r.failed = append([]Failure(nil), s.failed...)
	}
	r.failTo = s.failBase + uint64(len(s.failed))
	return r
}

// collect appends one learner's changes to the flush buffers; on a panic
// it puts the buffers back as they were and returns the panic value.
func (s *shard) collect(h *held, fb *flushBuf) (c Change, mk mark, pv any) {
	ch := &fb.ch
	d0, e0, b0 := len(ch.Decisions), len(ch.Events), len(fb.states)
	g0, c0, k0 := len(ch.Engagement), len(ch.EngagementChanges), len(ch.Skills)
	o0 := len(fb.offs)
	states := fb.states
	undo := func() {
		ch.Decisions, ch.Events = ch.Decisions[:d0], ch.Events[:e0]
		ch.Engagement, ch.EngagementChanges = ch.Engagement[:g0], ch.EngagementChanges[:c0]
		ch.Skills = ch.Skills[:k0]
		fb.offs = fb.offs[:o0]
		fb.states = states
	}
	defer func() {
		if v := recover(); v != nil {
			undo()
			c, mk, pv = Change{}, mark{}, v
		}
	}()
	if hook := s.agg.cfg.opHook; hook != nil {
		hook(opFlush, h.l.Key())
	}
	if free := cap(states) - len(states); free < 2*s.hint.state || free < 256 {
		states = make([]byte, 0, max(fb.chunk, 4*s.hint.state, 4096))
		b0 = 0
		fb.states = states
	}
	h.l.Changes(ch)
	out, err := h.l.AppendBinary(states)
	if err != nil { // cannot happen for a learner the engine built; keep it dirty
		undo()
		return Change{}, mark{}, nil
	}
	if cap(out) != cap(states) { // outgrew the chunk: out is a new array holding this state alone
		fb.states = make([]byte, 0, max(fb.chunk, 4*s.hint.state, 4096))
	} else {
		fb.states = out
	}
	fb.offs = h.l.AppendOffsets(fb.offs)
	c = Change{Learner: h.l.Key(), Partition: h.l.Partition(), State: out[b0:len(out):len(out)]}
	if len(fb.offs) > o0 {
		c.Offsets = fb.offs[o0:len(fb.offs):len(fb.offs)]
	}
	if len(ch.Decisions) > d0 {
		c.Decisions = ch.Decisions[d0:len(ch.Decisions):len(ch.Decisions)]
	}
	if len(ch.Events) > e0 {
		c.Events = ch.Events[e0:len(ch.Events):len(ch.Events)]
	}
	if len(ch.Engagement) > g0 {
		c.Engagement = ch.Engagement[g0:len(ch.Engagement):len(ch.Engagement)]
	}
	if len(ch.EngagementChanges) > c0 {
		c.EngagementChanges = ch.EngagementChanges[c0:len(ch.EngagementChanges):len(ch.EngagementChanges)]
	}
	if len(ch.Skills) > k0 {
		c.Skills = ch.Skills[k0:len(ch.Skills):len(ch.Skills)]
	}
	fb.nState += len(out) - b0
	fb.nDec += len(ch.Decisions) - d0
	fb.nEv += len(ch.Events) - e0
	return c, mark{h: h, mark: ch.Mark}, nil
}

// publish adds the batch's outcome counters to the shared atomics.
func (s *shard) publish() {
	n := &s.n
	add := func(a *atomic.Uint64, v *uint64) {
		if *v != 0 {
			a.Add(*v)
			*v = 0
		}
	}
	add(&s.processed, &n.processed)
	add(&s.duplicates, &n.duplicates)
	add(&s.stale, &n.stale)
	add(&s.voidUnmatched, &n.voidUnmatched)
	add(&s.voided, &n.voided)
	add(&s.ignored, &n.ignored)
	s.redoLive.Store(int64(s.log.live()))
}

// applyFrom applies in[i:] and returns len(in), or, when applying one
// input panics, recovers, records the failure and returns the index after
// it: a bad input (or an engine bug it triggers) costs that input, never
// the process. One deferred recover per batch, not per input.
func (s *shard) applyFrom(in []Input, i int) (next int) {
	k := i
	defer func() {
		if v := recover(); v != nil {
			s.fail(&in[k], v)
			next = k + 1
		}
	}()
	for ; k < len(in); k++ {
		s.apply(&in[k])
	}
	return k
}

func (s *shard) apply(in *Input) {
	src := in.Source
	if src.Offset >= 0 {
		s.offsets.note(src.Partition, src.Offset)
	}
	h := s.learner(in.Evidence.Learner)
	if h == nil {
		s.n.ignored++
		return
	}
	s.applying, s.wasDirty = h, h.l.Dirty()
	if hook := s.agg.cfg.applyHook; hook != nil {
		hook(in)
	}
	outcome := s.eng.Apply(h.l, &in.Evidence, src)
	s.applying = nil
	switch outcome {
	case engine.Applied:
		s.n.processed++
	case engine.Duplicate:
		s.n.duplicates++
	case engine.Stale:
		s.n.stale++
		return // no change: nothing to redo
	case engine.VoidUnmatched:
		s.n.voidUnmatched++
	case engine.Voided:
		s.n.voided++
	default:
		s.n.ignored++
	}
	s.log.add(h, in, nil)
	if src.Offset < 0 {
		h.unguardedTo = s.log.pos // no position guard: flushes record its state's sum
	}
	if p := h.l.Pairs(); p != h.pairs {
		s.pairs.Add(int64(p - h.pairs))
		h.pairs = p
	}
	s.markDirty(h)
}

func (s *shard) markDirty(h *held) {
	if !h.inDirty && h.l.Dirty() {
		h.inDirty = true
		s.dirty = append(s.dirty, h)
	}
}

// learner returns the held learner for a key, loading it on first touch;
// nil for an empty key or when the aggregator is closing.
func (s *shard) learner(key string) *held {
	if key == "" {
		return nil
	}
	s.tick++
	if h, ok := s.learners[key]; ok {
		h.lastUse = s.tick
		return h
	}
	l, _, _ := s.load(s.agg.ctx, key)
	if l == nil {
		return nil
	}
	return s.hold(key, l)
}

// hold makes a loaded learner a held one.
func (s *shard) hold(key string, l *engine.Learner) *held {
	h := &held{l: l, lastUse: s.tick, pairs: l.Pairs(), size: l.Size()}
	s.learners[key] = h
	s.nLearners.Add(1)
	s.pairs.Add(int64(h.pairs))
	s.bytes.Add(int64(h.size))
	return h
}

// load reads a learner from the store, retrying loader errors (and states
// of a newer release) with backoff until ctx or the aggregator ends; it
// returns the learner and the stored bytes it was decoded from (nil: new),
// or a nil learner and ErrClosed (the aggregator is closing) or ctx's
// error.
func (s *shard) load(ctx context.Context, key string) (*engine.Learner, []byte, error) {
	ld := s.agg.cfg.Loader
	if ld == nil {
		return s.eng.NewLearner(key), nil, nil
	}
	backoff := 10 * time.Millisecond
	for {
		data, err := ld(ctx, key)
		if err == nil {
			if data == nil {
				return s.eng.NewLearner(key), nil, nil
			}
			l, err := s.eng.LoadLearner(key, data)
			switch {
			case err == nil:
				s.loads.Add(1)
				return l, data, nil
			case errors.Is(err, engine.ErrNewerFormat):
				// Written by a newer release (a rollback, or a mixed
				// rolling deploy): starting new would overwrite the
				// learner's history at its next write. Retry like a
				// loader error until an owner that reads it takes over.
				s.newer.Add(1)
			default:
				s.corrupt.Add(1)
				return s.eng.NewLearner(key), nil, nil
			}
		} else {
			s.loadErrors.Add(1)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-s.agg.ctx.Done():
			t.Stop()
			return nil, nil, ErrClosed
		case <-ctx.Done():
			t.Stop()
			if s.agg.ctx.Err() != nil {
				return nil, nil, ErrClosed
			}
			return nil, nil, ctx.Err()
		}
		backoff = min(2*backoff, time.Second)
	}
}

// forget drops a held learner. Its redo entries stay until released: a
// rebuild re-applies them.
func (s *shard) forget(k string, h *held) {
	delete(s.learners, k)
	h.inDirty = false
	h.gone = true
	s.nLearners.Add(-1)
	s.pairs.Add(-int64(h.pairs))
	s.bytes.Add(-int64(h.size))
}

// compactDirty drops clean and forgotten learners from the dirty list and
// refreshes their size estimates.
func (s *shard) compactDirty() {
	keep := s.dirty[:0]
	for _, h := range s.dirty {
		if !h.inDirty {
			continue
		}
		if sz := h.l.Size(); sz != h.size {
			s.bytes.Add(int64(sz - h.size))
			h.size = sz
		}
		if h.l.Dirty() {
			keep = append(keep, h)
		} else {
			h.inDirty = false
		}
	}
	clear(s.dirty[len(keep):])
	s.dirty = keep
}

// evict drops the clean learners idle the longest until the shard is under
// 90% of its budget.
func (s *shard) evict() {
	if s.budget <= 0 || s.bytes.Load() <= s.budget {
		return
	}
	var idle []*held
	for _, h := range s.learners {
		if !h.inDirty && !h.l.Dirty() {
			idle = append(idle, h)
		}
	}
	sort.Slice(idle, func(i, j int) bool { return idle[i].lastUse < idle[j].lastUse })
	for _, h := range idle {
		if s.bytes.Load() <= s.budget*9/10 {
			break
		}
		s.forget(h.l.Key(), h)
		s.evictions.Add(1)
	}
}

// offsetTable is the highest offset processed per partition: a dense array
// for the usual small partition numbers (one indexed load per evidence), a
// map for the rest.
type offsetTable struct {
	dense  []int64 // by partition; -1: none
	sparse map[int32]int64
}

const maxDensePartition = 1 << 12

func (t *offsetTable) note(p int32, o int64) {
	if p >= 0 && p < maxDensePartition {
		if int(p) >= len(t.dense) {
			for len(t.dense) <= int(p) {
				t.dense = append(t.dense, -1)
			}
		}
		if o > t.dense[p] {
			t.dense[p] = o
		}
		return
	}
	if t.sparse == nil {
		t.sparse = map[int32]int64{}
	}
	if cur, ok := t.sparse[p]; !ok || o > cur {
		t.sparse[p] = o
	}
}

func (t *offsetTable) drop(p int32) {
	if p >= 0 && int(p) < len(t.dense) {
		t.dense[p] = -1
	}
	delete(t.sparse, p)
}

func (t *offsetTable) snapshot() map[int32]int64 {
	m := make(map[int32]int64, len(t.dense)+len(t.sparse))
	for p, o := range t.dense {
		if o >= 0 {
			m[int32(p)] = o
		}
	}
	for p, o := range t.sparse {
		m[p] = o
	}
	return m
}
