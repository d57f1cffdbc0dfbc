package mastery

import (
	"fmt"
	"math"
	"time"
)

// Streak is the "N correct in a row" rule ASSISTments skill builders use: the
// cold-start rule for a skill without fitted parameters, and a policy option.
type Streak struct {
	N int `json:"n"` // answers in a row that count as mastery; default 3
}

// Update returns the run of correct answers after one more answer.
func (s Streak) Update(run uint16, correct bool) uint16 {
	if !correct {
		return 0
	}
	if run == math.MaxUint16 {
		return run
	}
	return run + 1
}

// Mastered reports whether a run of correct answers meets the rule.
func (s Streak) Mastered(run uint16) bool { return int(run) >= s.N }

// EWMA is an exponentially weighted moving average of correctness, which
// handles partial scores: theta <- (1-w) theta + w c, c in [0, 1].
type EWMA struct {
	W         float64 `json:"w"`         // weight of the newest answer; default 0.5
	Threshold float64 `json:"threshold"` // mastery when theta >= Threshold; default 0.875
}

// Update returns theta after an answer of correctness c in [0, 1].
func (e EWMA) Update(theta, c float64) float64 { return (1-e.W)*theta + e.W*c }

// Validate checks the weight and threshold.
func (e EWMA) Validate() error {
	if !(e.W > 0 && e.W <= 1) {
		return fmt.Errorf("ewma.w: must be within (0, 1], got %v", e.W)
	}
	if !(e.Threshold > 0 && e.Threshold <= 1) {
		return fmt.Errorf("ewma.threshold: must be within (0, 1], got %v", e.Threshold)
	}
	return nil
}

// Elo is the item-aware model: P(correct on item i) = sigmoid(ability -
// difficulty_i). A learner's ability per skill moves online by
// K * (c - P); item difficulties are global, fitted offline from history
// and delivered through the catalog, never learned by one shard.
type Elo struct {
	K         float64 `json:"k"`         // ability step per answer; default 0.4
	Threshold float64 `json:"threshold"` // mastery when P(correct) on the content's items >= Threshold; default 0.95
}

// Sigmoid is the logistic function.
func Sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// PCorrect is the probability that a learner of the given ability answers
// an item of the given difficulty correctly.
func (Elo) PCorrect(ability, difficulty float64) float64 { return Sigmoid(ability - difficulty) }

// Update returns the ability after an answer of correctness c in [0, 1] on
// an item of the given difficulty.
func (e Elo) Update(ability, difficulty, c float64) float64 {
	return ability + e.K*(c-Sigmoid(ability-difficulty))
}

// Review half-life bounds.
const (
	MinHalfLife = 15 * time.Minute
	MaxHalfLife = 274 * 24 * time.Hour
)

// HalfLife is the review half-life after right correct and wrong wrong
// answers: clip(2^(right-wrong) days, 15 minutes, 274 days). A suppressed
// pair comes back for review once HalfLife has passed since the last
// practice.
func HalfLife(right, wrong int) time.Duration {
	d := math.Exp2(float64(right-wrong)) * float64(24*time.Hour)
	switch {
	case d < float64(MinHalfLife):
		return MinHalfLife
	case d > float64(MaxHalfLife):
		return MaxHalfLife
	}
	return time.Duration(d)
}
