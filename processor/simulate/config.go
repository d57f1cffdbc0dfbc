package simulate

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Distribution says how a session start picks its learner.
type Distribution string

const (
	Uniform Distribution = "uniform" // every learner equally likely
	Zipf    Distribution = "zipf"    // learner k with weight 1/(k+1)^ZipfS: a few very active learners
)

// KeyMode says what the Kafka message key of each statement is.
type KeyMode string

const (
	KeyLearner KeyMode = "learner" // the learner's canonical IFI (schema.CanonicalAccount / CanonicalMbox)
	KeyRandom  KeyMode = "random"  // 16 random hex characters per message
	KeyNone    KeyMode = "none"    // nil key
)

// Config describes a cohort. Start from DefaultConfig and change fields; a
// Config must pass Validate. Shares are probabilities in [0, 1].
type Config struct {
	Seed uint64 // the whole cohort follows from it

	Learners int // learners in the population
	Skills   int // skills in the course, one lesson each
	Items    int // question items, spread over the skills (>= Skills)
	Sessions int // session starts over the whole run; 0 means 6 per learner

	Start time.Time     // first session start (UTC)
	Span  time.Duration // session starts are spread over [Start, Start+Span)

	Distribution Distribution
	ZipfS        float64 // Zipf exponent, > 1 (only for Distribution Zipf)
	Keys         KeyMode

	QuestionsMin, QuestionsMax int // answered questions per session

	LearnRate      float64       // chance per practice that an unknown skill becomes known (mean over learners)
	Guess          float64       // chance of a right answer on an unknown skill
	Slip           float64       // chance of a wrong answer on a known skill
	ForgetHalfLife time.Duration // a known skill unpracticed this long is forgotten with probability 1/2
	PassMark       float64       // share correct in a session that passes the lesson

	AbandonShare   float64 // sessions that end early with "abandoned"
	RatingShare    float64 // sessions that end with a rating
	LowRatingShare float64 // ratings of 1 or 2 out of 5
	DislikeShare   float64 // sessions that end with a dislike
	VoidShare      float64 // sessions that void an earlier statement of the learner
	DuplicateShare float64 // valid statements sent a second time
	InvalidShare   float64 // statements replaced by an invalid one
	MboxShare      float64 // learners identified by mbox rather than an LMS account

	HomePage string // LMS base URL: account homePage and the root of every activity id
	Platform string // context.platform
}

// DefaultConfig returns a small cohort: 100 learners, 8 skills, 160 items,
// 600 sessions over four weeks (about 7,500 statements).
func DefaultConfig() Config {
	return Config{
		Seed:           1,
		Learners:       100,
		Skills:         8,
		Items:          160,
		Start:          time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC),
		Span:           28 * 24 * time.Hour,
		Distribution:   Uniform,
		ZipfS:          1.2,
		Keys:           KeyLearner,
		QuestionsMin:   4,
		QuestionsMax:   8,
		LearnRate:      0.2,
		Guess:          0.2,
		Slip:           0.1,
		ForgetHalfLife: 14 * 24 * time.Hour,
		PassMark:       0.7,
		AbandonShare:   0.05,
		RatingShare:    0.1,
		LowRatingShare: 0.3,
		DislikeShare:   0.02,
		VoidShare:      0.02,
		DuplicateShare: 0.01,
		InvalidShare:   0.01,
		MboxShare:      0.25,
		HomePage:       "https://lms.example.edu",
		Platform:       "Northwind LMS 4.2",
	}
}

// sessions returns the number of session starts the run will have.
func (c *Config) sessions() int {
	if c.Sessions > 0 {
		return c.Sessions
	}
	return 6 * c.Learners
}

// Validate reports every field that breaks its rule, naming the field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("simulate: "+format, args...)) }
	if c.Learners < 1 || c.Learners > 1<<26 { // 8 bytes of index per learner up front
		bad("Learners must be in [1, 2^26], got %d", c.Learners)
	}
	if c.Skills < 1 || c.Skills > 10000 {
		bad("Skills must be in [1, 10000], got %d", c.Skills)
	}
	if c.Items < c.Skills || c.Items > 1<<24 {
		bad("Items must be in [Skills, 2^24] (at least one item per skill), got %d with Skills %d", c.Items, c.Skills)
	}
	if c.Sessions < 0 {
		bad("Sessions must be >= 0 (0 means 6 per learner), got %d", c.Sessions)
	}
	if c.Start.IsZero() {
		bad("Start must be set")
	}
	if c.Span <= 0 {
		bad("Span must be > 0, got %v", c.Span)
	}
	switch c.Distribution {
	case Uniform:
	case Zipf:
		if !(c.ZipfS > 1 && c.ZipfS <= 10) {
			bad("ZipfS must be in (1, 10] for the zipf distribution, got %v", c.ZipfS)
		}
	default:
		bad("Distribution must be %q or %q, got %q", Uniform, Zipf, c.Distribution)
	}
	switch c.Keys {
	case KeyLearner, KeyRandom, KeyNone:
	default:
		bad("Keys must be %q, %q or %q, got %q", KeyLearner, KeyRandom, KeyNone, c.Keys)
	}
	if c.QuestionsMin < 1 || c.QuestionsMax < c.QuestionsMin || c.QuestionsMax > 100 {
		bad("QuestionsMin and QuestionsMax must satisfy 1 <= min <= max <= 100, got %d and %d", c.QuestionsMin, c.QuestionsMax)
	}
	if c.ForgetHalfLife <= 0 {
		bad("ForgetHalfLife must be > 0, got %v", c.ForgetHalfLife)
	}
	shares := []struct {
		name string
		v    float64
	}{
		{"LearnRate", c.LearnRate}, {"Guess", c.Guess}, {"Slip", c.Slip}, {"PassMark", c.PassMark},
		{"AbandonShare", c.AbandonShare}, {"RatingShare", c.RatingShare}, {"LowRatingShare", c.LowRatingShare},
		{"DislikeShare", c.DislikeShare}, {"VoidShare", c.VoidShare}, {"DuplicateShare", c.DuplicateShare},
		{"InvalidShare", c.InvalidShare}, {"MboxShare", c.MboxShare},
	}
	for _, s := range shares {
		if !(s.v >= 0 && s.v <= 1) { // also rejects NaN
			bad("%s must be in [0, 1], got %v", s.name, s.v)
		}
	}
	if c.Guess+c.Slip >= 1 {
		bad("Guess + Slip must be < 1 (else answers say nothing about mastery), got %v", c.Guess+c.Slip)
	}
	if u, err := url.Parse(c.HomePage); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		bad("HomePage must be an absolute http(s) URL without query or fragment, got %q", c.HomePage)
	}
	if c.Platform == "" {
		bad("Platform must not be empty")
	}
	return errors.Join(errs...)
}
