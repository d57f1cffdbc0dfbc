package shard

// The redo log keeps, per learner, every input (and every control
// operation: sweep, override) applied to it since its last Release, so
// that a learner dropped after a panic can be rebuilt: reloaded from the
// store and the log re-applied (doc.go, "Panics").
//
// Entries live in shard-owned chunks of redoChunkLen, taken in apply order
// from a free list; a learner's entries form a singly linked list through
// them. A chunk goes back to the free list once every entry in it has been
// released, so a chunk is pinned only by its own unreleased entries, and
// those are the entries applied since the oldest unreleased Flush: a
// contiguous tail of the apply order. In steady state appending an entry
// copies the Input and links it, with no allocation.

// redoChunkLen is the number of entries per chunk (≈37 KB).
const redoChunkLen = 128

// redoEntry is one operation applied to a learner and not yet released.
type redoEntry struct {
	in    Input
	ctl   *control // nil: in is an input; else the control operation
	next  *redoEntry
	chunk *redoChunk
	seq   uint64 // the learner's append count before it
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
	used int // entries handed out
	live int // entries handed out and not yet released
}

// redoList is one learner's entries, oldest first. seq counts the entries
// ever appended, so a Flush mark records a position (seq at the Flush)
// that a later Release can pop up to, whatever was appended or released in
// between.
type redoList struct {
	head, tail *redoEntry
	seq        uint64
}

// redoLog is a shard's chunk allocator.
type redoLog struct {
	cur    *redoChunk
	free   []*redoChunk
	chunks int // chunks in use (handed out, not on the free list)
	live   int // entries not yet released
}

// add appends a copy of in (or the control operation) to the list.
func (r *redoLog) add(l *redoList, in *Input, ctl *control) {
	c := r.cur
	if c == nil || c.used == len(c.e) {
		c = r.chunk()
	}
	e := &c.e[c.used]
	c.used++
	c.live++
	r.live++
	e.in, e.ctl, e.chunk, e.seq = *in, ctl, c, l.seq
	l.seq++
	if l.tail != nil {
		l.tail.next = e
	} else {
		l.head = e
	}
	l.tail = e
}

// chunk makes a new current chunk, from the free list when it has one. The
// previous current chunk, when all its entries were released, is recycled.
func (r *redoLog) chunk() *redoChunk {
	if old := r.cur; old != nil && old.live == 0 {
		r.recycle(old)
	}
	var c *redoChunk
	if n := len(r.free); n > 0 {
		c = r.free[n-1]
		r.free[n-1] = nil
		r.free = r.free[:n-1]
	} else {
		c = new(redoChunk)
	}
	r.chunks++
	r.cur = c
	return c
}

// recycle puts a chunk whose entries are all released (and cleared) on the
// free list.
func (r *redoLog) recycle(c *redoChunk) {
	c.used = 0
	r.chunks--
	if r.cur == c {
		r.cur = nil
	}
	r.free = append(r.free, c)
}

// trim lets the free list shrink towards the chunks in use, so that a
// burst's peak is given back over a few releases.
func (r *redoLog) trim() {
	if extra := len(r.free) - r.chunks - 4; extra > 0 {
		k := len(r.free) - (extra+1)/2
		clear(r.free[k:])
		r.free = r.free[:k]
	}
}

// release frees one entry that is no longer in any list. The current
// chunk is reused from its start once empty; another chunk goes back to
// the free list.
func (r *redoLog) release(e *redoEntry) {
	c := e.chunk
	*e = redoEntry{} // drop its strings for the GC
	c.live--
	r.live--
	if c.live == 0 {
		if c == r.cur {
			c.used = 0
		} else {
			r.recycle(c)
		}
	}
}

// pop releases the list's entries appended before seq (a Flush mark).
func (r *redoLog) pop(l *redoList, seq uint64) {
	for e := l.head; e != nil && e.seq < seq; e = l.head {
		l.head = e.next
		if l.head == nil {
			l.tail = nil
		}
		r.release(e)
	}
}

// drop releases every entry of the list.
func (r *redoLog) drop(l *redoList) {
	r.pop(l, l.seq)
	l.head, l.tail = nil, nil
}

// remove unlinks one entry (prev is the entry before it, nil for the head)
// and releases it.
func (r *redoLog) remove(l *redoList, prev, e *redoEntry) {
	if prev == nil {
		l.head = e.next
	} else {
		prev.next = e.next
	}
	if l.tail == e {
		l.tail = prev
	}
	r.release(e)
}
