package shard

// The redo log keeps every input (and every control operation: sweep,
// override) a shard applied since the last Release, in apply order, each
// with the held learner it was applied to, so that a learner dropped after
// a panic can be rebuilt: reloaded from the store and its entries
// re-applied (doc.go, "Panics").
//
// It is a FIFO of chunks of redoChunkLen entries. Appending copies the
// Input into the tail chunk: sequential writes, no learner-side state, no
// allocation once the chunks exist. A Flush records the log's position;
// its Release drops every entry before it at once, which is right because
// every learner with an entry before that position was dirty at the Flush
// and is in the batch now durable. Emptied chunks are kept on a free list
// sized by recent use. A
// rebuild, which is rare, scans the live entries for the learner's own.

// redoChunkLen is the number of entries per chunk (32 KB).
const redoChunkLen = 128

// redoEntry is one operation applied to a learner and not yet released.
type redoEntry struct {
	in    Input
	ctl   *control // nil: in is an input; else the control operation
	owner *held    // the learner it was applied to; nil: dead (dropped from the redo)
}

// control is a logged control operation: a review sweep at now, or an
// override.
type control struct {
	due bool
	now int64
	ov  override
}

type redoChunk struct {
	e    [redoChunkLen]redoEntry
	n    int // entries written
	next *redoChunk
}

// redoLog is a shard's redo log. pos counts the entries ever appended;
// the live ones are those at or after base, starting at head.e[hpos].
type redoLog struct {
	head, tail *redoChunk
	hpos       int
	base, pos  uint64
	free       []*redoChunk
	chunks     int // chunks in the FIFO
	peak       int // most chunks in the FIFO since the last trim
}

// live is the number of entries not yet released.
func (r *redoLog) live() int { return int(r.pos - r.base) }

// add appends a copy of in (or the control operation) applied to owner.
func (r *redoLog) add(owner *held, in *Input, ctl *control) {
	c := r.tail
	if c == nil || c.n == len(c.e) {
		c = r.grow()
	}
	e := &c.e[c.n]
	c.n++
	r.pos++
	e.in, e.ctl, e.owner = *in, ctl, owner
}

// grow links a new tail chunk, from the free list when it has one.
func (r *redoLog) grow() *redoChunk {
	var c *redoChunk
	if n := len(r.free); n > 0 {
		c = r.free[n-1]
		r.free[n-1] = nil
		r.free = r.free[:n-1]
	} else {
		c = new(redoChunk)
	}
	if r.tail == nil {
		r.head = c
	} else {
		r.tail.next = c
	}
	r.tail = c
	r.chunks++
	r.peak = max(r.peak, r.chunks)
	return c
}

// releaseTo drops the entries before position p (a Flush's); emptied
// chunks go to the free list, and an emptied tail chunk is
// reused from its start.
func (r *redoLog) releaseTo(p uint64) {
	for r.base < p && r.head != nil {
		c := r.head
		k := min(c.n-r.hpos, int(min(p-r.base, uint64(len(c.e)))))
		for i := r.hpos; i < r.hpos+k; i++ {
			// The owner may be a dropped learner's state: let it go. The
			// input's strings stay until the slot is written again (the
			// log's peak bounds them) or the chunk is trimmed away.
			c.e[i].owner, c.e[i].ctl = nil, nil
		}
		r.hpos += k
		r.base += uint64(k)
		if r.hpos < c.n {
			return // p is inside this chunk
		}
		if c == r.tail { // all released: reuse it from the start
			c.n, r.hpos = 0, 0
			return
		}
		r.head = c.next
		c.n, c.next, r.hpos = 0, nil, 0
		r.chunks--
		r.free = append(r.free, c)
	}
}

// trim lets the free list shrink towards what the last interval between
// trims needed (its peak of chunks in use, plus two), by half the excess
// per call: steady state allocates nothing, and a burst's peak is given
// back over a few releases.
func (r *redoLog) trim() {
	keep := r.peak - r.chunks + 2
	if extra := len(r.free) - keep; extra > 0 {
		k := len(r.free) - (extra+1)/2
		clear(r.free[k:])
		r.free = r.free[:k]
	}
	r.peak = r.chunks
}

// each calls f with every live entry of learner h (entries applied to h
// or to the learners it was rebuilt from), oldest first, until f returns
// false.
func (r *redoLog) each(h *held, f func(e *redoEntry) bool) { r.eachFrom(h, 0, f) }

// eachFrom is each over the entries at or after log position from.
func (r *redoLog) eachFrom(h *held, from uint64, f func(e *redoEntry) bool) {
	p := r.base
	for c, i := r.head, r.hpos; c != nil; c, i = c.next, 0 {
		for ; i < c.n; i, p = i+1, p+1 {
			e := &c.e[i]
			if e.owner == nil || !e.owner.leadsTo(h) {
				continue
			}
			e.owner = h // shortens the next walk
			if p < from {
				continue
			}
			if !f(e) {
				return
			}
		}
	}
}

// leadsTo reports whether h is o or was rebuilt from it.
func (o *held) leadsTo(h *held) bool {
	for ; o != nil; o = o.rebuiltAs {
		if o == h {
			return true
		}
	}
	return false
}
