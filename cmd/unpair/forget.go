package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/unpair/unpair/processor/client"
	"github.com/unpair/unpair/processor/pipeline"
)

func init() {
	register("forget", "erase everything stored about one learner (data-protection request)", runForget)
}

const forgetUsage = `usage: unpair forget [flags] LEARNER

Erases everything unpair stores about LEARNER (decisions, mastery state,
engagement) and announces it with a "forgotten" event on the decisions
topic. LEARNER is a learner key, an IFI (mailto:..., account:HOME|NAME,
sha1:..., openid:...) or an actor JSON object; identities are turned into
the key with the learner secret exactly as the processor does.

It works while unpair run runs: the command produces a control record
(header unpair-control: forget) keyed by the learner key into the
learner's partition of the topic the processor consumes (the by-learner
topic, or the input topic with --rekey=false, using --partitioner), so the
processor applies it in order with the learner's statements, at its next
flush. With --wait it waits for the forgotten event and exits 0 only then.
Statements still retained in Kafka are not erased from Kafka (retention
does that); statements of the learner read after the record start afresh.

It takes the settings of unpair run (flags, UNPAIR_* environment, --config
file), so the same configuration serves both:

`

func runForget(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	var partitioner string
	var wait time.Duration
	cfg, rest, help, err := parseSettings("forget", forgetUsage, args, os.Getenv, stdout, func(fs *flag.FlagSet) {
		fs.StringVar(&partitioner, "partitioner", pipeline.PartitionerXXHash,
			"with --rekey=false: how the input's producers partition by learner key: xxhash, murmur2 (Java, librdkafka) or fnv1a (kafka-go Hash)")
		fs.DurationVar(&wait, "wait", 0, "wait this long for the processor's forgotten event (0: do not wait)")
	})
	if help {
		return 0
	}
	if err != nil {
		return fail(stderr, 2, err)
	}
	if len(rest) != 1 {
		return fail(stderr, 2, usageError{fmt.Errorf("forget: want exactly one LEARNER, got %d arguments (see unpair forget --help)", len(rest))})
	}
	rdb, err := cfg.RedisClient() // only for the client's key derivation; never dialled
	if err != nil {
		return fail(stderr, 2, err)
	}
	defer rdb.Close()
	cl, err := client.New(rdb, client.Options{Secret: []byte(cfg.LearnerSecret), Prefix: cfg.RedisPrefix})
	if err != nil {
		return fail(stderr, 2, err)
	}
	key, err := cl.Key(client.Learner(rest[0]))
	if err != nil {
		return fail(stderr, 2, usageError{fmt.Errorf("forget: %w", err)})
	}
	if _, err := pipeline.ForgetPartition(key, 1, partitioner); err != nil {
		return fail(stderr, 2, usageError{fmt.Errorf("forget: --%w", err)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second+wait)
	defer cancel()
	var watch *pipeline.ForgetWatch
	if wait > 0 {
		if watch, err = pipeline.WatchForgotten(ctx, cfg, key); err != nil {
			return fail(stderr, 1, err)
		}
	}
	topic, part, err := pipeline.SendForget(ctx, cfg, key, partitioner)
	if err != nil {
		return fail(stderr, 1, err)
	}
	fmt.Fprintf(stdout, "learner %s: forget requested on %s partition %d\n", key, topic, part)
	if watch == nil {
		return 0
	}
	wctx, wcancel := context.WithTimeout(ctx, wait)
	defer wcancel()
	e, err := watch.Wait(wctx)
	if err != nil {
		return fail(stderr, 1, fmt.Errorf("forget: %w (is unpair run running? the record waits in the topic until it is)", err))
	}
	fmt.Fprintf(stdout, "learner %s: forgotten (event %s)\n", key, e.ID)
	return 0
}
