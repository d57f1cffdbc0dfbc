package loadbench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/unpair/unpair/processor/simulate"
)

// Result is everything one run measured.
type Result struct {
	Config  Config
	RunID   string // prefix of the run's topics, groups and Redis keys
	Date    time.Time
	Machine Machine

	// Produce is the bulk produce of the input topic (not a goal, context).
	Produce Phase
	// Learners is how many distinct learners the produced statements name
	// (valid statements only).
	Learners int
	Ceiling  Phase // the median of CeilingPasses by rate
	// CeilingPasses are the ceiling's passes over the topic.
	CeilingPasses []Phase
	Rows          []Row
	Fresh         *Freshness

	// Profile is the CPU profile of the rekey-off row; ProfileTop its top
	// functions (go tool pprof -top), or "" when that could not run.
	Profile    string
	ProfileTop string
}

// Goal is the least share of the ceiling the pipeline should reach.
const Goal = 0.7

// bench is one run's shared state.
type bench struct {
	cfg         Config
	names       names
	admin       admin
	rdb         redis.UniversalClient
	log         *zap.Logger
	ledger      *ledger
	catalogFile string
	progress    io.Writer
}

func (b *bench) say(format string, a ...any) {
	fmt.Fprintf(b.progress, "bench: "+format+"\n", a...)
}

// Run runs the benchmark: produce, ceiling, the pipeline with rekey off
// (profiled), with rekey on (RekeyRow), and the freshness phase. log
// receives the pipeline's own log (nil: discarded).
func Run(ctx context.Context, cfg Config, log *zap.Logger) (*Result, error) {
	cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	now := time.Now()
	b := &bench{cfg: cfg, names: newNames(now), admin: admin{brokers: cfg.Brokers}, log: log, progress: cfg.Progress}
	if b.progress == nil {
		b.progress = io.Discard
	}
	b.rdb = redis.NewUniversalClient(&redis.UniversalOptions{Addrs: cfg.Redis})
	defer b.rdb.Close()
	if err := b.rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("cannot reach Redis %s: %w", strings.Join(cfg.Redis, ","), err)
	}
	res := &Result{Config: cfg, RunID: b.names.group, Date: now.UTC(), Machine: describeMachine(ctx, b.rdb)}
	defer b.cleanup()

	if err := b.produce(ctx, res); err != nil {
		return res, err
	}
	ends, err := b.admin.ends(ctx, b.names.input)
	if err != nil {
		return res, err
	}
	var total int64
	for _, e := range ends {
		total += e
	}
	if total != int64(cfg.Statements) {
		return res, fmt.Errorf("input topic %s holds %d statements, %d were produced", b.names.input, total, cfg.Statements)
	}

	b.say("ceiling: bare consumer group over %d partitions, passes for at least %v", cfg.Partitions, cfg.CeilingFor)
	var spent time.Duration
	for i := 0; spent < cfg.CeilingFor && i < maxCeilingPasses; i++ {
		pctx, cancel := context.WithTimeout(ctx, cfg.PhaseTimeout)
		ph, err := ceiling(pctx, cfg.Brokers, b.names.group+"-ceiling-"+strconv.Itoa(i), b.names.input, ends)
		cancel()
		if err != nil {
			return res, err
		}
		if ph.Statements != cfg.Statements {
			return res, fmt.Errorf("ceiling pass %d read %d statements of %d", i+1, ph.Statements, cfg.Statements)
		}
		res.CeilingPasses = append(res.CeilingPasses, ph)
		spent += ph.Sustained
	}
	res.Ceiling = medianPhase(res.CeilingPasses)
	b.say("ceiling: %d passes of %d statements, median %v: %.0f/s", len(res.CeilingPasses), res.Ceiling.Statements,
		res.Ceiling.Sustained.Round(time.Millisecond), res.Ceiling.Rate())

	res.Profile = cfg.CPUProfile
	if res.Profile == "" {
		res.Profile = filepath.Join(os.TempDir(), b.names.group+".cpu.pprof")
	}
	modes := []bool{false}
	if cfg.RekeyRow {
		modes = append(modes, true)
	}
	for _, rekey := range modes {
		prof := ""
		if !rekey {
			prof = res.Profile
		}
		b.say("pipeline, rekey %s: running until every statement is in Redis", onOff(rekey))
		row, err := b.row(ctx, rekey, prof)
		if res.Ceiling.Rate() > 0 {
			row.Ratio = row.Rate() / res.Ceiling.Rate()
		}
		if err != nil {
			return res, fmt.Errorf("pipeline row (rekey %s): %w", onOff(rekey), err)
		}
		res.Rows = append(res.Rows, row)
		b.say("pipeline, rekey %s: %d statements in %v: %.0f/s, %.2f of the ceiling", onOff(rekey), row.Statements,
			row.Sustained.Round(time.Millisecond), row.Rate(), row.Ratio)
		if !rekey {
			res.ProfileTop = profileTop(ctx, res.Profile)
		}
	}

	if cfg.Freshness > 0 {
		rate := cfg.FreshRate
		if rate == 0 {
			rate = res.Rows[0].Rate() / 2
		}
		b.say("freshness: producing %.0f statements/s for %v", rate, cfg.Freshness)
		if res.Fresh, err = b.freshness(ctx, rate); err != nil {
			return res, fmt.Errorf("freshness: %w", err)
		}
		b.say("freshness: p50 %v, p99 %v over %d samples", res.Fresh.P50, res.Fresh.P99, res.Fresh.Samples)
	}
	return res, nil
}

