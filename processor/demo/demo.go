package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/unpair/unpair/processor/insight"
	"github.com/unpair/unpair/processor/pipeline"
	"github.com/unpair/unpair/processor/simulate"
	"github.com/unpair/unpair/schema"
)

// Config says what the demo simulates and where it runs.
type Config struct {
	Learners int    // simulated learners; 0 means 200
	Seed     uint64 // seed of the simulated cohort; 0 means 1
	// HTTPAddr serves the query API, /metrics, /healthz, /readyz and
	// /insight/; "" means 127.0.0.1:8080. Port 0 picks a free port.
	HTTPAddr string
	// Brokers and Redis name real servers; empty means start an in-process
	// one (a Kafka-protocol broker, kfake, and miniredis).
	Brokers []string
	Redis   []string
	// Partitions of the input topic (and so of the topics the processor
	// creates); 0 means 4.
	Partitions int
	// Secret is the learner-key secret; "" means "demo-secret".
	Secret string
	// Logger receives the processor's log; nil discards it.
	Logger *zap.Logger
	// Now is the clock that places the cohort: its four weeks end at the
	// start of Now's UTC day. nil means time.Now.
	Now func() time.Time
}

// DefaultHTTPAddr is where the demo serves unless told otherwise.
const DefaultHTTPAddr = "127.0.0.1:8080"

// DefaultSecret is the demo's learner-key secret.
const DefaultSecret = "demo-secret"

// ErrAddrInUse is returned (wrapped) by Start when HTTPAddr is taken.
var ErrAddrInUse = errors.New("address already in use")

func (c *Config) withDefaults() {
	if c.Learners == 0 {
		c.Learners = 200
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	if c.Partitions == 0 {
		c.Partitions = 4
	}
	if c.Secret == "" {
		c.Secret = DefaultSecret
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

func (c *Config) validate() error {
	var errs []error
	if c.Learners < 1 || c.Learners > 1_000_000 {
		errs = append(errs, fmt.Errorf("learners: %d must be between 1 and 1000000", c.Learners))
	}
	if c.Partitions < 1 || c.Partitions > 256 {
		errs = append(errs, fmt.Errorf("partitions: %d must be between 1 and 256", c.Partitions))
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("http: %q must be host:port (port 0 picks a free one)", c.HTTPAddr))
	}
	return errors.Join(errs...)
}

// Demo is a running demo: servers, the processor and what was produced.
type Demo struct {
	cfg     Config
	srv     *servers
	pcfg    pipeline.Config
	built   *pipeline.Built
	proc    *pipeline.Processor
	reg     *prometheus.Registry
	keyer   *schema.LearnerKeyer
	cancel  context.CancelFunc // stops the processor in order
	hard    context.CancelFunc // cuts a stop short
	done    chan struct{}      // closed when the processor's Run returned
	runErr  error
	stopMu  sync.Mutex
	stopped bool

	produced  int
	truth     simulate.Stats
	learners  []string // canonical IFIs of the cohort, in first-seen order
	started   time.Time
	produceIn time.Duration
}

// Start starts the servers (unless given), creates the topics, starts the
// real processor (processor/pipeline, as `unpair run` builds it), waits
// until it is ready and produces the simulated cohort. The processor keeps
// running until Stop. Cancelling ctx aborts the start only.
func Start(ctx context.Context, cfg Config) (*Demo, error) {
	cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := checkAddr(cfg.HTTPAddr); err != nil {
		return nil, err
	}
	srv, err := startServers(cfg.Brokers, cfg.Redis)
	if err != nil {
		return nil, err
	}
	d := &Demo{cfg: cfg, srv: srv, keyer: schema.NewLearnerKeyer([]byte(cfg.Secret)), done: make(chan struct{})}
	d.pcfg = d.pipelineConfig()
	if err := d.start(ctx); err != nil {
		d.Stop()
		return nil, err
	}
	return d, nil
}

// checkAddr fails with ErrAddrInUse when addr cannot be listened on
// because it is taken (port 0 always passes).
func checkAddr(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("http: %s: %w (use --http 127.0.0.1:0 to pick a free port)", addr, ErrAddrInUse)
		}
		return fmt.Errorf("http: cannot listen on %s: %w", addr, err)
	}
	return ln.Close()
}

