package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/store"
)

// Control records travel in the topic the aggregating stage consumes (the
// by-learner topic, or the input with rekey off), keyed by a learner key
// and in that learner's partition, with header unpair-control naming the
// operation. Being in the learner's partition, a control record is applied
// in order with the learner's statements: everything before it is applied
// first, nothing after it before it is done.
//
// The one operation is "forget" (`unpair forget`, data-protection erasure):
//
//  1. the fetcher hands over the statements before the record, then
//     registers the forget with the generation and waits;
//  2. the next flush (kicked at once) applies the batch as usual, except
//     that the forgotten learner's own write is left out; then deletes
//     the learner's decisions, state and engagement keys and sets its
//     offsets hash ":o" to the control record's offset in that partition
//     (only partition numbers and offsets stay: no personal data); drops
//     the learner from the aggregator's memory; produces a "forgotten"
//     event to the decisions topic; and only then commits the offsets,
//     the control record's included;
//  3. the fetcher goes on: the learner's next statements find nothing
//     stored and start fresh.
//
// Replay: a crash before the commit replays the records since the last
// commit, the control record with them, so the learner is erased again
// (statements before the record are rebuilt in memory but their Redis
// writes are refused as stale by ":o", then dropped by the record). A
// replay of the whole topic (offsets reset) rebuilds the learner from its
// retained statements and erases it again at the control record. The
// retained statements themselves are Kafka's: erasure from the topics is
// their retention's job.

// HeaderControl marks a control record; its value names the operation.
const HeaderControl = "unpair-control"

// ControlForget is the operation of `unpair forget`.
const ControlForget = "forget"

// ReasonControl is the dead-letter reason of a control record that cannot
// be applied (unknown operation, bad learner key).
const ReasonControl = "invalid_control"

// Forgetter is a Store that can erase one learner, keeping only its offsets
// hash, set to offset in partition.
type Forgetter interface {
	Forget(ctx context.Context, learner string, partition int32, offset int64) error
}

// LearnerDropper is an Aggregator that can drop single learners from
// memory, with their unreleased changes.
type LearnerDropper interface {
	DropLearners(ctx context.Context, learners []string) error
}

// forgetReq is one registered forget, awaiting its flush.
type forgetReq struct {
	learner   string
	partition int32
	offset    int64
	at        time.Time     // the control record's timestamp
	done      chan struct{} // closed once durable and committed
}

// ForgetMessage returns the control record that forgets learner, for topic
// (its partition is chosen by the caller; see ForgetPartition).
func ForgetMessage(topic, learner string, at time.Time) kafka.Message {
	return kafka.Message{Topic: topic, Key: []byte(learner), Time: at,
		Headers: []kafka.Header{{Key: HeaderControl, Value: []byte(ControlForget)}}}
}

// Partitioners of the input topic `unpair forget` can target with rekey
// off: the one the learner's statements are produced with.
const (
	PartitionerXXHash  = "xxhash"  // unpair's PartitionOf
	PartitionerMurmur2 = "murmur2" // Java clients, librdkafka's murmur2_random
	PartitionerFNV1a   = "fnv1a"   // kafka-go's Hash
)

// ForgetPartition returns the partition of learner among n: PartitionOf
// for the by-learner topic (rekey on) or the given producers' partitioner
// (rekey off).
func ForgetPartition(learner string, n int, partitioner string) (int, error) {
	kp := keyedPartitions([]byte(learner), n)
	switch partitioner {
	case "", PartitionerXXHash:
		return kp[0], nil
	case PartitionerMurmur2:
		return kp[1], nil
	case PartitionerFNV1a:
		return kp[2], nil
	}
	return 0, fmt.Errorf("partitioner: %q must be xxhash, murmur2 or fnv1a", partitioner)
}

// SendForget produces the forget control record of learner to the topic
// the aggregating stage of cfg consumes, in the learner's partition, and
// returns the topic and partition. With rekey off, partitioner names how
// the input's producers partition by learner key.
func SendForget(ctx context.Context, cfg Config, learner, partitioner string) (string, int, error) {
	cfg.WithDefaults()
	if err := store.ValidateLearnerKey(learner); err != nil {
		return "", 0, err
	}
	if len(cfg.Brokers) == 0 {
		return "", 0, errors.New("brokers: at least one Kafka address is required (UNPAIR_BROKERS)")
	}
	kc, err := cfg.KafkaConn()
	if err != nil {
		return "", 0, err
	}
	RegisterKafkaConn(cfg.Brokers, kc)
	topic := cfg.InputTopic
	if cfg.Rekey {
		topic, partitioner = cfg.ByLearnerTopic, PartitionerXXHash
	}
	n, err := partitionCount(ctx, cfg.Brokers, topic)
	if err != nil {
		return topic, 0, fmt.Errorf("cannot find the partitions of %s: %w", topic, err)
	}
	p, err := ForgetPartition(learner, n, partitioner)
	if err != nil {
		return topic, 0, err
	}
	w := &kafka.Writer{Addr: kafka.TCP(cfg.Brokers...), RequiredAcks: kafka.RequireAll,
		Balancer: kafka.BalancerFunc(func(kafka.Message, ...int) int { return p }), BatchTimeout: time.Millisecond}
	if kc.SASL != nil || kc.TLS != nil {
		w.Transport = kc.Transport(0)
	}
	defer w.Close()
	if err := w.WriteMessages(ctx, ForgetMessage(topic, learner, time.Now())); err != nil {
		return topic, p, fmt.Errorf("cannot produce the forget record to %s partition %d: %w", topic, p, err)
	}
	return topic, p, nil
}

