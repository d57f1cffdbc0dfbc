package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Deps are the parts the pipeline runs with. Decoder, Aggregator and Store
// are required; the rest have defaults (Kafka readers and writer, a new
// Prometheus registry, a no-op logger).
type Deps struct {
	Decoder    Decoder
	Aggregator Aggregator
	Store      Store
	// Catalog receives the catalog topic's records; nil: the topic is not
	// followed.
	Catalog CatalogSink
	// API is mounted on the HTTP server besides /metrics, /healthz and
	// /readyz (the query API); nil: not mounted.
	API http.Handler
	// Figures stores the per-content engagement figures; nil: not kept.
	Figures Figures

	Registry *prometheus.Registry
	Logger   *zap.Logger
	Metrics  *Metrics // built from Registry when nil

	Readers  ReaderFactory // default: kafka-go partition readers
	Producer Producer      // default: a kafka-go Writer, closed by Run
}

// Processor is a running `unpair run`.
type Processor struct {
	cfg    Config
	d      Deps
	m      *Metrics
	log    *zap.Logger
	health *Health
	addr   atomic.Value // string: the HTTP server's address once listening
	agg    *aggStage
}

// New checks cfg and deps and returns a Processor ready to Run.
func New(cfg Config, d Deps) (*Processor, error) {
	cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	kc, err := cfg.KafkaConn()
	if err != nil {
		return nil, err
	}
	RegisterKafkaConn(cfg.Brokers, kc) // SASL and TLS for every Kafka connection
	if d.Decoder == nil || d.Aggregator == nil || d.Store == nil {
		return nil, errors.New("pipeline: Decoder, Aggregator and Store are required")
	}
	if d.Logger == nil {
		d.Logger = zap.NewNop()
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	if d.Metrics == nil {
		m, err := NewMetrics(d.Registry)
		if err != nil {
			return nil, err
		}
		d.Metrics = m
	}
	if d.Readers == nil {
		d.Readers = kafkaReaders(&cfg)
	}
	p := &Processor{cfg: cfg, d: d, m: d.Metrics, log: d.Logger, health: &Health{needCat: d.Catalog != nil && cfg.CatalogTopic != ""}}
	return p, nil
}

// Health returns the processor's readiness state.
func (p *Processor) Health() *Health { return p.health }

// Metrics returns the processor's instruments.
func (p *Processor) Metrics() *Metrics { return p.m }

// Addr returns the HTTP server's listening address, or "" before it
// listens (or when it is disabled).
func (p *Processor) Addr() string {
	s, _ := p.addr.Load().(string)
	return s
}

// Run runs the processor until ctx ends, then stops in order: fetching
// stops, the aggregator drains, the final flush (bounded by FlushTimeout)
// makes state durable, offsets are committed, the groups are left and the
// clients closed. hard ends a stop that takes too long: flushes give up
// (nothing uncommitted is lost: the next owner replays it).
func (p *Processor) Run(ctx, hard context.Context) error {
	cfg := &p.cfg
	hard, cancelHard := context.WithCancel(hard)
	defer cancelHard()
	stopped := context.AfterFunc(ctx, func() {
		time.AfterFunc(cfg.ShutdownTimeout, cancelHard)
	})
	defer stopped()

	srv, err := p.serve()
	if err != nil {
		return err
	}

	consumed := cfg.InputTopic
	if cfg.Rekey {
		consumed = cfg.ByLearnerTopic
	}
	if err := p.topics(ctx); err != nil {
		p.closeServer(srv)
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	out := p.d.Producer
	var writer interface{ Close() error }
	if out == nil {
		w := newWriter(cfg)
		out, writer = w, w
	}

	var nParts atomic.Int64
	if n, err := partitionCount(ctx, cfg.Brokers, consumed); err == nil {
		nParts.Store(int64(n))
	}
	now := time.Now
	p.agg = &aggStage{
		cfg: cfg, log: p.log.With(zap.String("stage", "aggregate")), m: p.m, topic: consumed,
		partitions: func() int { return int(nParts.Load()) },
		dec:        p.d.Decoder, agg: p.d.Aggregator, store: p.d.Store, out: out, open: p.d.Readers, figures: p.d.Figures,
		routeCheck: !cfg.Rekey, health: p.health, hard: hard, now: now, originTopic: originTopic(cfg),
		warnRoute: rateLimited{every: 10 * time.Second}, warnDead: rateLimited{every: 5 * time.Second},
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	// Redis is pinged apart from the writes: a learner's first load, not a
	// write, may be what waits on a dead Redis, and readiness should say so.
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			err := p.d.Store.Ping(pctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			p.health.setPing(err == nil)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	if obs, ok := p.d.Aggregator.(Observer); ok {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				obs.Observe(p.m)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs <- runGroup(ctx, p.agg.log, groupConfig(cfg, cfg.Group, consumed), func(g generation) {
			if n, err := partitionCount(ctx, cfg.Brokers, consumed); err == nil {
				nParts.Store(int64(n))
			}
			p.agg.runGeneration(g)
		})
	}()
	if cfg.Rekey {
		rkOut := p.d.Producer
		if rkOut == nil {
			w := newRekeyWriter(cfg)
			rkOut = w
			// Its batches retry while the broker's errors are temporary, so
			// a close waits at most FlushTimeout for them (a batch still
			// pending then is re-keyed by the group's next owner).
			defer closeWithin(w, cfg.FlushTimeout, p.log)
		}
		rk := &rekeyStage{
			cfg: cfg, log: p.log.With(zap.String("stage", "rekey")), m: p.m, dec: p.d.Decoder, out: rkOut,
			open: p.d.Readers, input: cfg.InputTopic, hard: hard, now: now,
			warnDead: rateLimited{every: 5 * time.Second},
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- runGroup(ctx, rk.log, groupConfig(cfg, cfg.Group+".rekey", cfg.InputTopic), rk.runGeneration)
		}()
	}
	if p.d.Catalog != nil && cfg.CatalogTopic != "" {
		feed := &catalogFeed{cfg: cfg, log: p.log.With(zap.String("stage", "catalog")), m: p.m,
			topic: cfg.CatalogTopic, sink: p.d.Catalog, open: p.d.Readers, health: p.health}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- feed.run(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		if err != nil {
			all = append(all, err)
		}
	}
	if writer != nil {
		if err := writer.Close(); err != nil {
			all = append(all, fmt.Errorf("cannot close kafka writer: %w", err))
		}
	}
	p.closeServer(srv)
	return errors.Join(all...)
}

// closeWithin closes c, waiting at most d for it.
func closeWithin(c interface{ Close() error }, d time.Duration, log *zap.Logger) {
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	select {
	case err := <-done:
		if err != nil {
			log.Warn("cannot close the re-key writer", zap.Error(err))
		}
	case <-time.After(d):
		log.Warn("re-key writer still retrying batches at stop; the group's next owner re-keys them", zap.Duration("waited", d))
	}
}

// topics checks the input exists (waiting for it) and creates the topics
// the processor writes when CreateTopics is on.
func (p *Processor) topics(ctx context.Context) error {
	cfg := &p.cfg
	bo := backoff{min: cfg.RetryMin, max: cfg.RetryMax}
	var n int
	for {
		var err error
		n, err = partitionCount(ctx, cfg.Brokers, cfg.InputTopic)
		if err == nil {
			break
		}
		p.log.Warn("waiting for the input topic", zap.String("topic", cfg.InputTopic), zap.Error(err))
		if bo.wait(ctx) != nil {
			return ctx.Err()
		}
	}
	if !cfg.CreateTopics {
		return nil
	}
	type want struct {
		topic     string
		n         int
		compacted bool
	}
	wants := []want{{cfg.DeadLetterTopic, n, false}, {cfg.DecisionTopic, n, false}}
	if cfg.Rekey {
		wants = append(wants, want{cfg.ByLearnerTopic, n, false})
	}
	if cfg.CatalogTopic != "" && p.d.Catalog != nil {
		wants = append(wants, want{cfg.CatalogTopic, 1, true})
	}
	for _, w := range wants {
		created, err := ensureTopic(ctx, cfg.Brokers, w.topic, w.n, cfg.ReplicationFactor, w.compacted)
		if err != nil {
			return err
		}
		if created {
			p.log.Info("created topic", zap.String("topic", w.topic), zap.Int("partitions", w.n))
		}
	}
	if cfg.Rekey {
		// An existing by-learner topic with another partition count still
		// works (PartitionOf uses its own count); say so, since it breaks
		// the mirror of the input's parallelism.
		if m, err := partitionCount(ctx, cfg.Brokers, cfg.ByLearnerTopic); err == nil && m != n {
			p.log.Warn("by-learner topic has a different partition count than the input",
				zap.String("topic", cfg.ByLearnerTopic), zap.Int("partitions", m), zap.Int("input_partitions", n))
		}
	}
	return nil
}

// serve starts the HTTP server: /metrics, /healthz, /readyz and the API.
func (p *Processor) serve() (*http.Server, error) {
	if p.cfg.HTTPAddr == "" {
		return nil, nil
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(p.d.Registry, promhttp.HandlerOpts{Registry: p.d.Registry}))
	mux.HandleFunc("/healthz", serveHealth)
	mux.HandleFunc("/readyz", p.health.serveReady)
	if p.cfg.Pprof {
		// No /debug/pprof/cmdline: the command line may carry secrets
		// (--learner-secret, --api-token).
		mux.HandleFunc("/debug/pprof/cmdline", http.NotFound)
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if p.d.API != nil {
		mux.Handle("/", p.d.API)
	}
	ln, err := net.Listen("tcp", p.cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s (http-addr): %w", p.cfg.HTTPAddr, err)
	}
	p.addr.Store(ln.Addr().String())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.log.Error("http server stopped", zap.Error(err))
		}
	}()
	return srv, nil
}

func (p *Processor) closeServer(srv *http.Server) {
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}
