package engine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/unpair/unpair/schema"
)

// TestTrimIsInvisible applies one random stream (answers, ratings,
// completions, voids, overrides, review sweeps from two partitions, over
// the sibling catalog and contents outside it, flushes with and without
// their Clean) to two learners of two equal engines, trimming one of them
// at random points, under every model. Right after each Trim the trimmed
// learner's MarshalBinary is the one it had before, and its MarshalBinary,
// Decisions and Changes equal the never-trimmed learner's; every later
// Changes and the final state are equal too (evidence applied after a
// Trim gives what it gives an untrimmed learner).
func TestTrimIsInvisible(t *testing.T) {
	for mi, model := range allModels {
		t.Run(string(model), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(mi)+5, 91))
			es := [2]*Engine{modelEngine(t, model), modelEngine(t, model)}
			ls := [2]*Learner{es[0].NewLearner("L"), es[1].NewLearner("L")}
			trimmedL, untouched := ls[0], ls[1]
			var ids []schema.UUID
			var off [2]int64
			at := day0
			trims, freed, voids := 0, 0, 0
			same := func(step int, what string) {
				t.Helper()
				s0, err0 := trimmedL.MarshalBinary()
				s1, err1 := untouched.MarshalBinary()
				if err0 != nil || err1 != nil || !bytes.Equal(s0, s1) {
					t.Fatalf("step %d, %s: states differ (errors %v, %v)", step, what, err0, err1)
				}
				if d0, d1 := fmt.Sprint(trimmedL.Decisions(nil)), fmt.Sprint(untouched.Decisions(nil)); d0 != d1 {
					t.Fatalf("step %d, %s: decisions differ: %s", step, what, firstDiff(d0, d1))
				}
			}
			flush := func(step int, what string, clean bool) {
				t.Helper()
				var outs [2]string
				var marks [2]Mark
				for k, l := range ls {
					var ch Changes
					l.Changes(&ch)
					marks[k] = ch.Mark
					outs[k] = canonicalChanges(&ch)
				}
				if outs[0] != outs[1] {
					t.Fatalf("step %d, %s: changes differ: %s", step, what, firstDiff(outs[0], outs[1]))
				}
				if clean {
					for k, l := range ls {
						l.Clean(marks[k])
					}
				}
			}
			for step := range 1500 {
				at += int64(r.IntN(4*3600)+1) * 1000
				if r.IntN(15) == 0 {
					at += int64(r.IntN(10)) * 24 * 3600 * 1000
				}
				switch k := r.IntN(30); {
				case k == 0:
					c := siblingContents[r.IntN(len(siblingContents))]
					until := int64(0)
					if r.IntN(2) == 0 {
						until = at + int64(r.IntN(5)+1)*24*3600*1000
					}
					suppress := r.IntN(3) > 0
					for i, l := range ls {
						es[i].Override(l, c, suppress, until, at, NoSource)
					}
				case k == 1:
					for i, l := range ls {
						es[i].Due(l, at)
					}
				default:
					ev := siblingEvidence(r, at, ids)
					if ev.Kind != schema.KindVoid {
						if r.IntN(3) == 0 { // contents outside the catalog: the items grow
							ev.Content, ev.Skills = fmt.Sprintf("extra/%d", r.IntN(120)), nil
						}
						ids = append(ids, ev.ID)
					} else {
						voids++
					}
					p := r.IntN(2)
					off[p]++
					for i, l := range ls {
						c := ev
						es[i].Apply(l, &c, Source{Partition: int32(p), Offset: off[p]})
					}
				}
				if r.IntN(5) == 0 {
					flush(step, "flush", r.IntN(4) != 0)
				}
				if r.IntN(7) == 0 {
					before, _ := trimmedL.MarshalBinary()
					n := trimmedL.Trim()
					after, _ := trimmedL.MarshalBinary()
					if !bytes.Equal(before, after) {
						t.Fatalf("step %d: Trim changed the state", step)
					}
					if n < 0 {
						t.Fatalf("step %d: Trim freed %d bytes", step, n)
					}
					if n > 0 {
						trims++
						freed += n
					}
					checkNoSlack(t, step, trimmedL)
					same(step, "after Trim")
					flush(step, "after Trim", r.IntN(2) == 0)
				}
			}
			same(1500, "end")
			flush(1500, "end", true)
			if trims < 50 || voids < 40 || len(trimmedL.items) < 100 {
				t.Fatalf("%d trims freeing memory, %d voids, %d pairs: the stream does not exercise Trim", trims, voids, len(trimmedL.items))
			}
			if trimmedL.Size() > untouched.Size() {
				t.Fatalf("trimmed learner holds %d bytes, untrimmed %d", trimmedL.Size(), untouched.Size())
			}
			t.Logf("%s: %d trims freed %d bytes; final size %d trimmed, %d untrimmed", model, trims, freed, trimmedL.Size(), untouched.Size())
		})
	}
}

