package shard

// Idle trim. A learner's slices grow by a quarter as it changes
// (engine.Learner.Trim explains why); once it stops changing, that slack
// is waste, and most held learners are idle. A release that leaves a
// learner clean records the release's number in it (cleanAt) and, unless
// it is queued already, queues it (cooling, by key, in release order). A
// later release looks at the front of the queue: a learner still clean
// and unchanged TrimAfter releases after the one that last cleaned it is
// trimmed (once: it leaves the queue); one changed or cleaned again since
// goes back to the end of the queue. So a learner changed at least once
// every TrimAfter flushes is never trimmed and never reallocates at every
// flush, and an idle one is trimmed once, between TrimAfter and
// 2 x TrimAfter releases after it went idle.
//
// The queue holds at most one live entry per held learner (16 bytes and
// the key, which the learner holds too), and by key, so that it never
// keeps an evicted learner's state alive; the work per release is
// proportional to the learners released and the entries come due, never
// a scan of every held learner.

// DefaultTrimAfter is Config.TrimAfter's default: 240 releases, a minute
// at the pipeline's default flush interval (250 ms), less when flushes
// are triggered by their size.
const DefaultTrimAfter = 240

// cooling is a queued learner and the release that queued it (the entry
// is live while the held learner's queuedAt is that release).
type cooling struct {
	key string
	at  uint64
}

// trimIdle notes the learners this release left clean and trims the
// queued ones that stayed clean and unchanged for TrimAfter releases.
func (s *shard) trimIdle(marks []mark) {
	after := uint64(s.agg.cfg.TrimAfter)
	if s.agg.cfg.TrimAfter < 0 {
		return
	}
	s.releases++
	for _, mk := range marks {
		if h := mk.h; !h.gone && !h.inDirty && !h.l.Dirty() {
			h.cleanAt = s.releases
			s.queueTrim(h)
		}
	}
	k := 0
	for ; k < len(s.cooling) && s.cooling[k].at+after <= s.releases; k++ {
		c := s.cooling[k]
		h := s.learners[c.key]
		if h == nil || h.queuedAt != c.at {
			continue // evicted, dropped or queued again: not this entry's
		}
		h.queuedAt = 0
		if h.inDirty || h.l.Dirty() || h.cleanAt+after > s.releases {
			s.queueTrim(h) // changed since: look again later
			continue
		}
		h.l.Trim()
		s.trims.Add(1)
		if sz := h.l.Size(); sz != h.size {
			s.bytes.Add(int64(sz - h.size))
			h.size = sz
		}
	}
	if k > 0 {
		clear(s.cooling[:k])
		s.cooling = s.cooling[k:]
	}
}

// queueTrim queues a learner for the idle trim unless it is queued.
func (s *shard) queueTrim(h *held) {
	if h.queuedAt != 0 {
		return
	}
	h.queuedAt = s.releases
	s.cooling = append(s.cooling, cooling{key: h.l.Key(), at: s.releases})
}