// medianPhase returns the pass of median rate (the slower of the middle
// two for an even count).
func medianPhase(ps []Phase) Phase {
	if len(ps) == 0 {
		return Phase{}
	}
	s := slices.Clone(ps)
	slices.SortFunc(s, func(a, b Phase) int { return cmp.Compare(a.Rate(), b.Rate()) })
	return s[(len(s)-1)/2]
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// produce creates the input topic and produces the cohort to it.
func (b *bench) produce(ctx context.Context, res *Result) error {
	cfg := &b.cfg
	if err := b.admin.createTopic(ctx, b.names.input, cfg.Partitions); err != nil {
		return err
	}
	// Timestamps over the last four weeks, like a live LMS's.
	sc := cfg.cohort(time.Now().Add(-simulate.DefaultConfig().Span), cfg.Statements)
	gen, err := simulate.New(sc)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp("", b.names.group+".catalog.*.json")
	if err != nil {
		return fmt.Errorf("cannot write the catalog file: %w", err)
	}
	b.catalogFile = f.Name()
	if err := errors.Join(gen.Catalog().WriteJSON(f), f.Close()); err != nil {
		return err
	}
	b.ledger = newLedger(nil)
	p := newProducer(cfg.Brokers, b.names.input, gen, cfg.Secret, b.ledger)
	b.say("producing %d statements (%d learners, %d contents, zipf %g) to %s (%d partitions)",
		cfg.Statements, cfg.Learners, cfg.Contents, cfg.ZipfS, b.names.input, cfg.Partitions)
	pctx, cancel := context.WithTimeout(ctx, cfg.PhaseTimeout)
	defer cancel()
	start := time.Now()
	err = p.all(pctx, cfg.Statements)
	res.Produce = Phase{Name: "produce (bulk, acks=all)", Statements: cfg.Statements, Wall: time.Since(start)}
	res.Produce.Sustained = res.Produce.Wall
	if cerr := p.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("cannot close the producer: %w", cerr)
	}
	if err != nil {
		return err
	}
	b.ledger.mu.Lock()
	res.Learners = len(b.ledger.learners)
	acked := b.ledger.acked
	b.ledger.mu.Unlock()
	if acked != cfg.Statements {
		return fmt.Errorf("produced %d statements but %d were acknowledged", cfg.Statements, acked)
	}
	b.say("produced %d statements (%.1f MB) in %v: %.0f/s", cfg.Statements, float64(b.ledger.bytes)/1e6,
		res.Produce.Wall.Round(time.Millisecond), res.Produce.Rate())
	return nil
}

