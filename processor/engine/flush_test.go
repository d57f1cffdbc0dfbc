package engine

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/mastery"
	"github.com/unpair/unpair/schema"
)

var allModels = []Model{ModelBKT, ModelStreak, ModelEWMA, ModelElo}

func modelEngine(t testing.TB, model Model) *Engine {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Model = model
	cfg.Elo = mastery.Elo{K: 0.4, Threshold: 0.7}
	e, err := New(cfg, siblingCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// randomLearnerStep applies one random thing to a learner: mostly a
// statement (from one of two partitions), sometimes an operator's override
// or the review sweep. It returns the new time.
func randomLearnerStep(r *rand.Rand, e *Engine, l *Learner, at int64, ids *[]schema.UUID, off *[2]int64) int64 {
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
		e.Override(l, c, r.IntN(3) > 0, until, at, NoSource)
	case k == 1:
		e.Due(l, at)
	default:
		ev := siblingEvidence(r, at, *ids)
		ev.Learner = l.Key()
		if ev.Kind != schema.KindVoid {
			*ids = append(*ids, ev.ID)
		}
		p := r.IntN(2)
		off[p]++
		e.Apply(l, &ev, Source{Partition: int32(p), Offset: off[p]})
	}
	return at
}

// TestAppendBinaryMatchesReference: the allocation-free encoder writes the
// bytes of the map-based one it replaced, for varied states (several
// learners interning contents in different orders, voids, overrides, two
// partitions) under every model.
func TestAppendBinaryMatchesReference(t *testing.T) {
	for _, model := range allModels {
		t.Run(string(model), func(t *testing.T) {
			e := modelEngine(t, model)
			r := rand.New(rand.NewPCG(5, uint64(len(model))))
			var buf []byte
			compared := 0
			for trial := range 40 {
				ls := []*Learner{e.NewLearner(fmt.Sprintf("L%d", trial)), e.NewLearner(fmt.Sprintf("M%d", trial))}
				ids := make([][]schema.UUID, 2)
				offs := make([][2]int64, 2)
				at := day0
				for step := range 60 {
					k := r.IntN(2)
					at = randomLearnerStep(r, e, ls[k], at, &ids[k], &offs[k])
					if step%3 != 0 {
						continue
					}
					for _, l := range ls {
						var err error
						buf, err = l.AppendBinary(buf[:0])
						if err != nil {
							t.Fatal(err)
						}
						if want := l.appendBinaryReference(nil); !bytes.Equal(buf, want) {
							t.Fatalf("trial %d step %d: AppendBinary differs from the reference encoder\n got %x\nwant %x", trial, step, buf, want)
						}
						compared++
					}
				}
			}
			if compared < 1000 {
				t.Fatalf("only %d states compared", compared)
			}
		})
	}
}

// TestFlushPathAllocations: marshalling into a buffer with room and
// reading offsets into a slice with room allocate nothing.
func TestFlushPathAllocations(t *testing.T) {
	e := modelEngine(t, ModelElo)
	l := e.NewLearner("L")
	r := rand.New(rand.NewPCG(3, 3))
	var ids []schema.UUID
	var off [2]int64
	at := day0
	for range 80 {
		at = randomLearnerStep(r, e, l, at, &ids, &off)
	}
	buf, _ := l.AppendBinary(nil)
	buf = make([]byte, 0, 2*len(buf))
	if n := testing.AllocsPerRun(50, func() { buf, _ = l.AppendBinary(buf[:0]) }); n != 0 {
		t.Errorf("AppendBinary: %v allocations per run, want 0", n)
	}
	offs := make([]Source, 0, 4)
	if n := testing.AllocsPerRun(50, func() { offs = l.AppendOffsets(offs[:0]) }); n != 0 {
		t.Errorf("AppendOffsets: %v allocations per run, want 0", n)
	}
	if got, want := fmt.Sprint(l.AppendOffsets(nil)), fmt.Sprint(l.Offsets()); got != want || len(l.Offsets()) != 2 {
		t.Errorf("AppendOffsets %s, Offsets %s, want the same two partitions", got, want)
	}
}

// TestExplanationMatchesReference: the append-built sentence equals the
// fmt-built one it replaced, over every reason, model, number of skills,
// answer count, rating and time edge.
func TestExplanationMatchesReference(t *testing.T) {
	e := modelEngine(t, ModelElo)
	r := rand.New(rand.NewPCG(9, 9))
	times := []uint32{0, 1, 86399, 86400, 951782400, 1760000000, 4102444800, math.MaxUint32}
	ests := []float64{0, 0.004, 0.005, 0.5, 0.7, 0.955, 0.995, 1, 3, -0.2, 42.5}
	n := 0
	for reason := range numReasons {
		for _, model := range append(allModels, Model("other")) {
			for skills := range 4 {
				for range 40 {
					it := item{reason: reason}
					it.st.completedAt = times[r.IntN(len(times))]
					it.st.feedbackAt = times[r.IntN(len(times))]
					it.st.rating = []float32{-1, 0, 0.25, 0.4, 0.5, 1}[r.IntN(6)]
					attempts := r.IntN(6)
					correct := 0
					if attempts > 0 {
						correct = r.IntN(attempts + 1)
					}
					mv := view{model: model, est: ests[r.IntN(len(ests))], skills: skills, mastered: r.IntN(2) == 0,
						last: times[r.IntN(len(times))]}
					d := decision.Decision{Until: ms(times[r.IntN(len(times))]),
						Evidence: decision.Evidence{Attempts: attempts, Correct: correct, Streak: r.IntN(9)}}
					want := e.explainReference(&it, &d, mv)
					if got := string(e.appendExplanation(nil, &it, &d, mv)); got != want {
						t.Fatalf("reason %s model %s skills %d %+v: got %q, want %q", reasons[reason], model, skills, d.Evidence, got, want)
					}
					n++
				}
			}
		}
	}
	// and the decisions of real learners
	for _, model := range allModels {
		e := modelEngine(t, model)
		l := e.NewLearner("L")
		var ids []schema.UUID
		var off [2]int64
		at := day0
		for range 300 {
			at = randomLearnerStep(r, e, l, at, &ids, &off)
			snap := e.cat.Snapshot()
			for i := range l.items {
				it := &l.items[i]
				mv := e.view(l, it, snap)
				d := e.decisionFrom(it, mv)
				if want := e.explainReference(it, &d, mv); d.Explanation != want {
					t.Fatalf("%s: got %q, want %q", model, d.Explanation, want)
				}
				n++
			}
		}
	}
	t.Logf("%d explanations compared", n)
}