// controlOf returns the operation of a control record, or "" for a
// statement.
func controlOf(m *kafka.Message) string {
	for _, h := range m.Headers {
		if h.Key == HeaderControl {
			if len(h.Value) == 0 {
				return "?"
			}
			return string(h.Value)
		}
	}
	return ""
}

// controlIndex returns the index of the first control record in msgs, or -1.
func controlIndex(msgs []kafka.Message) int {
	for i := range msgs {
		if controlOf(&msgs[i]) != "" {
			return i
		}
	}
	return -1
}

// controlError is a control record that cannot be applied.
type controlError struct{ why string }

func (e controlError) Error() string   { return "control record: " + e.why }
func (e controlError) Code() string    { return ReasonControl }
func (e controlError) Lines() []string { return []string{e.Error()} }

// applyControl applies one control record of partition p: a forget is
// registered for the next flush, which is kicked, and waited for; an
// invalid record is dead-lettered. It returns false when ctx ended first.
func (s *aggStage) applyControl(ctx context.Context, gs *genState, p int32, m *kafka.Message) bool {
	op := controlOf(m)
	learner := string(m.Key)
	var bad error
	_, canForget := s.store.(Forgetter)
	switch {
	case op != ControlForget:
		bad = controlError{fmt.Sprintf("unknown operation %q in header %s; the only one is %q", op, HeaderControl, ControlForget)}
	case store.ValidateLearnerKey(learner) != nil:
		bad = controlError{fmt.Sprintf("key: %v", store.ValidateLearnerKey(learner))}
	case !canForget:
		bad = controlError{"this store cannot forget learners"}
	}
	var done chan struct{}
	gs.mu.Lock()
	gs.marks[p] = m.Offset
	gs.pending++
	if bad != nil {
		dl, code := deadLetter(s.cfg.DeadLetterTopic, m, bad, s.now())
		s.m.Statements.WithLabelValues(OutcomeDeadLettered, code).Inc()
		gs.dlq = append(gs.dlq, dl)
	} else {
		done = make(chan struct{})
		gs.forgets = append(gs.forgets, forgetReq{learner: learner, partition: p, offset: m.Offset, at: m.Time, done: done})
	}
	gs.mu.Unlock()
	if bad != nil {
		s.log.Warn("control record dead-lettered: produce control records with unpair forget",
			zap.Int32("partition", p), zap.Int64("offset", m.Offset), zap.Error(bad))
		return true
	}
	select {
	case gs.kick <- struct{}{}:
	default:
	}
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// forgetEvent is the decisions-topic event announcing an erasure; its id
// is deterministic (learner, partition, offset of the control record).
func forgetEvent(f *forgetReq) decision.Event {
	return decision.Event{
		ID:      "forgotten:" + f.learner + ":" + strconv.Itoa(int(f.partition)) + ":" + strconv.FormatInt(f.offset, 10),
		Kind:    decision.EventForgotten,
		Learner: f.learner,
		At:      f.at.UnixMilli(),
	}
}

// withoutForgotten returns ws without the learners about to be forgotten
// (their state is not written just to be deleted).
func withoutForgotten(ws []LearnerWrite, fs []forgetReq) []LearnerWrite {
	if len(fs) == 0 {
		return ws
	}
	gone := make(map[string]bool, len(fs))
	for _, f := range fs {
		gone[f.learner] = true
	}
	out := make([]LearnerWrite, 0, len(ws))
	for _, w := range ws {
		if !gone[w.Learner] {
			out = append(out, w)
		}
	}
	return out
}

// applyForgets erases the learners of fs in the store, drops them from
// memory and announces them, retrying until done or ctx ends.
func (s *aggStage) applyForgets(ctx context.Context, fs []forgetReq) bool {
	fg := s.store.(Forgetter) // applyControl registers forgets only then
	for i := range fs {
		f := &fs[i]
		if !s.retry(ctx, "forget a learner in redis", func(ctx context.Context) error {
			return fg.Forget(ctx, f.learner, f.partition, f.offset)
		}, func(error) { s.m.RedisErrors.Inc() }) {
			return false
		}
	}
	if d, ok := s.agg.(LearnerDropper); ok {
		learners := make([]string, len(fs))
		for i := range fs {
			learners[i] = fs[i].learner
		}
		if err := d.DropLearners(ctx, learners); err != nil {
			s.log.Error("cannot drop forgotten learners from memory", zap.Error(err))
			return false
		}
	}
	msgs := make([]kafka.Message, 0, len(fs))
	for i := range fs {
		e := forgetEvent(&fs[i])
		em, err := eventMessage(s.cfg.DecisionTopic, &e)
		if err != nil {
			s.log.Error("cannot encode forgotten event", zap.Error(err))
			return false
		}
		msgs = append(msgs, em)
	}
	if !s.retry(ctx, "produce forgotten events", func(ctx context.Context) error {
		return s.out.WriteMessages(ctx, msgs...)
	}, func(error) { s.m.KafkaProduceErrors.WithLabelValues("flush").Inc() }) {
		return false
	}
	for i := range fs {
		s.m.Decisions.WithLabelValues(string(decision.EventForgotten), "").Inc()
		s.log.Info("learner forgotten", zap.String("learner", fs[i].learner), zap.Int32("partition", fs[i].partition), zap.Int64("offset", fs[i].offset))
	}
	return true
}

// Forget implements Forgetter: in one transaction (the learner's keys share
// a cluster slot), delete its decisions, state, engagement and skills, and set its
// offsets hash to offset in partition, so a replayed statement from before
// the control record is refused as stale.
func (r RedisStore) Forget(ctx context.Context, learner string, partition int32, offset int64) error {
	if err := store.ValidateLearnerKey(learner); err != nil {
		return fmt.Errorf("cannot forget learner: %w", err)
	}
	k := r.S.Schema().Keys(learner)
	_, err := r.RDB.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, k.Decisions, k.State, k.Engagement, k.Skills)
		p.HSet(ctx, k.Offsets, strconv.Itoa(int(partition)), strconv.FormatInt(offset, 10))
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot forget learner %s: %w", learner, err)
	}
	return nil
}

