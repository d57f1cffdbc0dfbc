package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/unpair/unpair/processor/loadbench"
	"github.com/unpair/unpair/processor/pipeline"
)

func init() {
	register("bench", "end-to-end load benchmark on a real broker and Redis: ceiling, throughput, freshness, memory", runBench)
}

const benchUsage = `usage: unpair bench --brokers B --redis R [flags]

Produces --statements simulated xAPI statements (1-2 KB, learners from a
Zipf distribution) keyed by learner key to a fresh topic, then measures on
it: the ceiling (a bare kafka-go consumer group that discards), unpair end
to end in-process (rekey off, then rekey on) until every statement's
effect is in Redis, the produce-to-Redis latency at half the measured
rate, and memory per pair and per learner. Prints the ratio to the
ceiling and appends the figures to --record. Everything the run creates
(topics, Redis keys under unpair-bench-*) is removed afterwards unless
--keep. Use servers of your own: the run loads them fully.

flags:
`

// benchOptions are the parsed flags of unpair bench.
type benchOptions struct {
	cfg       loadbench.Config
	record    string // Markdown file the figures are appended to; "" none
	logFormat string // the pipeline's log on stderr: "", json or console
}

// benchConfig parses the flags of unpair bench.
func benchConfig(args []string, getenv func(string) string, out io.Writer) (o benchOptions, help bool, err error) {
	cfg, record := &o.cfg, &o.record
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	d := loadbench.DefaultConfig()
	brokers := fs.String("brokers", getenv("UNPAIR_BROKERS"), "Kafka bootstrap addresses, comma-separated [UNPAIR_BROKERS] (required)")
	redisAddrs := fs.String("redis", getenv("UNPAIR_REDIS"), "Redis addresses, comma-separated; several mean Redis Cluster [UNPAIR_REDIS] (required)")
	fs.IntVar(&cfg.Statements, "statements", d.Statements, "statements to produce")
	fs.IntVar(&cfg.Partitions, "partitions", d.Partitions, "partitions of the fresh input topic")
	fs.IntVar(&cfg.Learners, "learners", d.Learners, "learners in the simulated population")
	fs.IntVar(&cfg.Contents, "contents", d.Contents, "content items (questions)")
	fs.IntVar(&cfg.Skills, "skills", 0, "skills (default: one per 20 contents)")
	fs.Float64Var(&cfg.ZipfS, "zipf", d.ZipfS, "Zipf exponent of the learner distribution, > 1")
	seed := fs.Uint64("seed", d.Seed, "seed of the simulated cohort")
	fs.DurationVar(&cfg.CeilingFor, "ceiling-for", d.CeilingFor, "repeat the ceiling's pass (fresh group each) until the passes add up to this; the median counts")
	fs.BoolVar(&cfg.RekeyRow, "rekey-row", true, "also measure unpair with rekey on")
	fs.DurationVar(&cfg.Freshness, "freshness", d.Freshness, "duration of the freshness phase; 0 skips it")
	fs.Float64Var(&cfg.FreshRate, "fresh-rate", 0, "produce rate of the freshness phase, statements/s (default: half the measured rate)")
	fs.DurationVar(&cfg.SampleEvery, "sample-every", d.SampleEvery, "interval between sampled statements in the freshness phase")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "CPU profile of the rekey-off row (default: a file in the temporary directory)")
	fs.DurationVar(&cfg.PhaseTimeout, "phase-timeout", d.PhaseTimeout, "deadline of each phase")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the run's topics and Redis keys")
	fs.StringVar(record, "record", "docs/benchmarks/e2e.md", "append the figures to this Markdown file; empty: do not record")
	kafkaVersion := fs.String("kafka-version", getenv("UNPAIR_KAFKA_VERSION"), "the broker's version, for the record [UNPAIR_KAFKA_VERSION]")
	logFormat := fs.String("log", "", "the pipeline's own log on stderr: json or console (default: none)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(out, benchUsage)
			fs.SetOutput(out)
			fs.PrintDefaults()
			return o, true, nil
		}
		return o, false, usageError{fmt.Errorf("bench: %w (see unpair bench --help)", err)}
	}
	if fs.NArg() > 0 {
		return o, false, usageError{fmt.Errorf("bench: unexpected argument %q (see unpair bench --help)", fs.Arg(0))}
	}
	if *logFormat != "" && *logFormat != "json" && *logFormat != "console" {
		return o, false, usageError{fmt.Errorf("bench: --log: %q must be json or console", *logFormat)}
	}
	o.logFormat = *logFormat
	cfg.Brokers, cfg.Redis = pipeline.SplitList(*brokers), pipeline.SplitList(*redisAddrs)
	cfg.Seed, cfg.KafkaVersion = *seed, *kafkaVersion
	cfg.Secret = getenv("UNPAIR_LEARNER_SECRET")
	cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return o, false, usageError{fmt.Errorf("bench: %w", err)}
	}
	return o, false, nil
}

// shellQuote quotes an argument for the recorded command when needed.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`*?&;|<>()[]{}!#~") {
		return s
	}
	return strconv.Quote(s)
}

func runBench(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	o, help, err := benchConfig(args, os.Getenv, stdout)
	if help {
		return 0
	}
	if err != nil {
		return fail(stderr, 2, err)
	}
	cfg, record := o.cfg, o.record
	cfg.Progress = stderr
	log := zap.NewNop()
	if o.logFormat != "" {
		log = newLogger(o.logFormat, stderr).WithOptions(zap.IncreaseLevel(zapcore.WarnLevel))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := loadbench.Run(ctx, cfg, log)
	if res != nil && (len(res.Rows) > 0 || res.Ceiling.Statements > 0) {
		res.WriteText(stdout)
	}
	if err != nil {
		return fail(stderr, 1, err)
	}
	if res.Short() && res.ProfileTop == "" {
		fmt.Fprintf(stdout, "\nshort of the goal: inspect the profile with %s\n", res.ProfileCommand())
	}
	if record != "" {
		quoted := make([]string, len(args))
		for i, a := range args {
			quoted[i] = shellQuote(a)
		}
		if err := res.AppendRecord(record, strings.TrimSpace("unpair bench "+strings.Join(quoted, " "))); err != nil {
			return fail(stderr, 1, err)
		}
		fmt.Fprintf(stdout, "recorded in %s\n", record)
	}
	return 0
}
