package fit

import (
	"math"
	"math/rand/v2"

	"github.com/unpair/unpair/processor/mastery"
)

// Status says how a skill's parameters were obtained.
type Status string

const (
	Fitted    Status = "fitted"     // EM found a non-degenerate fit
	ColdStart Status = "cold_start" // too little data or only degenerate fits: streak rule
)

// BKTOptions control FitBKT.
type BKTOptions struct {
	Forget       bool    // fit F (pyBKT forgets=True); otherwise F = 0
	Restarts     int     // random starts; default 5
	MaxIter      int     // EM iterations per start; default 200
	Tol          float64 // stop when the log-likelihood improves less than this; default 1e-6 per answer
	Seed         uint64  // random starts are drawn from this seed
	MinSequences int     // fewer learner-skill sequences: cold start; default 10
	MinAnswers   int     // fewer answers: cold start; default 50
}

// DefaultBKTOptions returns the options `unpair fit` uses.
func DefaultBKTOptions() BKTOptions {
	return BKTOptions{Forget: true, Restarts: 5, MaxIter: 200, Tol: 1e-6, Seed: 1, MinSequences: 10, MinAnswers: 50}
}

func (o *BKTOptions) defaults() {
	d := DefaultBKTOptions()
	if o.Restarts <= 0 {
		o.Restarts = d.Restarts
	}
	if o.MaxIter <= 0 {
		o.MaxIter = d.MaxIter
	}
	if o.Tol <= 0 {
		o.Tol = d.Tol
	}
}

// BKTFit is the outcome of fitting one skill.
type BKTFit struct {
	Params     mastery.BKT `json:"params"`
	Status     Status      `json:"status"`
	LogLik     float64     `json:"loglik"`     // of the chosen fit; 0 for cold start
	Sequences  int         `json:"sequences"`  // learner-skill sequences
	Answers    int         `json:"answers"`    // answers in them
	Degenerate int         `json:"degenerate"` // random starts that ended degenerate
	Iterations int         `json:"iterations"` // EM iterations of the chosen start
}

// bounds keep parameters off 0 and 1, where EM gets stuck.
const lo, hi = 1e-6, 1 - 1e-6

func clamp(x float64) float64 { return min(hi, max(lo, x)) }

// posterior returns P(known | answer) given prior P(known) = pk, through
// the engine's update with learning and forgetting switched off.
func posterior(p mastery.BKT, pk float64, correct bool) float64 {
	p.T, p.F = 0, 0
	return p.Update(pk, correct)
}

// LogLikelihood returns the log-likelihood of the sequences under p, by the
// engine's forward arithmetic.
func LogLikelihood(p mastery.BKT, seqs [][]bool) float64 {
	ll := 0.0
	for _, s := range seqs {
		pk := p.L0
		for _, c := range s {
			pc := p.PCorrect(pk)
			if c {
				ll += math.Log(pc)
			} else {
				ll += math.Log(1 - pc)
			}
			pk = p.Update(pk, c)
		}
	}
	return ll
}

// Predict returns, for each answer of a sequence, the probability of a
// correct answer before it is seen and P(known) before it, as pyBKT's
// predict_onestep does.
func Predict(p mastery.BKT, seq []bool) (correct, known []float64) {
	correct = make([]float64, len(seq))
	known = make([]float64, len(seq))
	pk := p.L0
	for i, c := range seq {
		known[i] = pk
		correct[i] = p.PCorrect(pk)
		pk = p.Update(pk, c)
	}
	return correct, known
}

// counts are the expected sufficient statistics of one E step.
type counts struct {
	init               float64 // sum over sequences of P(known at 1)
	seqs               float64
	learn, fromUnknown float64 // expected unknown→known, and time in unknown (excluding last)
	forget, fromKnown  float64 // expected known→unknown, and time in known (excluding last)
	guess, unknown     float64 // expected correct while unknown, time in unknown
	slip, known        float64 // expected wrong while known, time in known
	loglik             float64
}

