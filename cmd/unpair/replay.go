package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/unpair/unpair/processor/replay"
	"github.com/unpair/unpair/schema"
)

func init() {
	register("replay", "turn attempt logs into xAPI statements (NDJSON or Kafka)", runReplay)
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// defaultQMatrix returns the q-matrix beside the first data file, if any.
func defaultQMatrix(data string) string {
	p := filepath.Join(filepath.Dir(data), "q_matrix_item_skill.tsv")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

func runReplay(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var data listFlag
	fs.Var(&data, "data", "attempt log (tab-separated user_id, item_id, timestamp, correct, skill_id); repeat for one dataset's several files")
	qm := fs.String("qmatrix", "", "q-matrix item_id<TAB>skill_index (default: q_matrix_item_skill.tsv beside the first --data)")
	name := fs.String("name", "", "dataset name (default: the data file's directory name)")
	home := fs.String("home", "", "account homePage and activity id base (default https://replay.unpair.example/<name>)")
	epoch := fs.String("epoch", "2009-09-01T00:00:00Z", "time of timestamp 0, RFC 3339")
	gap := fs.Duration("gap", time.Minute, "gap between a learner's answers when the data has no timestamps")
	to := fs.String("to", "ndjson", "ndjson or kafka")
	out := fs.String("out", "-", "NDJSON output file (- = stdout)")
	brokers := fs.String("brokers", os.Getenv("UNPAIR_BROKERS"), "Kafka brokers, comma-separated (default $UNPAIR_BROKERS)")
	topic := fs.String("topic", "xapi.statements", "Kafka topic")
	key := fs.String("key", "learner", "Kafka key: learner (learner key, HMAC of the account), random or none")
	secret := fs.String("secret", os.Getenv("UNPAIR_LEARNER_SECRET"), "learner key secret for --key learner (default $UNPAIR_LEARNER_SECRET)")
	rate := fs.Float64("rate", 0, "statements per second (0 = as fast as possible)")
	batch := fs.Int("batch", 500, "statements per write")
	limit := fs.Int("limit", 0, "stop after this many statements (0 = all)")
	quiet := fs.Bool("quiet", false, "no progress line")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(data) == 0 {
		return fail(stderr, 2, usageError{fmt.Errorf("replay: --data: at least one attempt log is required")})
	}
	km, err := replay.ParseKeyMode(*key)
	if err != nil {
		return fail(stderr, 2, usageError{fmt.Errorf("replay: --%w", err)})
	}
	ep, err := time.Parse(time.RFC3339, *epoch)
	if err != nil {
		return fail(stderr, 2, usageError{fmt.Errorf("replay: --epoch: must be RFC 3339: %w", err)})
	}
	if *qm == "" {
		*qm = defaultQMatrix(data[0])
	}
	if *name == "" {
		*name = replay.DatasetName(data[0])
	}
	ds, err := replay.Load(*name, data, *qm, replay.Options{Epoch: ep, Gap: *gap})
	if err != nil {
		return fail(stderr, 1, err)
	}
	var sink replay.Sink
	switch *to {
	case "ndjson":
		if *out == "-" {
			sink = replay.NewNDJSON(stdout, nil)
		} else {
			f, err := os.Create(*out)
			if err != nil {
				return fail(stderr, 1, fmt.Errorf("replay: cannot create output: %w", err))
			}
			sink = replay.NewNDJSON(f, f)
		}
	case "kafka":
		if *brokers == "" {
			return fail(stderr, 2, usageError{fmt.Errorf("replay: --brokers: required with --to kafka (or set UNPAIR_BROKERS)")})
		}
		sink = replay.NewKafka(strings.Split(*brokers, ","), *topic, *batch)
	default:
		return fail(stderr, 2, usageError{fmt.Errorf("replay: --to: must be ndjson or kafka, got %q", *to)})
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opt := replay.RunOptions{Key: km, Rate: *rate, Batch: *batch, Limit: *limit}
	if !*quiet {
		opt.Progress = stderr
	}
	g := replay.NewGenerator(ds, *home, schema.NewLearnerKeyer([]byte(*secret)))
	sum, err := replay.Run(ctx, g, sink, opt)
	if cerr := sink.Close(); err == nil {
		err = cerr
	}
	fmt.Fprintf(stderr, "replay: %s: %s (times %s)\n", ds.Name, sum, map[bool]string{true: "synthesized", false: "from the data"}[ds.Synthesized])
	if err != nil {
		return fail(stderr, 1, err)
	}
	return 0
}
