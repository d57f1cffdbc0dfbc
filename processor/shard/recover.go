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
		f.Unreleased = h.redo.head != nil
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
	list := h.redo
	h.redo = redoList{}
	s.forget(key, h)
	s.rebuilds.Add(1)
	prevHeld := h
	for {
		l, err := s.reload(key)
		if err != nil {
			s.failEntries(key, &list, fmt.Sprintf("%s; then %v", why, err))
			return nil
		}
		if l == nil { // closing: unreleased changes are discarded
			s.log.drop(&list)
			return nil
		}
		h2 := s.hold(key, l)
		h2.redo = list
		prevHeld.rebuiltAs = h2
		bad, before, v := s.replay(h2)
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
		s.log.remove(&h2.redo, before, bad)
		list = h2.redo
		h2.redo = redoList{}
		s.forget(key, h2)
		prevHeld = h2
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
// returns the entry that panicked, the one before it (nil for the head)
// and the panic value.
func (s *shard) replay(h *held) (bad, before *redoEntry, pv any) {
	defer func() {
		if v := recover(); v != nil {
			pv = v
		}
	}()
	for bad = h.redo.head; bad != nil; before, bad = bad, bad.next {
		s.replays.Add(1)
		s.redoOne(h, bad)
	}
	return nil, nil, nil
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

// failEntries reports every input of a redo list failed and releases the
// list.
func (s *shard) failEntries(key string, list *redoList, why string) {
	for e := list.head; e != nil; e = e.next {
		if e.ctl == nil {
			s.failed = append(s.failed, Failure{Learner: key, Source: e.in.Source, Panic: why})
		}
	}
	s.log.drop(list)
}

// abandon gives up a learner that panics even after a rebuild: its
// unreleased inputs are reported failed and it is dropped (the store keeps
// its last durable state; its next input reloads it).
func (s *shard) abandon(h *held, why string) {
	key := h.l.Key()
	list := h.redo
	h.redo = redoList{}
	s.forget(key, h)
	s.failEntries(key, &list, why)
}

// release applies a batch's marks: each learner is cleaned up to its mark
// and its redo entries before the mark are released. A learner rebuilt
// since the Flush keeps its dirty state (it is written again, harmlessly)
// but its entries before the mark are released all the same: Release
// means the batch, which held them, is durable.
func (s *shard) release(marks []mark, nFailed int) {
	for _, mk := range marks {
		h := mk.h
		for h.gone && h.rebuiltAs != nil {
			h = h.rebuiltAs
		}
		if h.gone {
			continue
		}
		if h == mk.h {
			if v := s.clean(h, mk.mark); v != nil {
				s.panics.Add(1)
				if h = s.rebuild(h, fmt.Sprintf("release: %v", v)); h == nil {
					continue
				}
			}
		}
		s.log.pop(&h.redo, mk.redo)
	}
	if n := min(nFailed, len(s.failed)); n > 0 {
		k := copy(s.failed, s.failed[n:])
		clear(s.failed[k:])
		s.failed = s.failed[:k]
	}
	s.compactDirty()
	s.evict()
	s.log.trim()
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
		s.log.add(&h.redo, &noInput, &control{due: true, now: now})
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
		s.log.add(&h.redo, &noInput, &control{ov: *o})
		s.markDirty(h)
	}
	return nil
}
