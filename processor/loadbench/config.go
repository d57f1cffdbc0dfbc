package loadbench

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/unpair/unpair/processor/simulate"
)

// Config describes one benchmark run. Start from DefaultConfig; Run calls
// WithDefaults and Validate.
type Config struct {
	Brokers []string // Kafka bootstrap addresses
	Redis   []string // Redis addresses; more than one means Redis Cluster

	Statements int     // statements produced to the input topic
	Partitions int     // partitions of the input topic
	Learners   int     // learners in the simulated population
	Contents   int     // content items (questions); lessons come on top, one per skill
	Skills     int     // skills; 0 means one per 20 contents (the simulator's default ratio)
	ZipfS      float64 // Zipf exponent of the learner distribution (> 1)
	Seed       uint64  // seed of the simulated cohort

	// CeilingFor is the least total time of the ceiling's passes: a pass
	// over the topic is repeated (each in a fresh group) until the passes
	// add up to it, and the median pass counts.
	CeilingFor time.Duration
	// RekeyRow also measures the pipeline with rekey on (a second row).
	RekeyRow bool
	// Freshness is how long the freshness phase produces at half the
	// measured rate; 0 skips the phase.
	Freshness time.Duration
	// SampleEvery is the interval between sampled statements in the
	// freshness phase.
	SampleEvery time.Duration
	// FreshRate, when positive, fixes the freshness phase's produce rate
	// (statements/s) instead of half the measured maximum.
	FreshRate float64

	// CPUProfile is where the CPU profile of the rekey-off run is written;
	// "" means a file in the temporary directory.
	CPUProfile string
	// PhaseTimeout bounds each phase (produce, ceiling, one pipeline row).
	PhaseTimeout time.Duration
	// Keep leaves the benchmark's topics and Redis keys in place.
	Keep bool
	// KafkaVersion names the broker's version in the record ("" unknown).
	KafkaVersion string
	// Secret is the HMAC secret of learner keys.
	Secret string
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
}

// Defaults of the settings that have one.
const (
	DefaultStatements   = 300_000
	DefaultPartitions   = 6
	DefaultLearners     = 100_000
	DefaultContents     = 2_000
	DefaultZipfS        = 1.2
	DefaultSampleEvery  = 20 * time.Millisecond
	DefaultFreshness    = 20 * time.Second
	DefaultPhaseTimeout = 10 * time.Minute
	DefaultCeilingFor   = 20 * time.Second
	maxCeilingPasses    = 25
	contentsPerSkill    = 20
)

// DefaultConfig returns the default run, without addresses.
func DefaultConfig() Config {
	c := Config{RekeyRow: true, Freshness: DefaultFreshness}
	c.WithDefaults()
	return c
}

// WithDefaults fills zero-valued settings with their defaults.
func (c *Config) WithDefaults() {
	if c.Statements == 0 {
		c.Statements = DefaultStatements
	}
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.Learners == 0 {
		c.Learners = DefaultLearners
	}
	if c.Contents == 0 {
		c.Contents = DefaultContents
	}
	if c.Skills == 0 {
		c.Skills = min(max(c.Contents/contentsPerSkill, 1), 10000)
	}
	if c.ZipfS == 0 {
		c.ZipfS = DefaultZipfS
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.SampleEvery == 0 {
		c.SampleEvery = DefaultSampleEvery
	}
	if c.CeilingFor == 0 {
		c.CeilingFor = DefaultCeilingFor
	}
	if c.PhaseTimeout == 0 {
		c.PhaseTimeout = DefaultPhaseTimeout
	}
	if c.Secret == "" {
		c.Secret = "unpair-bench-secret"
	}
}

// Validate reports every bad setting, each naming the setting and the rule.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(c.Brokers) == 0 {
		bad("brokers: at least one Kafka address is required")
	}
	for _, b := range c.Brokers {
		if !strings.Contains(b, ":") {
			bad("brokers: %q must be host:port", b)
		}
	}
	if len(c.Redis) == 0 {
		bad("redis: at least one Redis address is required")
	}
	for _, r := range c.Redis {
		if !strings.Contains(r, ":") {
			bad("redis: %q must be host:port", r)
		}
	}
	if c.Statements < 1 || c.Statements > 100_000_000 {
		bad("statements: %d must be between 1 and 100,000,000", c.Statements)
	}
	if c.Partitions < 1 || c.Partitions > 1000 {
		bad("partitions: %d must be between 1 and 1000", c.Partitions)
	}
	if c.Freshness < 0 {
		bad("freshness: %v must not be negative (0 skips the phase)", c.Freshness)
	}
	if c.SampleEvery <= 0 {
		bad("sample-every: %v must be positive", c.SampleEvery)
	}
	if c.FreshRate < 0 {
		bad("fresh-rate: %v must not be negative (0 means half the measured rate)", c.FreshRate)
	}
	if c.CeilingFor < 0 {
		bad("ceiling-for: %v must be positive", c.CeilingFor)
	}
	if c.PhaseTimeout <= 0 {
		bad("phase-timeout: %v must be positive", c.PhaseTimeout)
	}
	// The cohort's own rules (learners, contents, skills, zipf), named by
	// the benchmark's settings.
	sc := c.cohort(time.Now(), c.Statements)
	if err := sc.Validate(); err != nil {
		r := strings.NewReplacer("simulate: ", "", "Learners", "learners", "Items", "contents", "Skills", "skills", "ZipfS", "zipf")
		for _, line := range strings.Split(err.Error(), "\n") {
			bad("%s", r.Replace(line))
		}
	}
	return errors.Join(errs...)
}

// cohort returns the simulator's configuration for n statements starting
// at start: learners drawn from a Zipf distribution, keyed by canonical
// IFI (the producer turns that into the learner key), with the simulator's
// usual shares of invalid statements and duplicates.
func (c *Config) cohort(start time.Time, n int) simulate.Config {
	sc := simulate.DefaultConfig()
	sc.Seed = c.Seed
	sc.Learners = c.Learners
	sc.Items = c.Contents
	sc.Skills = c.Skills
	sc.Distribution = simulate.Zipf
	sc.ZipfS = c.ZipfS
	sc.Keys = simulate.KeyLearner
	// A session has at least three statements; never run out before n.
	sc.Sessions = n/2 + 16
	sc.Start = start.UTC().Truncate(time.Minute)
	return sc
}
