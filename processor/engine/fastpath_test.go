package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/unpair/unpair/processor/mastery"
	"github.com/unpair/unpair/schema"
)

// TestEngApplyMatchesPairApply: the compact engagement update (eng.apply)
// gives exactly what engagement.Pair.Apply gives through the Pair, over
// random states (saturated counters, progress or not, times around the
// entry's) and random entries of every kind, flag combination, verb code
// (unknown ones included), duration (beyond the cap too) and progress.
func TestEngApplyMatchesPairApply(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	u16 := func() uint16 {
		switch r.IntN(4) {
		case 0:
			return math.MaxUint16 - uint16(r.IntN(2))
		case 1:
			return 0
		}
		return uint16(r.IntN(100))
	}
	tm := func() uint32 {
		if r.IntN(5) == 0 {
			return 0
		}
		return 1_700_000_000 + uint32(r.IntN(20))
	}
	for i := range 300_000 {
		g := eng{first: tm(), last: tm(), started: tm(), completed: tm(), spent: uint32(r.IntN(1 << 20)),
			launches: u16(), attempts: u16(), completions: u16(), verb: uint16(r.IntN(40)), kind: schema.Kind(r.IntN(12))}
		if r.IntN(7) == 0 {
			g.spent = math.MaxUint32 - uint32(r.IntN(1000))
		}
		if r.IntN(2) == 0 {
			g.flags |= gHasProgress
			g.progress = uint16(r.IntN(progressScale + 1))
		}
		en := entry{time: tm() | 1, kind: schema.Kind(r.IntN(12)), flags: uint8(r.IntN(256)), verb: uint16(r.IntN(60)),
			dur: uint32(r.IntN(100_000_000)), scaled: float32(r.Float64())}
		if r.IntN(3) == 0 {
			en.dur = 0
		}
		if en.flags&eHasProgress != 0 {
			en.progress = uint16(r.IntN(progressScale + 1))
		}
		want, got := g, g
		want.applyPair(&en)
		got.apply(&en)
		if got != want {
			t.Fatalf("case %d: entry %+v on %+v:\n got %+v\nwant %+v", i, en, g, got, want)
		}
	}
}

// TestHalfLifeTable: the table gives mastery.HalfLife in whole seconds for
// every count the cells can hold.
func TestHalfLifeTable(t *testing.T) {
	for right := 0; right <= math.MaxUint16; right += 1 + right/16 {
		for wrong := 0; wrong <= math.MaxUint16; wrong += 1 + wrong/16 {
			if got, want := halfLifeSecs(right, wrong), int64(mastery.HalfLife(right, wrong)/time.Second); got != want {
				t.Fatalf("HalfLife(%d, %d): %d s, want %d", right, wrong, got, want)
			}
		}
	}
}

// TestEloMasteredMatchesSigmoid: the logit comparison says what computing
// P(correct) says, at random points and right around the threshold, for
// usual and extreme thresholds.
func TestEloMasteredMatchesSigmoid(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	for _, thr := range []float64{0.7, 0.5, 0.95, 0.05, 0.999999999, 1e-9, 0.7000000000000001, 1 - 1e-15} {
		cfg := DefaultConfig()
		cfg.Elo.Threshold = thr
		e, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if thr == 0.7 && math.IsInf(e.eloBand, 1) {
			t.Fatal("threshold 0.7: the logit comparison is off")
		}
		cut := e.eloCut
		if math.IsInf(e.eloBand, 1) {
			cut = math.Log(thr / (1 - thr))
			if math.IsInf(cut, 0) || math.IsNaN(cut) {
				cut = 0
			}
		}
		for i := range 200_000 {
			var a, d float64
			switch i % 3 {
			case 0:
				a, d = float64(float32(r.NormFloat64()*3)), r.NormFloat64()*2
			case 1: // within a few ulps to a few bands of the cut
				d = float64(r.IntN(9) - 4)
				x := cut + (r.Float64()-0.5)*1e-5*max(1, math.Abs(cut))
				a = float64(float32(x + d))
			default:
				d = r.NormFloat64()
				a = float64(float32(cut + d))
				for range r.IntN(3) {
					a = float64(math.Nextafter32(float32(a), float32(math.Inf(r.IntN(2)*2-1))))
				}
			}
			if got, want := e.eloMastered(a, d), mastery.Sigmoid(a-d) >= thr; got != want {
				t.Fatalf("threshold %v: ability %v difficulty %v: %v, sigmoid %v", thr, a, d, got, mastery.Sigmoid(a-d))
			}
		}
	}
}

// TestMasteryOfMatchesView: judge's estimate-free masteryOf agrees with
// view (mastered, latest practice, review due) on every pair of random
// learners, for every model.
func TestMasteryOfMatchesView(t *testing.T) {
	for _, model := range allModels {
		e := modelEngine(t, model)
		r := rand.New(rand.NewPCG(12, uint64(len(model))))
		checked, mastered := 0, 0
		for trial := range 60 {
			l := e.NewLearner(fmt.Sprint(trial))
			var ids []schema.UUID
			var off [2]int64
			at := day0
			for range 60 {
				at = randomLearnerStep(r, e, l, at, &ids, &off)
				snap := e.cat.Snapshot()
				for i := range l.items {
					v := e.view(l, &l.items[i], snap)
					m, last, until := e.masteryOf(l, &l.items[i], snap)
					if m != v.mastered || last != v.last || until != v.until {
						t.Fatalf("%s: masteryOf %v %d %d, view %v %d %d", model, m, last, until, v.mastered, v.last, v.until)
					}
					checked++
					if m {
						mastered++
					}
				}
			}
		}
		if mastered < checked/10 {
			t.Fatalf("%s: only %d of %d mastered", model, mastered, checked)
		}
	}
}
