package engine

import "unsafe"

// Trimming. The per-learner slices grow by a quarter (grow, growTo), so a
// learner in the middle of activity carries up to a quarter of spare
// capacity in each: the price of appending without reallocating every
// time. Most learners held in memory are idle, and for them that slack is
// pure waste. Trim gives it back: it is meant for learners that are clean
// and have not been touched for a while (the shard calls it for learners
// left untouched for a few releases), never for the Apply path.

// Trim reallocates each of the learner's slices whose spare capacity is
// more than an eighth of its length and more than the smallest allocator
// size class step (16 bytes) to its length, rounded up by the allocator
// to its size class (so the new capacity wastes nothing the allocator
// would not; when that is the capacity it has, the slice is kept), and
// drops the arrays of empty slices. Contents are kept
// exactly: the state, decisions, changes and every later Apply are those
// of the untrimmed learner (TestTrimIsInvisible). It returns the bytes
// freed, as Size counts them (0: nothing was reallocated).
//
// It allocates one array per trimmed slice and copies it: call it for idle
// learners, not after every change (a learner trimmed and then growing
// again reallocates at its next append).
func (l *Learner) Trim() int {
	before := l.Size()
	l.items = trimmed(l.items)
	l.skills = trimmed(l.skills)
	l.links = trimmed(l.links)
	l.win = trimmed(l.win)
	l.ckI = trimmed(l.ckI)
	l.ckS = trimmed(l.ckS)
	l.events = trimmed(l.events)
	l.engCh = trimmed(l.engCh)
	if x := l.x; x != nil {
		x.offsets = trimmed(x.offsets)
		x.origins = trimmed(x.origins)
		x.manual = trimmed(x.manual)
		x.pendVoid = trimmed(x.pendVoid)
	}
	return before - l.Size()
}

// minTrimBytes is the spare capacity, in bytes, below which a slice is
// never reallocated: the allocator's smallest size class step.
const minTrimBytes = 16

// trimmed returns s, or a copy of it without its slack: nil when s is
// empty, else an array of len(s) elements rounded up to the allocator's
// size class. s is returned as is when its spare capacity is at most an
// eighth of its length or at most minTrimBytes.
func trimmed[T any](s []T) []T {
	n, c := len(s), cap(s)
	if n == 0 {
		return nil
	}
	spare := c - n
	if spare <= n/8 || uintptr(spare)*unsafe.Sizeof(s[0]) <= minTrimBytes {
		return s
	}
	// append from nil allocates len(s) elements rounded up to the size
	// class, and the capacity covers the rounding. Above 1 KB the classes
	// are up to a fifth apart (4,096 then 4,864 bytes), so the rounding
	// can give the capacity s has: then the copy is dropped and s kept.
	if t := append([]T(nil), s...); cap(t) < c {
		return t
	}
	return s
}
