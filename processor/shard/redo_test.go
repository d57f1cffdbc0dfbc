package shard

import (
	"slices"
	"testing"
	"unsafe"

	"github.com/unpair/unpair/processor/engine"
	"github.com/unpair/unpair/schema"
)

// TestRedoLog: entries are released up to a Flush's position, across
// chunks; each walks a learner's live entries in order, including those
// of the learners it was rebuilt from and none of a learner dropped and
// loaded afresh or of a dead entry; emptied chunks go to the free list,
// and the free list shrinks towards recent use.
func TestRedoLog(t *testing.T) {
	var r redoLog
	a, b, old := &held{}, &held{}, &held{}
	in := func(off int64) *Input { return &Input{Source: engine.Source{Offset: off}} }
	f := func(h *held, want ...int64) {
		t.Helper()
		var got []int64
		r.each(h, func(e *redoEntry) bool { got = append(got, e.in.Source.Offset); return true })
		if !slices.Equal(got, want) {
			t.Fatalf("entries %v, want %v", got, want)
		}
	}
	for i := range 300 { // a and b interleaved over 3 chunks
		if i%2 == 0 {
			r.add(a, in(int64(i)), nil)
		} else {
			r.add(b, in(int64(i)), nil)
		}
	}
	if r.live() != 300 || r.chunks != 3 {
		t.Fatalf("live %d chunks %d, want 300 in 3", r.live(), r.chunks)
	}
	flush := r.pos
	r.add(a, in(300), nil)
	r.add(old, in(301), nil) // old is rebuilt as b below
	r.add(b, in(303), nil)
	r.releaseTo(flush)
	if r.live() != 3 || r.chunks != 1 || len(r.free) != 2 {
		t.Fatalf("live %d chunks %d free %d after the release: want 3 live in 1 chunk, 2 free", r.live(), r.chunks, len(r.free))
	}
	f(a, 300)
	f(b, 303)
	old.rebuiltAs = b
	f(b, 301, 303)
	fresh := &held{} // b dropped and loaded afresh: not b's entries
	f(fresh)
	r.each(b, func(e *redoEntry) bool { e.owner = nil; return false }) // the first one dies
	f(b, 303)
	r.releaseTo(r.pos)
	if r.live() != 0 || r.chunks != 1 || r.tail.n != 0 {
		t.Fatalf("live %d, chunks %d, tail entries %d after releasing all: want the tail chunk reused", r.live(), r.chunks, r.tail.n)
	}
	f(a)
	for range 10 * redoChunkLen { // a burst of 10 chunks, all released
		r.add(a, in(1), nil)
	}
	r.releaseTo(r.pos)
	peak := len(r.free)
	for range 10 {
		r.trim()
	}
	if len(r.free) >= peak || len(r.free) > 2 {
		t.Fatalf("free list %d after trims (peak %d, in use %d)", len(r.free), peak, r.chunks)
	}
	for range 3 * redoChunkLen { // written again in order after the trims
		r.add(b, in(7), nil)
	}
	n := 0
	r.each(b, func(*redoEntry) bool { n++; return true })
	if n != 3*redoChunkLen || r.live() != n {
		t.Fatalf("%d entries of b, %d live, want %d", n, r.live(), 3*redoChunkLen)
	}
}

// TestRedoLogSteadyStateAllocs: appending and releasing entries, as the
// apply path and Release do between flushes, allocates nothing once the
// chunks exist.
func TestRedoLogSteadyStateAllocs(t *testing.T) {
	var r redoLog
	hs := make([]held, 64)
	in := &Input{}
	cycle := func() {
		for i := range 1000 {
			r.add(&hs[i%len(hs)], in, nil)
		}
		r.releaseTo(r.pos)
		r.trim()
	}
	cycle()
	if n := testing.AllocsPerRun(20, cycle); n != 0 {
		t.Fatalf("%v allocations per 1000 entries appended and released, want 0", n)
	}
	s := unsafe.Sizeof(redoEntry{})
	t.Logf("redo entry: %d bytes, chunk %d bytes", s, unsafe.Sizeof(redoChunk{}))
	if s > 300 {
		t.Fatalf("redo entry is %d bytes, want at most 300 (doc.go says 256)", s)
	}
}

// BenchmarkRedoLog is the redo log's cost per input: one append (a copy
// of the Input) and its share of the release that drops it, with a
// release every 16,384 inputs as after a Flush.
func BenchmarkRedoLog(b *testing.B) {
	var r redoLog
	hs := make([]held, 4096)
	in := &Input{Evidence: schema.Evidence{Learner: "0123456789abcdef0123456789abcdef", Content: "q/1",
		Kind: schema.KindAttempt, HasSuccess: true}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.add(&hs[(i*2654435761)&(len(hs)-1)], in, nil)
		if i&(1<<14-1) == 1<<14-1 {
			r.releaseTo(r.pos)
			r.trim()
		}
	}
}
