package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/client"
	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/pipeline"
	"github.com/unpair/unpair/processor/store"
)

// Summary is what the demo found once every produced statement was
// accounted for (or the wait gave up).
type Summary struct {
	Learners int // learners in the cohort
	Produced int // statements produced to the input topic

	// Outcomes counted by the processor (unpair_statements_total).
	Processed, DeadLettered, Duplicate int
	DeadReasons                        map[string]int // dead letters by reason

	// Ground truth of the simulator: statements it broke on purpose and
	// duplicates it sent.
	SentInvalid, SentDuplicates int

	// Uncommitted counts messages of the input and by-learner topics whose
	// offsets the processor's groups have not committed.
	Uncommitted int64

	Elapsed time.Duration // from the first produce to the last statement accounted for
	Produce time.Duration // time producing took
	Decided int           // learner-content pairs with a stored decision
	Active  map[decision.Reason]int
	// Derived counts catalog content suppressed for a learner who never
	// touched it: every skill of it mastered (decided at read time by the
	// query client from the learner's skill states and the catalog).
	Derived  int
	Examples []Example

	HTTPAddr  string   // where the query API listens
	Redis     []string // Redis addresses
	Brokers   []string // Kafka bootstrap addresses
	Prefix    string   // Redis key prefix ("" = default)
	InProcess bool     // the servers are the demo's own
	Topics    []string // input, by-learner, dead letters, decisions, catalog
}

// Example is one suppressed pair and how to ask about it.
type Example struct {
	Learner    string // the simulated learner's canonical IFI
	LearnerKey string // its key, as in Redis
	Decision   decision.Decision
	Derived    bool // never touched: decided at read time from the learner's skills
}

// Accounted reports whether every produced statement was counted once as
// processed, dead-lettered or duplicate, and its offset committed.
func (s *Summary) Accounted() bool {
	return s.Produced > 0 && s.Processed+s.DeadLettered+s.Duplicate == s.Produced && s.Uncommitted == 0
}

// Rate is statements accounted for per second of Elapsed.
func (s *Summary) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Processed+s.DeadLettered+s.Duplicate) / s.Elapsed.Seconds()
}

// ErrMiscounted is returned (wrapped) by Wait when the processor counted
// more statements than were produced, every offset being committed: some
// statement was counted twice.
var ErrMiscounted = errors.New("statements miscounted")