// DropLearners implements LearnerDropper.
func (s ShardAggregator) DropLearners(ctx context.Context, learners []string) error {
	set := make(map[string]bool, len(learners))
	for _, l := range learners {
		set[l] = true
	}
	return s.A.Drop(ctx, func(key string, _ int32) bool { return set[key] })
}

// ForgetWatch waits for the "forgotten" event of one learner on the
// decisions topic. Make it before SendForget (it notes where the learner's
// decisions partition ends), then call Wait.
type ForgetWatch struct {
	brokers   []string
	topic     string
	learner   string
	partition int
	from      int64
}

// WatchForgotten notes the end of the decisions partition of learner.
func WatchForgotten(ctx context.Context, cfg Config, learner string) (*ForgetWatch, error) {
	cfg.WithDefaults()
	kc, err := cfg.KafkaConn()
	if err != nil {
		return nil, err
	}
	RegisterKafkaConn(cfg.Brokers, kc)
	ends, err := EndOffsets(ctx, cfg.Brokers, cfg.DecisionTopic)
	if err != nil {
		return nil, fmt.Errorf("cannot read the end of %s: %w", cfg.DecisionTopic, err)
	}
	if len(ends) == 0 {
		return nil, fmt.Errorf("decision-topic %s has no partitions", cfg.DecisionTopic)
	}
	p := PartitionOf(learner, len(ends))
	return &ForgetWatch{brokers: cfg.Brokers, topic: cfg.DecisionTopic, learner: learner, partition: p, from: ends[p]}, nil
}

// Wait returns the forgotten event once the processor produced it, or
// ctx's error.
func (w *ForgetWatch) Wait(ctx context.Context) (decision.Event, error) {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: w.brokers, Topic: w.topic, Partition: w.partition,
		MaxWait: 250 * time.Millisecond, Dialer: kafkaConnFor(w.brokers).Dialer()})
	defer r.Close()
	if err := r.SetOffset(w.from); err != nil {
		return decision.Event{}, err
	}
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return decision.Event{}, fmt.Errorf("no forgotten event for %s on %s yet: %w", w.learner, w.topic, err)
		}
		if string(m.Key) != w.learner {
			continue
		}
		var e decision.Event
		if json.Unmarshal(m.Value, &e) == nil && e.Kind == decision.EventForgotten && e.Learner == w.learner {
			return e, nil
		}
	}
}
