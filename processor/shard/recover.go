package shard

import (
	"context"
	"errors"
	"fmt"

	"github.com/cespare/xxhash/v2"

	"github.com/unpair/unpair/processor/engine"
)

// Recovery from panics inside a shard (doc.go, "Panics"). Whatever
// panicked, the learner it was working on may be half-updated, so it is
// rebuilt: dropped, reloaded from the store and its redo log (every input
// and control operation applied since its last Release) re-applied. The
// engine's position guards skip the entries with a Kafka position that the
// stored state already reflects, so a reload that reads the store before
// or after a write in flight ends in the same state. Entries no guard
// recognizes (inputs without an offset, sweeps, overrides) are skipped by
// the shard itself: each Flush of a learner holding such entries records
// the xxhash of the state it hands out with the redo position it covers
// (held.flushed); when the reloaded bytes match one of those states, the
// learner's entries before that position are in them and are not
// re-applied. When they match none, the store holds a state older than
// every such entry (the last released one, or one written before the
// entries were applied), and every entry is re-applied.

// fail records an input whose processing panicked and rebuilds its
// learner without it. Runs in applyFrom's deferred recover.
func (s *shard) fail(in *Input, v any) {
	s.panics.Add(1)
	f := Failure{Learner: in.Evidence.Learner, Source: in.Source, Panic: fmt.Sprint(v)}
	h := s.applying
	s.applying = nil
	if h != nil && !h.gone {
		f.Unreleased = s.wasDirty
		s.failed = append(s.failed, f)
		s.rebuild(h, f.Panic)
		s.compactDirty()
		return
	}
	s.failed = append(s.failed, f)
}

// rebuild drops h and holds the learner again: reloaded from the store,
// its redo entries re-applied in order. An entry whose re-application
// panics is dropped (an input is reported failed) and the rebuild starts
// over without it, so the work is bounded by the entries. It returns the
// new held learner, or nil when the aggregator is closing or the store's
// state cannot be loaded (then the entries' inputs are reported failed:
// their offsets are committed with the batch, so they must be dead-
// lettered, not dropped in silence). why is the panic that caused it.
//
// The reload is bounded by the context of the message in hand (a Flush's,
// a Release's, a Sweep's or an Override's; the aggregator's for inputs):
// when it ends before the store answers, the entries are reported failed
// as when the state cannot be loaded, rather than the message waiting for
// the whole outage.
func (s *shard) rebuild(h *held, why string) *held {
	key := h.l.Key()
	s.forget(key, h)
	s.rebuilds.Add(1)
	for {
		l, data, err := s.reload(key)
		if errors.Is(err, ErrClosed) { // closing: unreleased changes are discarded
			return nil
		}
		if err != nil {
			s.failEntries(key, h, fmt.Sprintf("%s; then %v", why, err))
			return nil
		}
		from := s.reflected(h, data)
		h2 := s.hold(key, l)
		h.rebuiltAs = h2
		h2.unguardedTo = h.unguardedTo
		h2.flushed, h.flushed = h.flushed, nil
		bad, v := s.replay(h2, from)
		if bad == nil {
			if p := h2.l.Pairs(); p != h2.pairs {
				s.pairs.Add(int64(p - h2.pairs))
				h2.pairs = p
			}
			s.markDirty(h2)
			return h2
		}
		s.panics.Add(1)
		if bad.ctl == nil {
			s.failed = append(s.failed, Failure{Learner: key, Source: bad.in.Source,
				Panic: fmt.Sprintf("re-applied after a panic (%s): %v", why, v)})
		}
		bad.owner = nil
		s.forget(key, h2)
		h = h2
	}
}

// reload loads a learner as on first touch, within the message's context
// (and the aggregator's), turning a panic of the loader or the decoder
// into an error. It returns the stored bytes too (nil: none).
func (s *shard) reload(key string) (l *engine.Learner, data []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			s.panics.Add(1)
			l, data, err = nil, nil, fmt.Errorf("cannot reload learner: panic: %v", v)
		}
	}()
	ctx := s.ctx
	if ctx == nil {
		ctx = s.agg.ctx
	}
	if ctx != s.agg.ctx { // the loader sees the aggregator closing too
		c, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(s.agg.ctx, cancel)()
		ctx = c
	}
	l, data, err = s.load(ctx, key)
	if err != nil && !errors.Is(err, ErrClosed) {
		err = fmt.Errorf("cannot reload learner: %w", err)
	}
	return l, data, err
}

// reflected returns the redo log position before which h's entries are
// in the stored state data: the position of the latest unreleased Flush
// that handed out exactly these bytes, or 0 (re-apply every entry; the
// position guards sort out those with a Kafka offset).
func (s *shard) reflected(h *held, data []byte) uint64 {
	if data == nil || h.unguardedTo <= s.log.base || len(h.flushed) == 0 {
		return 0
	}
	sum := xxhash.Sum64(data)
	var from uint64
	for _, f := range h.flushed {
		if f.pos > s.log.base && f.sum == sum {
			from = max(from, f.pos)
		}
	}
	return from
}

// replay re-applies a learner's redo entries at or after position from,
// in order. On a panic it returns the entry that panicked and the panic
// value.
func (s *shard) replay(h *held, from uint64) (bad *redoEntry, pv any) {
	defer func() {
		if v := recover(); v != nil {
			pv = v
		}
	}()
	s.log.eachFrom(h, from, func(e *redoEntry) bool {
		bad = e
		s.replays.Add(1)
		s.redoOne(h, e)
		return true
	})
	return nil, nil
}