// Wait polls until every produced statement is accounted for (see
// Summary.Accounted), then reads the decisions from Redis and returns the
// summary. It gives up when the counts and commits have not moved for
// stall (a stuck processor, not a slow machine), when the processor
// stopped or when ctx ended; the summary returned with that error holds
// the counts reached.
func (d *Demo) Wait(ctx context.Context, stall time.Duration) (*Summary, error) {
	kc := d.srv.kafkaClient()
	var s *Summary
	type progress struct {
		done        int
		uncommitted int64
	}
	var last progress
	moved := time.Now()
	for {
		s = d.count(ctx, kc)
		if s.Accounted() {
			s.Elapsed = time.Since(d.started)
			break
		}
		if n := s.Processed + s.DeadLettered + s.Duplicate; n > s.Produced && s.Uncommitted == 0 {
			// Everything is committed, so the counts are final: the
			// decisions are too, and worth showing beside the error.
			s.Elapsed = time.Since(d.started)
			err := fmt.Errorf("%w: %d more statements counted than produced (produced %d, processed %d + dead-lettered %d + duplicate %d, every offset committed)",
				ErrMiscounted, n-s.Produced, s.Produced, s.Processed, s.DeadLettered, s.Duplicate)
			return s, errors.Join(err, d.decisions(ctx, s))
		}
		if p := (progress{s.Processed + s.DeadLettered + s.Duplicate, s.Uncommitted}); p != last {
			last, moved = p, time.Now()
		}
		if time.Since(moved) > stall {
			s.Elapsed = time.Since(d.started)
			return s, fmt.Errorf("stalled for %v before every statement was accounted for: produced %d, processed %d + dead-lettered %d + duplicate %d, %d offsets uncommitted",
				stall, s.Produced, s.Processed, s.DeadLettered, s.Duplicate, s.Uncommitted)
		}
		select {
		case <-d.done:
			return s, d.runError()
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := d.decisions(ctx, s); err != nil {
		return s, err
	}
	return s, nil
}

// count reads the processor's statement counters and the groups' commits.
func (d *Demo) count(ctx context.Context, cl *kafka.Client) *Summary {
	s := &Summary{
		Learners: len(d.learners), Produced: d.produced, Produce: d.produceIn,
		SentInvalid: d.truth.Invalid, SentDuplicates: d.truth.Duplicates,
		DeadReasons: map[string]int{}, Active: map[decision.Reason]int{},
		HTTPAddr: d.Addr(), Redis: d.srv.redis, Brokers: d.srv.brokers, Prefix: d.pcfg.RedisPrefix,
		InProcess: d.srv.inProcess(),
		Topics:    []string{d.pcfg.InputTopic, d.pcfg.ByLearnerTopic, d.pcfg.DeadLetterTopic, d.pcfg.DecisionTopic, d.pcfg.CatalogTopic},
	}
	mfs, err := d.reg.Gather()
	if err == nil {
		for _, mf := range mfs {
			if mf.GetName() != "unpair_statements_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				outcome, reason := label(m, "outcome"), label(m, "reason")
				n := int(m.GetCounter().GetValue())
				switch outcome {
				case pipeline.OutcomeProcessed:
					s.Processed += n
				case pipeline.OutcomeDeadLettered:
					s.DeadLettered += n
					s.DeadReasons[reason] += n
				case pipeline.OutcomeDuplicate:
					s.Duplicate += n
				}
			}
		}
	}
	s.Uncommitted = -1
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	in, err1 := uncommitted(qctx, cl, d.pcfg.Group+".rekey", d.pcfg.InputTopic)
	by, err2 := uncommitted(qctx, cl, d.pcfg.Group, d.pcfg.ByLearnerTopic)
	if err1 == nil && err2 == nil {
		s.Uncommitted = in + by
	}
	return s
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// decisions reads every cohort learner's decisions from Redis: pairs
// decided, suppressions in force by reason, and one example per reason.
func (d *Demo) decisions(ctx context.Context, s *Summary) error {
	sc, err := store.NewSchema(d.pcfg.RedisPrefix)
	if err != nil {
		return err
	}
	var rdb redis.UniversalClient = d.built.Redis
	now := time.Now().UnixMilli()
	examples := map[decision.Reason]Example{}
	for _, ifi := range d.learners {
		key := d.keyer.Key(ifi)
		h, err := rdb.HGetAll(ctx, sc.DecisionsKey(key)).Result()
		if err != nil {
			return fmt.Errorf("cannot read the decisions of learner %s: %w", key, err)
		}
		contents := make([]string, 0, len(h))
		for c := range h {
			contents = append(contents, c)
		}
		sort.Strings(contents)
		for _, c := range contents {
			head, dec, err := store.DecodeDecision(h[c])
			if err != nil {
				return fmt.Errorf("learner %s content %s: %w", key, c, err)
			}
			s.Decided++
			if !head.Active(now) {
				continue
			}
			s.Active[head.Reason]++
			if _, ok := examples[head.Reason]; !ok && dec.Explanation != "" {
				examples[head.Reason] = Example{Learner: ifi, LearnerKey: key, Decision: dec}
			}
		}
	}
	derived, err := d.derived(ctx, s, now)
	if err != nil {
		return err
	}
	reasons := make([]decision.Reason, 0, len(examples))
	for r := range examples {
		reasons = append(reasons, r)
	}
	// Mastery first: it is what unpair is for; then the other reasons.
	rank := map[decision.Reason]int{decision.Mastered: 0, decision.Completed: 1, decision.Feedback: 2}
	slices.SortFunc(reasons, func(a, b decision.Reason) int {
		ra, oka := rank[a]
		rb, okb := rank[b]
		switch {
		case oka && okb:
			return ra - rb
		case oka != okb:
			if oka {
				return -1
			}
			return 1
		}
		return strings.Compare(string(a), string(b))
	})
	for _, r := range reasons {
		s.Examples = append(s.Examples, examples[r])
		if r == decision.Mastered && derived != nil {
			s.Examples = append(s.Examples, *derived)
		}
	}
	if len(s.Examples) == 0 {
		return errors.New("no suppressed pair found in Redis")
	}
	return nil
}

// derived counts, through the query client with the live catalog, the
// catalog content each learner never touched but has mastered every skill
// of, and returns one of them as an example (nil when there is none).
func (d *Demo) derived(ctx context.Context, s *Summary, now int64) (*Example, error) {
	cl, err := client.New(d.built.Redis, client.Options{Secret: []byte(d.cfg.Secret), Prefix: d.pcfg.RedisPrefix,
		Catalog: d.built.Cat, Now: func() time.Time { return time.UnixMilli(now) }})
	if err != nil {
		return nil, err
	}
	var contents []string
	d.built.Cat.Snapshot().Items(func(it *catalog.Item) {
		if len(it.Skills) > 0 {
			contents = append(contents, it.Content)
		}
	})
	sort.Strings(contents)
	var ex *Example
	for _, ifi := range d.learners {
		key := d.keyer.Key(ifi)
		_, sup, err := cl.Filter(ctx, client.Learner(key), contents)
		if err != nil {
			return nil, fmt.Errorf("cannot filter the catalog for learner %s: %w", key, err)
		}
		for _, x := range sup {
			if !x.Derived {
				continue
			}
			s.Derived++
			if ex == nil {
				ex = &Example{Learner: ifi, LearnerKey: key, Decision: x.Decision, Derived: true}
			}
		}
	}
	return ex, nil
}

// CurlURL returns the query API URL that explains e's pair.
func (s *Summary) CurlURL(e Example) string {
	return "http://" + s.HTTPAddr + "/v1/learners/" + e.LearnerKey + "/contents/" + url.PathEscape(e.Decision.Content)
}

// QueryArgs returns the arguments of `unpair query` that explain e's pair.
func (s *Summary) QueryArgs(e Example) []string {
	args := []string{"query", "--redis", strings.Join(s.Redis, ",")}
	if s.Prefix != "" {
		args = append(args, "--prefix", s.Prefix)
	}
	return append(args, e.LearnerKey, e.Decision.Content)
}

// Write prints the summary. command is how to invoke unpair in the
// printed commands (e.g. "unpair" or "go run ./cmd/unpair").
func (s *Summary) Write(w io.Writer, command string) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	where := "in-process Kafka-protocol broker (kfake) and Redis (miniredis)"
	if !s.InProcess {
		where = "Kafka " + strings.Join(s.Brokers, ",") + ", Redis " + strings.Join(s.Redis, ",")
	}
	p("unpair demo: %d simulated learners, %d statements through the real processor on %s", s.Learners, s.Produced, where)
	p("")
	p("  throughput     %.0f statements/s (%d in %v, producing took %v)", s.Rate(), s.Processed+s.DeadLettered+s.Duplicate,
		s.Elapsed.Round(time.Millisecond), s.Produce.Round(time.Millisecond))
	eq := "="
	if n := s.Processed + s.DeadLettered + s.Duplicate; n != s.Produced {
		eq = fmt.Sprintf("!= (off by %+d)", n-s.Produced)
	}
	p("  accounting     produced %d %s processed %d + dead-lettered %d + duplicate %d", s.Produced, eq, s.Processed, s.DeadLettered, s.Duplicate)
	committed := "every offset committed"
	switch {
	case s.Uncommitted < 0:
		committed = "committed offsets could not be read"
	case s.Uncommitted > 0:
		committed = fmt.Sprintf("%d offsets not committed", s.Uncommitted)
	}
	p("                 %s; the simulator sent %d invalid and %d duplicate statements", committed, s.SentInvalid, s.SentDuplicates)
	if len(s.DeadReasons) > 0 {
		p("  dead letters   %s", counts(s.DeadReasons))
	}
	active := map[string]int{}
	total := 0
	for r, n := range s.Active {
		active[string(r)] = n
		total += n
	}
	p("  suppressed     %d of %d decided pairs: %s", total, s.Decided, counts(active))
	p("                 and %d catalog items never touched, every skill of them mastered (decided at read time)", s.Derived)
	p("  topics         %s", strings.Join(s.Topics, ", "))
	p("")
	if len(s.Examples) > 0 {
		p("Explained decisions (reproduce them while the demo runs):")
		for _, e := range s.Examples {
			d := e.Decision
			p("")
			if e.Derived {
				p("  %s (never touched)  %s", d.Reason, d.Content)
			} else {
				p("  %s  %s", d.Reason, d.Content)
			}
			p("    learner %s (key %s)", e.Learner, e.LearnerKey)
			p("    %q", d.Explanation)
			p("    curl -s '%s'", s.CurlURL(e))
			if !e.Derived { // unpair query needs the catalog as a file (--catalog) to decide it
				p("    %s %s", command, strings.Join(quoteArgs(s.QueryArgs(e)), " "))
			}
		}
		p("")
	}
	p("Query API, /metrics, /healthz, /readyz: http://%s   insight page: http://%s/insight/", s.HTTPAddr, s.HTTPAddr)
	p("Redis: %s", strings.Join(s.Redis, ","))
}

// counts renders a count map as "a 3, b 1" in descending order.
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		name := k
		if name == "" {
			name = "(none)"
		}
		parts[i] = fmt.Sprintf("%s %d", name, m[k])
	}
	return strings.Join(parts, ", ")
}

// quoteArgs single-quotes arguments a shell would split or expand.
func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$`\\|&;<>()*?[]#~!{}") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return out
}
