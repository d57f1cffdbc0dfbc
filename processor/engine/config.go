package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/unpair/unpair/processor/engagement"
	"github.com/unpair/unpair/processor/mastery"
)

// Model names the mastery model that decides "mastered".
type Model string

const (
	ModelBKT    Model = "bkt"    // Bayesian Knowledge Tracing with forgetting
	ModelStreak Model = "streak" // N correct in a row
	ModelEWMA   Model = "ewma"   // moving average of correctness (partial scores)
	ModelElo    Model = "elo"    // item-aware Elo: sigmoid(ability - difficulty) (default)
)

// Mastery thresholds on P(known) for the bkt model.
const (
	DefaultThreshold = 0.95
	StrictThreshold  = 0.98
)

// Elo defaults: the policy docs/evaluation.md found above 3-in-a-row's
// operating curve on both ASSISTments datasets.
const (
	DefaultEloK         = 0.4
	DefaultEloThreshold = 0.7
)

// Config is the engine's policy. DefaultConfig gives the documented
// defaults; the zero value is not valid.
type Config struct {
	Model       Model   // which model decides mastered; default elo
	Threshold   float64 // P(known) needed under bkt; default 0.95 (StrictThreshold 0.98)
	MinAttempts int     // scored attempts needed before mastery; default 2
	PassMark    float64 // scaled score counted correct when result.success is absent; default 0.6

	Streak mastery.Streak // cold-start rule and the streak model; default N=3
	EWMA   mastery.EWMA   // default W=0.5, Threshold=0.875
	Elo    mastery.Elo    // default K=0.4, Threshold=0.7 (P(correct) on the content's item)

	SuppressCompleted bool          // completed with success suppresses; default true
	FeedbackMaxRating float64       // a rating with scaled <= this is "not for me"; default 0.4
	FeedbackTTL       time.Duration // how long feedback suppresses; default 180 days

	// Window is the number of recent statements per learner kept for voiding
	// and duplicate detection: between Window and 2*Window are kept. Default 8.
	// Every statement about a content counts (launches and progress too).
	Window int

	// Engagement is the barely-touched rule of the sweep (SweepBarelyTouched);
	// default engagement.DefaultRule (under 20% progress or a quarter of the
	// typical time, idle 14 days).
	Engagement engagement.Rule
	// TypicalTime is every content's typical time for the rule's time share:
	// the catalog carries no per-content time, so one value serves all;
	// default DefaultTypicalTime (10 minutes). 0 leaves only progress (and
	// "no progress reported") to decide.
	TypicalTime time.Duration
}

// DefaultTypicalTime is the typical time of a content when nothing better
// is known.
const DefaultTypicalTime = 10 * time.Minute

// DefaultConfig returns the default policy: item-aware Elo (K 0.4,
// threshold 0.7, at least 2 attempts), the only policy whose operating curve
// (precision@3 against attempts saved) lies above 3-in-a-row's on both
// evaluated datasets (docs/evaluation.md). It needs the items' difficulties
// in the catalog (unpair fit): with every difficulty 0 it is a plain ability
// tracker (6 correct answers in a row from scratch). BKT (Threshold 0.95,
// StrictThreshold 0.98), streak and EWMA stay selectable with Model; their
// parameters are filled in here too.
func DefaultConfig() Config {
	return Config{
		Model:             ModelElo,
		Threshold:         DefaultThreshold,
		MinAttempts:       2,
		PassMark:          0.6,
		Streak:            mastery.Streak{N: 3},
		EWMA:              mastery.EWMA{W: 0.5, Threshold: 0.875},
		Elo:               mastery.Elo{K: DefaultEloK, Threshold: DefaultEloThreshold},
		SuppressCompleted: true,
		FeedbackMaxRating: 0.4,
		FeedbackTTL:       180 * 24 * time.Hour,
		Window:            8,
		Engagement:        engagement.DefaultRule(),
		TypicalTime:       DefaultTypicalTime,
	}
}

// ParseModel parses a model name.
func ParseModel(s string) (Model, error) {
	switch m := Model(s); m {
	case ModelBKT, ModelStreak, ModelEWMA, ModelElo:
		return m, nil
	}
	return "", fmt.Errorf("model: must be one of bkt, streak, ewma, elo, got %q", s)
}

// Validate checks every field and names the first one that breaks its rule.
func (c Config) Validate() error {
	if _, err := ParseModel(string(c.Model)); err != nil {
		return err
	}
	if !(c.Threshold > 0 && c.Threshold < 1) {
		return fmt.Errorf("threshold: must be within (0, 1), got %v", c.Threshold)
	}
	if c.MinAttempts < 1 || c.MinAttempts > 1000 {
		return fmt.Errorf("min_attempts: must be within [1, 1000], got %d", c.MinAttempts)
	}
	if !(c.PassMark > 0 && c.PassMark <= 1) {
		return fmt.Errorf("pass_mark: must be within (0, 1], got %v", c.PassMark)
	}
	if c.Streak.N < 1 || c.Streak.N > 1000 {
		return fmt.Errorf("streak.n: must be within [1, 1000], got %d", c.Streak.N)
	}
	if err := c.EWMA.Validate(); err != nil {
		return err
	}
	if !(c.Elo.K > 0 && c.Elo.K <= 10) {
		return fmt.Errorf("elo.k: must be within (0, 10], got %v", c.Elo.K)
	}
	if !(c.Elo.Threshold > 0 && c.Elo.Threshold < 1) {
		return fmt.Errorf("elo.threshold: must be within (0, 1), got %v", c.Elo.Threshold)
	}
	if !(c.FeedbackMaxRating >= 0 && c.FeedbackMaxRating < 1) {
		return fmt.Errorf("feedback_max_rating: must be within [0, 1), got %v", c.FeedbackMaxRating)
	}
	if c.FeedbackTTL <= 0 {
		return errors.New("feedback_ttl: must be positive")
	}
	if c.Window < 1 || c.Window > 1024 {
		return fmt.Errorf("window: must be within [1, 1024], got %d", c.Window)
	}
	if err := c.Engagement.Validate(); err != nil {
		return fmt.Errorf("engagement: %w", err)
	}
	if c.TypicalTime < 0 {
		return fmt.Errorf("typical_time: must not be negative, got %v", c.TypicalTime)
	}
	return nil
}