func (s *shard) redoOne(h *held, e *redoEntry) {
	c := e.ctl
	if c == nil {
		if hook := s.agg.cfg.applyHook; hook != nil {
			hook(&e.in)
		}
		s.eng.Apply(h.l, &e.in.Evidence, e.in.Source)
		return
	}
	if c.due {
		if hook := s.agg.cfg.opHook; hook != nil {
			hook(opSweep, h.l.Key())
		}
		s.eng.Due(h.l, c.now)
		return
	}
	if hook := s.agg.cfg.opHook; hook != nil {
		hook(opOverride, h.l.Key())
	}
	o := &c.ov
	s.eng.Override(h.l, o.content, o.suppress, o.until, o.at, engine.NoSource)
}

// failEntries reports every input of a learner's redo entries failed and
// drops the entries from the redo.
func (s *shard) failEntries(key string, h *held, why string) {
	s.log.each(h, func(e *redoEntry) bool {
		if e.ctl == nil {
			s.failed = append(s.failed, Failure{Learner: key, Source: e.in.Source, Panic: why})
		}
		e.owner = nil
		return true
	})
}

// abandon gives up a learner that panics even after a rebuild: its
// unreleased inputs are reported failed and it is dropped (the store keeps
// its last durable state; its next input reloads it).
func (s *shard) abandon(h *held, why string) {
	key := h.l.Key()
	s.forget(key, h)
	s.failEntries(key, h, why)
}

// release applies a batch: each learner is cleaned up to its mark, and
// the redo entries before the Flush's position are dropped (the batch that
// held them is durable). A learner dropped or rebuilt since the Flush is
// not cleaned (it is written again, harmlessly). When no learner is left
// dirty, no live entry can be needed (every learner's state equals the
// stored one), so the whole log is dropped.
func (s *shard) release(marks []mark, failTo, redo uint64) {
	for _, mk := range marks {
		if mk.h.gone {
			continue
		}
		if v := s.clean(mk.h, mk.mark); v != nil {
			s.panics.Add(1)
			s.rebuild(mk.h, fmt.Sprintf("release: %v", v))
		}
	}
	s.releaseFailed(failTo)
	s.compactDirty()
	s.releaseRedo(redo)
	for _, mk := range marks {
		if !mk.h.gone {
			s.pruneFlushed(mk.h)
		}
	}
	s.trimIdle(marks)
	s.evict()
	s.log.trim()
}

// releaseFailed drops the failures numbered below seq (those a released
// Flush handed out). Failures are numbered shard-wide in the order they
// are recorded and dropped only from the front, so a Release older than
// one already taken, or taken twice, drops nothing: a failure recorded
// after the released Flush is never dropped by it.
func (s *shard) releaseFailed(seq uint64) {
	if seq <= s.failBase {
		return
	}
	n := int(min(seq-s.failBase, uint64(len(s.failed))))
	k := copy(s.failed, s.failed[n:])
	clear(s.failed[k:])
	s.failed = s.failed[:k]
	s.failBase += uint64(n)
}

// releaseRedo drops the redo entries before p, or all of them when no
// learner is dirty.
func (s *shard) releaseRedo(p uint64) {
	if len(s.dirty) == 0 {
		p = s.log.pos
	}
	s.log.releaseTo(min(p, s.log.pos))
}

func (s *shard) clean(h *held, m engine.Mark) (pv any) {
	defer func() { pv = recover() }()
	if hook := s.agg.cfg.opHook; hook != nil {
		hook(opRelease, h.l.Key())
	}
	h.l.Clean(m)
	return nil
}

// sweep runs the review sweep over the shard's learners; a learner whose
// sweep panics is rebuilt (without that sweep: the next one retries it).
func (s *shard) sweep(now int64) {
	var broken []*held
	for _, h := range s.learners {
		if s.dueOne(h, now) != nil {
			broken = append(broken, h)
		}
	}
	for _, h := range broken {
		s.panics.Add(1)
		if !h.gone {
			s.rebuild(h, "sweep")
		}
	}
	if len(broken) > 0 {
		s.compactDirty()
	}
}

func (s *shard) dueOne(h *held, now int64) (pv any) {
	defer func() { pv = recover() }()
	if due := h.l.NextDue(); due == 0 || due > now {
		return nil
	}
	if hook := s.agg.cfg.opHook; hook != nil {
		hook(opSweep, h.l.Key())
	}
	s.eng.Due(h.l, now)
	if h.l.Dirty() {
		s.log.add(h, &noInput, &control{due: true, now: now})
		h.unguardedTo = s.log.pos
		s.markDirty(h)
	}
	return nil
}

// noInput is the Input of a logged control operation.
var noInput Input

// override applies an operator's override; on a panic the learner is
// rebuilt without it and the caller gets an error.
func (s *shard) override(o *override) error {
	h := s.learner(o.learner)
	if h == nil {
		return nil
	}
	if v := s.overrideOne(h, o); v != nil {
		s.panics.Add(1)
		s.rebuild(h, fmt.Sprintf("override: %v", v))
		s.compactDirty()
		return fmt.Errorf("panic in the engine, override not applied: %v", v)
	}
	return nil
}

func (s *shard) overrideOne(h *held, o *override) (pv any) {
	defer func() { pv = recover() }()
	if hook := s.agg.cfg.opHook; hook != nil {
		hook(opOverride, h.l.Key())
	}
	s.eng.Override(h.l, o.content, o.suppress, o.until, o.at, engine.NoSource)
	if h.l.Dirty() {
		s.log.add(h, &noInput, &control{ov: *o})
		h.unguardedTo = s.log.pos
		s.markDirty(h)
	}
	return nil
}
