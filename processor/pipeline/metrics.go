package pipeline

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of unpair_statements_total: every statement read is counted
// exactly once as one of them.
const (
	OutcomeProcessed    = "processed"
	OutcomeDeadLettered = "dead_lettered"
	OutcomeDuplicate    = "duplicate"
)

// Metrics are the processor's Prometheus instruments, registered on the
// Registerer given to NewMetrics (never the global registry).
type Metrics struct {
	Statements         *prometheus.CounterVec // outcome, reason
	ConsumerLag        *prometheus.GaugeVec   // topic, partition
	ShardQueueDepth    *prometheus.GaugeVec   // shard (set by the aggregator)
	PairsInMemory      prometheus.Gauge       // set by the aggregator
	FlushDuration      prometheus.Histogram
	FlushLearners      prometheus.Histogram
	FlushOverruns      prometheus.Counter
	RedisErrors        prometheus.Counter
	RedisRetries       prometheus.Counter
	Decisions          *prometheus.CounterVec // kind, reason
	Rebalances         prometheus.Counter
	RebalancePause     prometheus.Histogram
	Misrouted          *prometheus.CounterVec // reason: key_mismatch, wrong_partition
	Rekeyed            prometheus.Counter
	KafkaProduceErrors *prometheus.CounterVec // topic
	CatalogUpdates     *prometheus.CounterVec // outcome: applied, rejected
	AggregatorEvents   *prometheus.CounterVec // event (set by the aggregator)
	AggregatorHeld     *prometheus.GaugeVec   // what (set by the aggregator)

	aggLast map[string]uint64 // the aggregator's counts at the last Observe
}

// Aggregator events (unpair_aggregator_events_total) and holdings
// (unpair_aggregator_held).
const (
	AggEventLoadError    = "load_error"    // learner state load failed (retried)
	AggEventCorruptState = "corrupt_state" // stored state did not decode: the learner started new
	AggEventNewerState   = "newer_state"   // stored state written by a newer release: load retried, never started new
	AggEventEviction     = "eviction"      // clean learner evicted under the memory budget
	AggEventPanic        = "panic"         // recovered panic (poison input, flush, sweep, ...)
	AggEventRebuild      = "rebuild"       // learner rebuilt after a panic (reload + redo log)
	AggEventCompaction   = "compaction"    // intern tables compacted
)

// addAggregatorCounts adds to AggregatorEvents what each cumulative count
// grew by since the last call.
func (m *Metrics) addAggregatorCounts(counts map[string]uint64) {
	if m.aggLast == nil {
		m.aggLast = map[string]uint64{}
	}
	for event, n := range counts {
		if last := m.aggLast[event]; n > last {
			m.AggregatorEvents.WithLabelValues(event).Add(float64(n - last))
		}
		m.aggLast[event] = n
	}
}

// NewMetrics builds the instruments and registers them on reg (nil: not
// registered, for tests that do not look at them). It fails when reg
// already holds one of the names.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Statements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "unpair_statements_total",
			Help: "Statements read, by outcome (processed, dead_lettered, duplicate) and reason.",
		}, []string{"outcome", "reason"}),
		ConsumerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "unpair_consumer_lag",
			Help: "Messages between the last fetched offset and the partition's high watermark.",
		}, []string{"topic", "partition"}),
		ShardQueueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "unpair_shard_queue_depth",
			Help: "Statements queued per shard.",
		}, []string{"shard"}),
		PairsInMemory: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "unpair_pairs_in_memory",
			Help: "Learner-content pairs held in memory.",
		}),
		FlushDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "unpair_flush_duration_seconds",
			Help:    "Time of one flush: barrier, produces, Redis writes and offset commit.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		FlushLearners: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "unpair_flush_learners",
			Help:    "Changed learners written by one flush.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
		FlushOverruns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "unpair_flush_overruns_total",
			Help: "Flushes that took longer than the flush interval.",
		}),
		RedisErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "unpair_redis_errors_total",
			Help: "Failed Redis batch writes.",
		}),
		RedisRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "unpair_redis_retries_total",
			Help: "Redis batch writes retried after a failure.",
		}),
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "unpair_decisions_total",
			Help: "Decision events published, by kind and reason.",
		}, []string{"kind", "reason"}),
		Rebalances: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "unpair_rebalances_total",
			Help: "Consumer group generations ended (rebalances) of the aggregating stage.",
		}),
		RebalancePause: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "unpair_rebalance_pause_seconds",
			Help:    "Rebalance pause of the aggregating stage: from a generation's end to the first durable flush of the next one.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
		Misrouted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "unpair_misrouted_total",
			Help: "With rekey off: statements whose message key is not their learner key (key_mismatch) or that sit in a partition no known partitioner maps the key to (wrong_partition).",
		}, []string{"reason"}),
		Rekeyed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "unpair_rekeyed_total",
			Help: "Statements re-keyed onto the by-learner topic.",
		}),
		KafkaProduceErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "unpair_kafka_produce_errors_total",
			Help: "Failed produce calls, by topic.",
		}, []string{"topic"}),
		CatalogUpdates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "unpair_catalog_updates_total",
			Help: "Catalog topic records, by outcome (applied, rejected).",
		}, []string{"outcome"}),
		AggregatorEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "unpair_aggregator_events_total",
			Help: "Sharded aggregator events: load_error, corrupt_state, newer_state, eviction, panic, rebuild, compaction.",
		}, []string{"event"}),
		AggregatorHeld: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "unpair_aggregator_held",
			Help: "What the sharded aggregator holds: learners, state_bytes, redo_entries (applied, not yet durable), interned_ids.",
		}, []string{"what"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.Statements, m.ConsumerLag, m.ShardQueueDepth, m.PairsInMemory,
			m.FlushDuration, m.FlushLearners, m.FlushOverruns, m.RedisErrors, m.RedisRetries,
			m.Decisions, m.Rebalances, m.RebalancePause, m.Misrouted, m.Rekeyed,
			m.KafkaProduceErrors, m.CatalogUpdates, m.AggregatorEvents, m.AggregatorHeld} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("cannot register metrics: %w", err)
			}
		}
	}
	return m, nil
}
