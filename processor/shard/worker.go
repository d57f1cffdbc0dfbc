package shard

import (
	"context"
	"sort"
	"sync/atomic"
	"time"

	"github.com/unpair/unpair/processor/engine"
)

// held is a learner in memory.
type held struct {
	l       *engine.Learner
	lastUse uint64
	size    int
	pairs   int
	inDirty bool
}

// shard owns its learners; only its goroutine touches them.
type shard struct {
	id     int
	agg    *Aggregator
	eng    *engine.Engine
	q      chan msg
	budget int64

	learners map[string]*held
	dirty    []*held
	offsets  map[int32]int64
	tick     uint64
	ch       engine.Changes

	processed, duplicates, stale, voidUnmatched, voided, ignored atomic.Uint64
	loads, loadErrors, corrupt, evictions                        atomic.Uint64
	nLearners, pairs, bytes                                      atomic.Int64
}

func (s *shard) run() {
	defer s.agg.wg.Done()
	for {
		select {
		case m := <-s.q:
			s.handle(m)
		case <-s.agg.ctx.Done():
			return
		}
	}
}

func (s *shard) handle(m msg) {
	switch m.op {
	case opInputs:
		for i := range *m.inputs {
			s.apply(&(*m.inputs)[i])
		}
		s.agg.putInputs(m.inputs)
		return
	case opFlush:
		r := reply{shard: s.id, offsets: make(map[int32]int64, len(s.offsets))}
		for p, o := range s.offsets {
			r.offsets[p] = o
		}
		for _, h := range s.dirty {
			s.ch = engine.Changes{Decisions: s.ch.Decisions[:0], Events: s.ch.Events[:0]}
			h.l.Changes(&s.ch)
			state, err := h.l.MarshalBinary()
			if err != nil { // cannot happen for a learner the engine built; keep it dirty
				continue
			}
			r.changes = append(r.changes, Change{
				Learner: h.l.Key(), Partition: h.l.Partition(), State: state,
				Decisions: append([]decisionT(nil), s.ch.Decisions...),
				Events:    append([]eventT(nil), s.ch.Events...),
				Offsets:   h.l.Offsets(),
			})
			r.marks = append(r.marks, mark{key: h.l.Key(), mark: s.ch.Mark})
		}
		m.reply <- r
		return
	case opRelease:
		for _, mk := range m.marks {
			if h, ok := s.learners[mk.key]; ok {
				h.l.Clean(mk.mark)
			}
		}
		s.compactDirty()
		s.evict()
	case opSweep:
		for _, h := range s.learners {
			if due := h.l.NextDue(); due != 0 && due <= m.now {
				s.eng.Due(h.l, m.now)
				s.markDirty(h)
			}
		}
	case opDrop:
		for k, h := range s.learners {
			if m.drop(k, h.l.Partition()) {
				s.forget(k, h)
			}
		}
		for p := range m.parts {
			delete(s.offsets, p)
		}
		s.compactDirty()
	case opOverride:
		o := m.override
		h := s.learner(o.learner)
		if h != nil {
			s.eng.Override(h.l, o.content, o.suppress, o.until, o.at, engine.NoSource)
			s.markDirty(h)
		}
	}
	if m.reply != nil {
		m.reply <- reply{shard: s.id}
	}
}

func (s *shard) apply(in *Input) {
	src := in.Source
	if src.Offset >= 0 {
		if cur, ok := s.offsets[src.Partition]; !ok || src.Offset > cur {
			s.offsets[src.Partition] = src.Offset
		}
	}
	h := s.learner(in.Evidence.Learner)
	if h == nil {
		s.ignored.Add(1)
		return
	}
	switch s.eng.Apply(h.l, &in.Evidence, src) {
	case engine.Applied:
		s.processed.Add(1)
	case engine.Duplicate:
		s.duplicates.Add(1)
	case engine.Stale:
		s.stale.Add(1)
	case engine.VoidUnmatched:
		s.voidUnmatched.Add(1)
	case engine.Voided:
		s.voided.Add(1)
	default:
		s.ignored.Add(1)
	}
	if p := h.l.Pairs(); p != h.pairs {
		s.pairs.Add(int64(p - h.pairs))
		h.pairs = p
	}
	s.markDirty(h)
}

func (s *shard) markDirty(h *held) {
	if h.l.Dirty() && !h.inDirty {
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
	l := s.load(key)
	if l == nil {
		return nil
	}
	h := &held{l: l, lastUse: s.tick, pairs: l.Pairs(), size: l.Size()}
	s.learners[key] = h
	s.nLearners.Add(1)
	s.pairs.Add(int64(h.pairs))
	s.bytes.Add(int64(h.size))
	return h
}

func (s *shard) load(key string) *engine.Learner {
	ld := s.agg.cfg.Loader
	if ld == nil {
		return s.eng.NewLearner(key)
	}
	backoff := 10 * time.Millisecond
	for {
		data, err := ld(s.agg.ctx, key)
		if err == nil {
			if data == nil {
				return s.eng.NewLearner(key)
			}
			l, err := s.eng.LoadLearner(key, data)
			if err != nil {
				s.corrupt.Add(1)
				return s.eng.NewLearner(key)
			}
			s.loads.Add(1)
			return l
		}
		s.loadErrors.Add(1)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-s.agg.ctx.Done():
			t.Stop()
			return nil
		}
		backoff = min(2*backoff, time.Second)
	}
}

func (s *shard) forget(k string, h *held) {
	delete(s.learners, k)
	h.inDirty = false
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

var _ = context.Background
