package shard

import (
	"fmt"

	"github.com/unpair/unpair/processor/engine"
)

// Intern table compaction (doc.go, "Memory"). Each shard's engine interns
// content ids, skill ids and skill sets; the tables would grow with every
// new id for as long as the process runs, even after the learners holding
// them are evicted or dropped. Between batches (after a batch of inputs, a
// Release or a Drop, never inside one), when a table has grown past
// max(2x its size after the last compaction, the floor), the shard has its
// engine compact over the learners it holds: every held learner is
// remapped, and ids no held learner references are dropped. Learners the
// shard no longer holds (dropped, evicted, rebuilt) are never used again,
// so they need no remapping.

// maybeCompact compacts the engine's intern tables when they have grown
// enough, and publishes their size.
func (s *shard) maybeCompact() {
	if s.eng.CompactDue(s.agg.cfg.compactFloor) {
		if v := s.compact(); v != nil {
			s.panics.Add(1)
			s.rebuildAll(fmt.Sprintf("compact: %v", v))
		}
	}
	c, k, t := s.eng.Interned()
	s.interned.Store(int64(c + k + t))
}

// compact runs one compaction over the held learners; it returns a panic
// value, or the engine's error (which cannot happen: every held learner is
// the shard engine's own, listed once).
func (s *shard) compact() (pv any) {
	defer func() {
		if v := recover(); v != nil {
			pv = v
		}
	}()
	if hook := s.agg.cfg.opHook; hook != nil {
		hook(opCompact, "")
	}
	err := s.eng.Compact(func(yield func(*engine.Learner) bool) {
		for _, h := range s.learners {
			if !yield(h.l) {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	s.compactions.Add(1)
	return nil
}

// rebuildAll recovers from a failed compaction: the engine keeps its old
// tables whole until its last step (engine.Compact), but some held learners
// may have been remapped, so every held learner is rebuilt (reloaded from
// the store, its redo entries re-applied), as after any other panic.
// Costly, and only for a bug.
func (s *shard) rebuildAll(why string) {
	held := make([]*held, 0, len(s.learners))
	for _, h := range s.learners {
		held = append(held, h)
	}
	for _, h := range held {
		if !h.gone {
			s.rebuild(h, why)
		}
	}
	s.compactDirty()
}