// estep runs forward-backward over every sequence. scratch is reused.
func estep(p mastery.BKT, seqs [][]bool, scratch *[]float64) counts {
	var n counts
	for _, s := range seqs {
		T := len(s)
		if T == 0 {
			continue
		}
		if cap(*scratch) < 2*T {
			*scratch = make([]float64, 2*T)
		}
		buf := (*scratch)[:2*T]
		post := buf[:T]  // filtered P(known | o_1..t)
		scale := buf[T:] // P(o_t | o_1..t-1)
		pk := p.L0
		for t, c := range s {
			pc := p.PCorrect(pk)
			if c {
				scale[t] = pc
			} else {
				scale[t] = 1 - pc
			}
			n.loglik += math.Log(scale[t])
			post[t] = posterior(p, pk, c)
			pk = p.Update(pk, c)
		}
		emit := func(known, c bool) float64 {
			switch {
			case known && c:
				return 1 - p.S
			case known:
				return p.S
			case c:
				return p.G
			}
			return 1 - p.G
		}
		// Backward: beta_T = 1; beta_t(i) = sum_j A_ij b_j(o_t+1) beta_t+1(j) / scale_t+1.
		// Walk backwards accumulating gamma and xi on the fly.
		betaU, betaK := 1.0, 1.0
		for t := T - 1; t >= 0; t-- {
			gk := post[t] * betaK
			gu := (1 - post[t]) * betaU
			z := gk + gu
			gk, gu = gk/z, gu/z
			if s[t] {
				n.guess += gu
			} else {
				n.slip += gk
			}
			n.unknown += gu
			n.known += gk
			if t == 0 {
				n.init += gk
				n.seqs++
				break
			}
			// xi between t-1 and t, and beta_{t-1}.
			c := s[t]
			bK, bU := emit(true, c)*betaK/scale[t], emit(false, c)*betaU/scale[t]
			aU, aK := 1-post[t-1], post[t-1]
			xiUK := aU * p.T * bK
			xiUU := aU * (1 - p.T) * bU
			xiKU := aK * p.F * bU
			xiKK := aK * (1 - p.F) * bK
			zx := xiUK + xiUU + xiKU + xiKK
			n.learn += xiUK / zx
			n.fromUnknown += (xiUK + xiUU) / zx
			n.forget += xiKU / zx
			n.fromKnown += (xiKU + xiKK) / zx
			betaU = (1-p.T)*bU + p.T*bK
			betaK = p.F*bU + (1-p.F)*bK
		}
	}
	return n
}

// mstep turns expected counts into parameters.
func mstep(n counts, forget bool) mastery.BKT {
	var p mastery.BKT
	p.L0 = clamp(n.init / math.Max(n.seqs, 1e-300))
	p.T = clamp(n.learn / math.Max(n.fromUnknown, 1e-300))
	if forget {
		p.F = clamp(n.forget / math.Max(n.fromKnown, 1e-300))
	}
	p.G = clamp(n.guess / math.Max(n.unknown, 1e-300))
	p.S = clamp(n.slip / math.Max(n.known, 1e-300))
	return p
}

// EM runs Baum-Welch from start until the log-likelihood stops improving;
// it returns the parameters, their log-likelihood and the iterations run.
func EM(start mastery.BKT, seqs [][]bool, forget bool, maxIter int, tol float64) (mastery.BKT, float64, int) {
	answers := 0
	for _, s := range seqs {
		answers += len(s)
	}
	p := start
	if !forget {
		p.F = 0
	}
	var scratch []float64
	prev := math.Inf(-1)
	for it := 1; it <= maxIter; it++ {
		n := estep(p, seqs, &scratch)
		if n.loglik-prev < tol*float64(answers) && it > 1 {
			return p, n.loglik, it
		}
		prev = n.loglik
		p = mstep(n, forget)
	}
	return p, LogLikelihood(p, seqs), maxIter
}

// randomStart draws a starting point: plausible, non-degenerate values.
func randomStart(r *rand.Rand, forget bool) mastery.BKT {
	p := mastery.BKT{
		L0: 0.05 + 0.9*r.Float64(),
		T:  0.02 + 0.4*r.Float64(),
		G:  0.05 + 0.35*r.Float64(),
		S:  0.05 + 0.35*r.Float64(),
	}
	if forget {
		p.F = 0.001 + 0.1*r.Float64()
	}
	return p
}

// FitBKT fits one skill's parameters from its learner-skill sequences.
func FitBKT(seqs [][]bool, opt BKTOptions) BKTFit {
	opt.defaults()
	f := BKTFit{Status: ColdStart}
	for _, s := range seqs {
		if len(s) > 0 {
			f.Sequences++
			f.Answers += len(s)
		}
	}
	if f.Sequences < opt.MinSequences || f.Answers < opt.MinAnswers {
		return f
	}
	r := rand.New(rand.NewPCG(opt.Seed, uint64(f.Answers)))
	best := math.Inf(-1)
	for i := 0; i < opt.Restarts; i++ {
		p, ll, iters := EM(randomStart(r, opt.Forget), seqs, opt.Forget, opt.MaxIter, opt.Tol)
		if p.Validate() != nil || math.IsNaN(ll) {
			f.Degenerate++
			continue
		}
		if ll > best {
			best = ll
			f.Params, f.LogLik, f.Iterations, f.Status = p, ll, iters, Fitted
		}
	}
	return f
}
