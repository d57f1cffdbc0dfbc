package mastery

import "fmt"

// BKT holds the parameters of Bayesian Knowledge Tracing with forgetting for
// one skill (Corbett & Anderson 1995; forgetting as in pyBKT).
type BKT struct {
	L0 float64 `json:"l0"` // p(L0): known before the first attempt
	T  float64 `json:"t"`  // p(T): learn on an attempt
	G  float64 `json:"g"`  // p(G): correct by guessing while not known
	S  float64 `json:"s"`  // p(S): wrong by slipping while known
	F  float64 `json:"f"`  // p(F): forget on an attempt
}

// Validate rejects parameters outside [0, 1] and degenerate fits, in which
// guessing or slipping is at least as likely as not (the model then reads a
// correct answer as evidence of not knowing).
func (p BKT) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"l0", p.L0}, {"t", p.T}, {"g", p.G}, {"s", p.S}, {"f", p.F}} {
		if !(f.v >= 0 && f.v <= 1) {
			return fmt.Errorf("bkt.%s: must be within [0, 1], got %v", f.name, f.v)
		}
	}
	if p.G >= 0.5 {
		return fmt.Errorf("bkt.g: must be below 0.5 (a guess rate of %v is degenerate)", p.G)
	}
	if p.S >= 0.5 {
		return fmt.Errorf("bkt.s: must be below 0.5 (a slip rate of %v is degenerate)", p.S)
	}
	return nil
}

// PCorrect is the probability of a correct answer given P(known) = pk.
func (p BKT) PCorrect(pk float64) float64 {
	return pk*(1-p.S) + (1-pk)*p.G
}

// Update returns P(known) after observing one answer, given P(known) = pk
// before it: the Bayesian posterior given the answer, then the transition
// P' = post*(1-F) + (1-post)*T.
func (p BKT) Update(pk float64, correct bool) float64 {
	var post float64
	if correct {
		k := pk * (1 - p.S)
		post = k / (k + (1-pk)*p.G)
	} else {
		k := pk * p.S
		post = k / (k + (1-pk)*(1-p.G))
	}
	if post != post { // 0/0 only with degenerate parameters
		post = pk
	}
	return post*(1-p.F) + (1-post)*p.T
}