// pipelineConfig is `unpair run`'s configuration for the demo. On the
// in-process servers every name is the default; on real servers the
// topics, groups and Redis prefix carry a run id, so a run never mixes
// with an earlier one's statements, offsets or state.
func (d *Demo) pipelineConfig() pipeline.Config {
	c := pipeline.DefaultConfig()
	c.Brokers, c.Redis = d.srv.brokers, d.srv.redis
	c.HTTPAddr = d.cfg.HTTPAddr
	c.LearnerSecret = d.cfg.Secret
	c.LogFormat = "console"
	c.CatalogTopic = pipeline.DefaultCatalogTopic
	c.FlushInterval = 100 * time.Millisecond
	c.FetchMaxWait = 100 * time.Millisecond
	// kfake's smallest allowed session timeout is 6s; a short heartbeat
	// makes joins and the final leave quick.
	c.SessionTimeout = 6 * time.Second
	c.HeartbeatInterval = 500 * time.Millisecond
	c.RebalanceTimeout = 5 * time.Second
	c.FlushTimeout = 3 * time.Second // with the heartbeat and margin, within the rebalance timeout (Validate)
	c.ShutdownTimeout = 20 * time.Second
	if len(d.cfg.Brokers) > 0 || len(d.cfg.Redis) > 0 {
		run := "demo-" + strconv.FormatInt(d.cfg.Now().Unix(), 36)
		c.Group = "unpair-" + run
		c.InputTopic += "." + run
		c.ByLearnerTopic += "." + run
		c.DeadLetterTopic += "." + run
		c.DecisionTopic += "." + run
		c.CatalogTopic += "." + run
		c.RedisPrefix = "unpair-" + run
	}
	return c
}

func (d *Demo) start(ctx context.Context) error {
	log := d.cfg.Logger
	// Every topic exists before the processor's first Kafka request: its
	// writer (on kafka-go's shared default transport) caches the topic list
	// it first sees for up to 6 s.
	kc := d.srv.kafkaClient()
	n := d.cfg.Partitions
	for _, t := range []struct {
		name      string
		n         int
		compacted bool
	}{
		{d.pcfg.InputTopic, n, false}, {d.pcfg.ByLearnerTopic, n, false}, {d.pcfg.DeadLetterTopic, n, false},
		{d.pcfg.DecisionTopic, n, false}, {d.pcfg.CatalogTopic, 1, true},
	} {
		if err := createTopic(ctx, kc, t.name, t.n, t.compacted); err != nil {
			return err
		}
	}

	gen, cohort, err := d.cohort()
	if err != nil {
		return err
	}
	if err := d.produceCatalog(ctx, gen.Catalog()); err != nil {
		return err
	}

	b, err := pipeline.Build(d.pcfg, log)
	if err != nil {
		return fmt.Errorf("cannot build the processor: %w", err)
	}
	d.built = b
	mux := http.NewServeMux()
	mux.Handle("/", b.API)
	mux.Handle("GET /{$}", http.RedirectHandler("/insight/", http.StatusFound))
	if err := insight.Register(mux, insight.Config{Redis: b.Redis, Prefix: d.pcfg.RedisPrefix, Secret: []byte(d.cfg.Secret)}); err != nil {
		return fmt.Errorf("cannot mount the insight page: %w", err)
	}
	deps := b.Deps
	deps.API = mux
	d.reg = prometheus.NewRegistry()
	deps.Registry = d.reg
	p, err := pipeline.New(d.pcfg, deps)
	if err != nil {
		return fmt.Errorf("cannot start the processor: %w", err)
	}
	d.proc = p
	runCtx, cancel := context.WithCancel(context.Background())
	hard, cut := context.WithCancel(context.Background())
	d.cancel, d.hard = cancel, cut
	go func() {
		defer close(d.done)
		d.runErr = p.Run(runCtx, hard)
	}()
	// Ready means: the aggregating stage owns its partitions and the catalog
	// topic has been read to its end, so every statement meets the catalog.
	if err := d.waitReady(ctx, 60*time.Second); err != nil {
		return err
	}
	// The re-key stage's group too, so the throughput measures processing,
	// not the broker's initial rebalance delay (3 s on a real Kafka).
	if err := d.waitStable(ctx, kc, d.pcfg.Group+".rekey", 60*time.Second); err != nil {
		return err
	}
	d.started = time.Now()
	if err := d.produce(ctx, cohort); err != nil {
		return err
	}
	d.produceIn = time.Since(d.started)
	return nil
}

func (d *Demo) runError() error {
	if d.runErr != nil {
		return fmt.Errorf("processor stopped: %w", d.runErr)
	}
	return errors.New("processor stopped before it was ready")
}

