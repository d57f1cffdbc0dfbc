package schema

import (
	"bytes"
	"hash/maphash"
)

// smallDup is the entry count up to which duplicates are found by
// comparing every pair: for a handful of keys that beats hashing, and it
// needs no table. Above it, dupIndex keeps the cost linear.
const smallDup = 16

// dupIndex finds repeated strings among the spans of one parsed document
// (object keys, interaction component ids) in linear expected time: an
// open-addressing hash table of (hash, span) slots. It holds no pointers
// and is reused from call to call, so after warm-up it allocates nothing.
// The hash is seeded per index (hash/maphash), so a producer cannot craft
// keys that collide.
type dupIndex struct {
	seed   maphash.Seed
	seeded bool
	slots  []dupSlot
	mask   uint64
	count  int
}

type dupSlot struct {
	h      uint64 // hash with the top bit set; 0 marks an empty slot
	off, n int32  // span of the string (see jparser.span)
}

// reset empties the index, sized for about n strings.
func (x *dupIndex) reset(n int) {
	if !x.seeded {
		x.seed, x.seeded = maphash.MakeSeed(), true
	}
	size := 32
	for size < 2*n {
		size *= 2
	}
	if cap(x.slots) < size {
		x.slots = make([]dupSlot, size)
	} else {
		x.slots = x.slots[:size]
		clear(x.slots)
	}
	x.mask = uint64(size - 1)
	x.count = 0
}

// seen reports whether the string of span (off, n) in p is in the index;
// when it is not and add is set, it is added.
func (x *dupIndex) seen(p *jparser, off, n int32, add bool) bool {
	if x.slots == nil {
		x.reset(0)
	}
	k := p.span(off, n)
	h := maphash.Bytes(x.seed, k) | 1<<63
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		s := &x.slots[i]
		if s.h == 0 {
			if add {
				*s = dupSlot{h: h, off: off, n: n}
				x.count++
				if 2*x.count > len(x.slots) {
					x.grow()
				}
			}
			return false
		}
		if s.h == h && s.n == n && bytes.Equal(p.span(s.off, s.n), k) {
			return true
		}
	}
}

// grow doubles the table (only when more strings are added than reset
// was told about).
func (x *dupIndex) grow() {
	old := x.slots
	x.slots = make([]dupSlot, 2*len(old))
	x.mask = uint64(len(x.slots) - 1)
	for _, s := range old {
		if s.h == 0 {
			continue
		}
		i := s.h & x.mask
		for x.slots[i].h != 0 {
			i = (i + 1) & x.mask
		}
		x.slots[i] = s
	}
}