// checkNoSlack requires every slice of a just-trimmed learner to hold no
// more than Trim leaves: empty slices hold no array, and every other one
// has at most its length rounded up to the size class as capacity, or is
// within the threshold (an eighth of its length, minTrimBytes).
func checkNoSlack(t *testing.T, step int, l *Learner) {
	t.Helper()
	slack(t, step, "items", l.items)
	slack(t, step, "skills", l.skills)
	slack(t, step, "links", l.links)
	slack(t, step, "win", l.win)
	slack(t, step, "ckI", l.ckI)
	slack(t, step, "ckS", l.ckS)
	slack(t, step, "events", l.events)
	slack(t, step, "engCh", l.engCh)
	if x := l.x; x != nil {
		slack(t, step, "offsets", x.offsets)
		slack(t, step, "origins", x.origins)
		slack(t, step, "manual", x.manual)
		slack(t, step, "pendVoid", x.pendVoid)
	}
}

func slack[T any](t *testing.T, step int, name string, s []T) {
	t.Helper()
	n, c := len(s), cap(s)
	if n == 0 {
		if s != nil {
			t.Fatalf("step %d: after Trim %s is empty with cap %d", step, name, c)
		}
		return
	}
	within := c-n <= n/8 || uintptr(c-n)*unsafe.Sizeof(s[0]) <= minTrimBytes
	if class := cap(append([]T(nil), make([]T, n)...)); c > class && !within {
		t.Fatalf("step %d: after Trim %s has len %d cap %d (size class: %d)", step, name, n, c, class)
	}
}

// TestTrimmedIsSizeClass: a trimmed slice's capacity is its length
// rounded up to the allocator's size class (what append from nil gives),
// a slice within the threshold is kept as is (same array), and an empty
// one loses its array.
func TestTrimmedIsSizeClass(t *testing.T) {
	f := func(n, c int, wantSame bool) {
		t.Helper()
		s := make([]item, n, c)
		for i := range s {
			s[i].content = uint32(i + 1)
		}
		got := trimmed(s)
		if len(got) != n {
			t.Fatalf("len %d cap %d: trimmed to len %d", n, c, len(got))
		}
		for i := range got {
			if got[i].content != uint32(i+1) {
				t.Fatalf("len %d cap %d: element %d changed", n, c, i)
			}
		}
		same := n > 0 && &got[0] == &s[0]
		if same != wantSame {
			t.Fatalf("len %d cap %d: kept the array %v, want %v", n, c, same, wantSame)
		}
		if n == 0 && got != nil {
			t.Fatalf("len 0 cap %d: kept an array of cap %d", c, cap(got))
		}
		if want := cap(append([]item(nil), make([]item, n)...)); !wantSame && cap(got) != want {
			t.Fatalf("len %d cap %d: trimmed to cap %d, want the size class's %d", n, c, cap(got), want)
		}
	}
	f(0, 0, false)
	f(0, 5, false)
	f(100, 113, false) // 13 spare > 100/8
	f(100, 112, true)  // 12 spare = 100/8: kept
	f(1, 2, false)
	f(8, 9, true) // 1 spare > 8/8 is false: kept
	f(12, 16, false)
	// A 1-byte element: 15 spare bytes are within one size class step.
	b := make([]byte, 1, 16)
	if got := trimmed(b); &got[0] != &b[0] {
		t.Fatal("1 byte of 16: reallocated within one size class step")
	}
}
