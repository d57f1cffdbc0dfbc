package eval

import (
	"sort"
	"time"

	"github.com/unpair/unpair/processor/replay"
)

// Result scores one policy on the test learners.
type Result struct {
	Policy Policy `json:"-"`
	Name   string `json:"policy"`

	Pairs      int `json:"pairs"`      // learner × problem-set pairs with at least one attempt
	Suppressed int `json:"suppressed"` // pairs suppressed at some point (including at the end of the data)

	Evaluable1 int     `json:"evaluable_1"` // suppressed pairs with ≥1 attempt after the suppression point
	Evaluable3 int     `json:"evaluable_3"`
	Precision1 float64 `json:"precision_1"` // share of Evaluable1 whose next attempt is correct
	Precision3 float64 `json:"precision_3"` // share of Evaluable3 whose next 3 attempts are all correct

	FalseSuppression float64 `json:"false_suppression_1"` // share of suppressed (saved) attempts answered wrong

	Mastered int     `json:"mastered"` // pairs whose last 3 attempts are correct
	Recall   float64 `json:"recall"`   // share of Mastered that got suppressed

	Attempts    int     `json:"attempts"`             // test attempts
	SavedTotal  int     `json:"saved_total"`          // attempts that the policy would have hidden
	SavedShare  float64 `json:"saved_share"`          // SavedTotal / Attempts
	SavedMedian float64 `json:"saved_median"`         // per suppressed pair
	ToSuppressN float64 `json:"to_suppress_attempts"` // median attempts on the pair before suppression
	ToSuppressT float64 `json:"to_suppress_seconds"`  // median seconds from the pair's first attempt to suppression
}

// Evaluable3Share is the share of suppressed pairs that precision@3 could judge.
func (r *Result) Evaluable3Share() float64 { return ratio(r.Evaluable3, r.Suppressed) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// obs is one attempt of a pair as the policy saw it.
type obs struct {
	sup     bool
	correct bool
	at      int64 // ms
	prev    int64 // ms of the learner's previous attempt (or this one's when first)
}

// pairKey is a learner × problem set.
type pairKey struct{ user, set int64 }

// Evaluate runs the policy over each learner's history (time order) and
// scores its suppression decisions. A pair is learner × problem set (the
// dataset's skill_id: the item's set of skills); every item of a problem set
// has the same skills, so skill-level mastery suppresses them together.
// Whether an attempt was suppressed is decided from the state before it.
func Evaluate(ds *replay.Dataset, learners [][]replay.Attempt, p Policy, par *Params) (Result, error) {
	if err := p.validate(); err != nil {
		return Result{}, err
	}
	s := &sim{p: p, par: par, ds: ds}
	r := Result{Policy: p, Name: p.String()}
	var savedPer, toN, toT []float64
	wrongSaved, p1, p3, rec := 0, 0, 0, 0
	for _, hist := range learners {
		if len(hist) == 0 {
			continue
		}
		l := newLearner()
		pairs := map[pairKey][]obs{}
		lastItem := map[pairKey]int64{}
		var order []pairKey
		prev := hist[0].Time / 1e6
		for i := range hist {
			a := &hist[i]
			at := a.Time / 1e6
			k := pairKey{a.User, a.SkillSet}
			if _, ok := pairs[k]; !ok {
				order = append(order, k)
			}
			o := obs{sup: s.suppressed(l, a.Item, a.SkillSet, at), correct: a.Correct, at: at, prev: prev}
			pairs[k] = append(pairs[k], o)
			lastItem[k] = a.Item
			s.apply(l, a)
			prev = at
			r.Attempts++
			if o.sup {
				r.SavedTotal++
				if !a.Correct {
					wrongSaved++
				}
			}
		}
		end := prev
		for _, k := range order {
			obs := pairs[k]
			r.Pairs++
			first := -1
			saved := 0
			for j, o := range obs {
				if o.sup {
					if first < 0 {
						first = j
					}
					saved++
				}
			}
			endSup := first < 0 && s.suppressed(l, lastItem[k], k.set, end)
			n := len(obs)
			if n >= 3 && obs[n-1].correct && obs[n-2].correct && obs[n-3].correct {
				r.Mastered++
				if first >= 0 || endSup {
					rec++
				}
			}
			if first < 0 && !endSup {
				continue
			}
			r.Suppressed++
			savedPer = append(savedPer, float64(saved))
			moment := end
			toN = append(toN, float64(n))
			if first >= 0 {
				toN[len(toN)-1] = float64(first)
				moment = obs[first].prev
				if rest := obs[first:]; len(rest) >= 1 {
					r.Evaluable1++
					if rest[0].correct {
						p1++
					}
					if len(rest) >= 3 {
						r.Evaluable3++
						if rest[0].correct && rest[1].correct && rest[2].correct {
							p3++
						}
					}
				}
			}
			toT = append(toT, float64(max(0, moment-obs[0].at))/1000)
		}
	}
	r.Precision1 = ratio(p1, r.Evaluable1)
	r.Precision3 = ratio(p3, r.Evaluable3)
	r.Recall = ratio(rec, r.Mastered)
	r.FalseSuppression = ratio(wrongSaved, r.SavedTotal)
	r.SavedShare = ratio(r.SavedTotal, r.Attempts)
	r.SavedMedian = median(savedPer)
	r.ToSuppressN = median(toN)
	r.ToSuppressT = median(toT)
	return r, nil
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	sort.Float64s(x)
	n := len(x)
	if n%2 == 1 {
		return x[n/2]
	}
	return (x[n/2-1] + x[n/2]) / 2
}

// Duration renders seconds for a table.
func Duration(sec float64) string {
	return (time.Duration(sec) * time.Second).String()
}