func (d *Demo) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		err := d.proc.Health().Ready()
		if err == nil && d.proc.Addr() == "" {
			err = errors.New("HTTP server not listening yet")
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processor not ready after %v: %w", limit, err)
		}
		select {
		case <-d.done:
			return d.runError()
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitStable waits until group is Stable with at least one member.
func (d *Demo) waitStable(ctx context.Context, kc *kafka.Client, group string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	state := "unknown"
	for {
		resp, err := kc.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err == nil && len(resp.Groups) == 1 && resp.Groups[0].Error == nil {
			g := resp.Groups[0]
			if g.GroupState == "Stable" && len(g.Members) > 0 {
				return nil
			}
			state = g.GroupState
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("consumer group %s not stable after %v (state %s, last error %v)", group, limit, state, err)
		}
		select {
		case <-d.done:
			return d.runError()
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// cohort generates the simulated cohort. Its session starts span the four
// weeks before the start of today (UTC); since sessions queued behind
// others can run days past the span, the window moves back by whole days
// until the last statement lies before today: a statement from the future
// would be odd in the decisions, and Kafka 4 rejects timestamps more than
// an hour ahead (log.message.timestamp.after.max.ms).
func (d *Demo) cohort() (*simulate.Generator, []simulate.Message, error) {
	sc := simulate.DefaultConfig()
	sc.Seed = d.cfg.Seed
	sc.Learners = d.cfg.Learners
	today := d.cfg.Now().UTC().Truncate(24 * time.Hour)
	sc.Start = today.Add(-sc.Span)
	for attempt := 0; ; attempt++ {
		gen, err := simulate.New(sc)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot simulate the cohort: %w", err)
		}
		var msgs []simulate.Message
		var last time.Time
		for {
			m, ok := gen.Next()
			if !ok {
				break
			}
			if m.Time.After(last) {
				last = m.Time
			}
			msgs = append(msgs, m)
		}
		if !last.After(today) || attempt == 3 {
			seen := map[string]bool{}
			for _, m := range msgs {
				if !seen[m.Learner] {
					seen[m.Learner] = true
					d.learners = append(d.learners, m.Learner)
				}
			}
			d.truth = gen.Stats()
			return gen, msgs, nil
		}
		sc.Start = sc.Start.Add(-(last.Sub(today).Truncate(24*time.Hour) + 24*time.Hour))
	}
}

func (d *Demo) writer(topic string) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(d.srv.brokers...),
		Transport:    d.srv.transport,
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    1000,
		BatchBytes:   1 << 20, // the broker's default message.max.bytes
		BatchTimeout: 5 * time.Millisecond,
		WriteTimeout: 10 * time.Second,
	}
}

// produceCatalog writes the cohort's content and skills to the catalog
// topic.
func (d *Demo) produceCatalog(ctx context.Context, cat *simulate.Catalog) error {
	recs, err := cat.Records()
	if err != nil {
		return err
	}
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		msgs[i] = kafka.Message{Key: r.Key, Value: r.Value}
	}
	w := d.writer(d.pcfg.CatalogTopic)
	defer w.Close()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("cannot produce the catalog to %s: %w", d.pcfg.CatalogTopic, err)
	}
	return nil
}

// produce writes the statements to the input topic, keyed by the learner's
// IFI as an LMS would, in batches.
func (d *Demo) produce(ctx context.Context, cohort []simulate.Message) error {
	w := d.writer(d.pcfg.InputTopic)
	defer w.Close()
	const batch = 1000
	msgs := make([]kafka.Message, 0, batch)
	for i := 0; i < len(cohort); i += batch {
		msgs = msgs[:0]
		for _, m := range cohort[i:min(i+batch, len(cohort))] {
			msgs = append(msgs, kafka.Message{Key: m.Key, Value: m.Value, Time: m.Time})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("cannot produce statements to %s: %w", d.pcfg.InputTopic, err)
		}
		d.produced += len(msgs)
	}
	return nil
}

// Addr returns the HTTP server's address.
func (d *Demo) Addr() string { return d.proc.Addr() }

// Done is closed when the processor stopped (after Stop, or on its own
// error; see Stop's result).
func (d *Demo) Done() <-chan struct{} { return d.done }

// Stop stops the processor in order (final flush, commit, leave the
// groups) and closes the servers the demo started. It returns the
// processor's error, if any. Calling it again does nothing.
func (d *Demo) Stop() error {
	d.stopMu.Lock()
	defer d.stopMu.Unlock()
	if d.stopped {
		return nil
	}
	d.stopped = true
	var err error
	if d.cancel != nil {
		d.cancel()
		<-d.done
		d.hard()
		err = d.runErr
	}
	if d.built != nil {
		if cerr := d.built.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cannot close the processor's clients: %w", cerr))
		}
	}
	d.srv.close()
	return err
}