// cleanup removes the run's topics, Redis keys and catalog file unless
// Keep is set.
func (b *bench) cleanup() {
	if b.catalogFile != "" {
		os.Remove(b.catalogFile)
	}
	if b.cfg.Keep {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := b.names
	if err := b.admin.deleteTopics(ctx, n.input, n.fresh, n.byLearner, n.dlq, n.decisions); err != nil {
		b.say("cleanup: %v", err)
	}
	if err := deleteKeys(ctx, b.rdb, n.group+"-*"); err != nil {
		b.say("cleanup: %v", err)
	}
}

// deleteKeys unlinks every key matching pattern (on every master of a
// cluster).
func deleteKeys(ctx context.Context, rdb redis.UniversalClient, pattern string) error {
	del := func(ctx context.Context, c redis.Cmdable) error {
		it := c.Scan(ctx, 0, pattern, 1000).Iterator()
		var batch []string
		for it.Next(ctx) {
			batch = append(batch, it.Val())
			if len(batch) == 500 {
				if err := unlinkEach(ctx, c, batch); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
		if err := it.Err(); err != nil {
			return fmt.Errorf("cannot scan keys %s: %w", pattern, err)
		}
		return unlinkEach(ctx, c, batch)
	}
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return del(ctx, c) })
	}
	return del(ctx, rdb)
}

// unlinkEach unlinks keys one command each (keys of different learners sit
// in different cluster slots).
func unlinkEach(ctx context.Context, c redis.Cmdable, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	pipe := c.Pipeline()
	for _, k := range keys {
		pipe.Unlink(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("cannot delete %d keys: %w", len(keys), err)
	}
	return nil
}

// redisCPU is Redis's CPU time (used_cpu_user + used_cpu_sys), summed
// over a cluster's masters; 0 when unknown.
func redisCPU(ctx context.Context, rdb redis.UniversalClient) time.Duration {
	one := func(ctx context.Context, c *redis.Client) time.Duration {
		s, err := c.Info(ctx, "cpu").Result()
		if err != nil {
			return 0
		}
		var sum float64
		for _, f := range []string{"used_cpu_user", "used_cpu_sys"} {
			v, err := strconv.ParseFloat(infoField(s, f), 64)
			if err != nil {
				return 0
			}
			sum += v
		}
		return time.Duration(sum * float64(time.Second))
	}
	switch c := rdb.(type) {
	case *redis.Client:
		return one(ctx, c)
	case *redis.ClusterClient:
		var mu sync.Mutex
		var sum time.Duration
		_ = c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			d := one(ctx, m)
			mu.Lock()
			sum += d
			mu.Unlock()
			return nil
		})
		return sum
	}
	return 0
}

// usedMemory is Redis's used_memory (summed over a cluster's masters).
func usedMemory(ctx context.Context, rdb redis.UniversalClient) (int64, error) {
	one := func(ctx context.Context, c *redis.Client) (int64, error) {
		s, err := c.Info(ctx, "memory").Result()
		if err != nil {
			return 0, fmt.Errorf("cannot read Redis INFO memory: %w", err)
		}
		v := infoField(s, "used_memory")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("Redis INFO memory: used_memory %q is not a number", v)
		}
		return n, nil
	}
	switch c := rdb.(type) {
	case *redis.Client:
		return one(ctx, c)
	case *redis.ClusterClient:
		var mu sync.Mutex
		var sum int64
		err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			n, err := one(ctx, m)
			if err != nil {
				return err
			}
			mu.Lock() // ForEachMaster calls concurrently
			sum += n
			mu.Unlock()
			return nil
		})
		return sum, err
	}
	return 0, fmt.Errorf("cannot read Redis memory of a %T", rdb)
}

// infoField returns the value of field in an INFO reply.
func infoField(info, field string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}
