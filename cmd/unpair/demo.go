package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/unpair/unpair/processor/demo"
	"github.com/unpair/unpair/processor/pipeline"
)

func init() {
	register("demo", "run the real processor on a simulated cohort, no servers needed, and explain its decisions", runDemo)
}

const demoUsage = `usage: unpair demo [flags]

Starts an in-process Kafka-protocol broker and Redis (or uses --kafka and
--redis), simulates a cohort of learners as xAPI statements, runs the real
processor (the code of unpair run) over them, and prints what it decided:
throughput, how every statement was accounted for, suppressions by reason,
and explained decisions with the curl and unpair query commands that
reproduce them. It then keeps serving the query API, /metrics, /healthz,
/readyz and the insight page (/insight/) until interrupted (SIGINT or
SIGTERM: final flush, commit, leave the groups; a second signal exits at
once); --once exits
after the summary, with status 0 only if every statement was accounted
for and its offset committed.

`

// demoSignals returns the channel that asks the demo to stop and a function
// that releases it; a variable so tests can stop the demo without a signal.
var demoSignals = func() (<-chan os.Signal, func()) {
	c := make(chan os.Signal, 2)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	return c, func() { signal.Stop(c) }
}

func runDemo(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	learners := fs.Int("learners", 200, "simulated learners")
	seed := fs.Uint64("seed", 1, "seed of the simulated cohort (same seed, same statements)")
	httpAddr := fs.String("http", demo.DefaultHTTPAddr, "address of the query API, /metrics, /healthz, /readyz and /insight/; port 0 picks a free one")
	once := fs.Bool("once", false, "exit after the summary: status 0 only if every statement was accounted for")
	kafkaAddrs := fs.String("kafka", "", "use this Kafka (comma-separated host:port) instead of an in-process broker")
	redisAddrs := fs.String("redis", "", "use this Redis (comma-separated host:port; several mean Redis Cluster) instead of an in-process one")
	partitions := fs.Int("partitions", 4, "partitions of the input topic")
	verbose := fs.Bool("v", false, "log the processor's info messages too (default: warnings)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, demoUsage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		return fail(stderr, 2, usageError{fmt.Errorf("demo: %w (see unpair demo --help)", err)})
	}
	if fs.NArg() > 0 {
		return fail(stderr, 2, usageError{fmt.Errorf("demo: unexpected argument %q (see unpair demo --help)", fs.Arg(0))})
	}
	if *learners < 1 || *learners > 1_000_000 {
		return fail(stderr, 2, usageError{fmt.Errorf("demo: --learners: %d must be between 1 and 1000000", *learners)})
	}
	if _, _, err := net.SplitHostPort(*httpAddr); err != nil {
		return fail(stderr, 2, usageError{fmt.Errorf("demo: --http: %q must be host:port (port 0 picks a free one)", *httpAddr)})
	}
	if *partitions < 1 || *partitions > 256 {
		return fail(stderr, 2, usageError{fmt.Errorf("demo: --partitions: %d must be between 1 and 256", *partitions)})
	}

	level := zap.WarnLevel
	if *verbose {
		level = zap.InfoLevel
	}
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	log := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(ec), zapcore.AddSync(stderr), level))
	defer log.Sync()

	sigs, release := demoSignals()
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
			return
		}
		// A second signal does not wait for the orderly stop.
		select {
		case <-sigs:
			fmt.Fprintln(stderr, "unpair demo: second signal: exiting at once")
			forceExit()
		case <-finished:
		}
	}()

	began := time.Now()
	cfg := demo.Config{
		Learners: *learners, Seed: *seed, HTTPAddr: *httpAddr, Partitions: *partitions,
		Brokers: pipeline.SplitList(*kafkaAddrs), Redis: pipeline.SplitList(*redisAddrs), Logger: log,
	}
	d, err := demo.Start(ctx, cfg)
	if err != nil {
		if errors.Is(err, demo.ErrAddrInUse) {
			fmt.Fprintf(stderr, "unpair demo: %v\n", err)
			return 2
		}
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "unpair demo: interrupted while starting")
			return 1
		}
		return fail(stderr, 1, fmt.Errorf("demo: %w", err))
	}
	stop := func() int {
		if err := d.Stop(); err != nil {
			fmt.Fprintf(stderr, "unpair demo: stopping: %v\n", err)
			return 1
		}
		return 0
	}

	sum, err := d.Wait(ctx, demoStall)
	miscounted := errors.Is(err, demo.ErrMiscounted)
	if sum != nil && (err == nil || miscounted) {
		sum.Write(stdout, selfCommand())
	}
	if err != nil {
		fmt.Fprintf(stderr, "unpair demo: %v\n", err)
		if !miscounted || *once {
			stop()
			return 1
		}
	}
	if *once {
		status := stop()
		if !sum.Accounted() {
			status = 1
		}
		fmt.Fprintf(stdout, "\nunpair demo --once: finished in %v; every statement accounted for: %v\n",
			time.Since(began).Round(time.Millisecond), sum.Accounted())
		return status
	}
	fmt.Fprintf(stdout, "\nServing until interrupted (Ctrl-C stops in order: final flush, commit, leave the group).\n")
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "unpair demo: stopping")
	case <-d.Done():
		fmt.Fprintln(stderr, "unpair demo: the processor stopped on its own")
	}
	status := stop()
	if miscounted {
		status = 1
	}
	return status
}

// demoStall is how long the accounting may stand still before the demo
// gives up: long enough for a flush retried with backoff or a rebalance on
// a loaded machine, short enough to report a stuck processor.
const demoStall = time.Minute

// selfCommand is how the printed commands invoke unpair: "go run
// ./cmd/unpair" when running from go run's temporary build, else
// "unpair".
func selfCommand() string {
	if exe := os.Args[0]; strings.Contains(exe, "go-build") {
		return "go run ./cmd/unpair"
	}
	return "unpair"
}
