package shard

import (
	"fmt"

	"github.com/unpair/unpair/processor/engine"
)

// Recovery from panics inside a shard (doc.go, "Panics"). Whatever
// panicked, the learner it was working on may be half-updated, so it is
// rebuilt: dropped, reloaded from the store and its redo log (every input
// and control operation applied since its last Release) re-applied. The
// engine's position guards skip the entries the stored state already
// reflects, so a reload that reads the store before or after a write in
// flight ends in the same state.

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
func (s *shard) rebuild(h *held, why string) *held {
	key := h.l.Key()
	s.forget(key, h)
	s.rebuilds.Add(1)
	for {
		l, err := s.reload(key)
		if err != nil {
			s.failEntries(key, h, fmt.Sprintf("%s; then %v", why, err))
			return nil
		}
		if l == nil { // closing: unreleased changes are discarded
			return nil
		}
		h2 := s.hold(key, l)
		h.rebuiltAs = h2
		bad, v := s.replay(h2)
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

// reload loads a learner as on first touch, turning a panic of the loader
// or the decoder into an error.
func (s *shard) reload(key string) (l *engine.Learner, err error) {
	defer func() {
		if v := recover(); v != nil {
			s.panics.Add(1)
			l, err = nil, fmt.Errorf("cannot reload learner: panic: %v", v)
		}
	}()
	return s.load(key), nil
}

// replay re-applies a learner's redo entries in order. On a panic it
// returns the entry that panicked and the panic value.
func (s *shard) replay(h *held) (bad *redoEntry, pv any) {
	defer func() {
		if v := recover(); v != nil {
			pv = v
		}
	}()
	s.log.each(h, func(e *redoEntry) bool {
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
		s.markDirty(h)
	}
	return nil
}
