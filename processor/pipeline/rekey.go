package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/unpair/unpair/schema"
)

// rekeyStage is stage 1, like a Kafka Streams repartition: in its own
// group it reads the input, decodes each statement to find its learner
// key, produces the statement to the by-learner topic keyed by that key
// (partition PartitionOf(key)), dead-letters what the decoder rejects, and
// commits input offsets only after those produces are acknowledged.
//
// A crash between produce and commit, or a batch produced again after a
// partial failure, produces some statements twice. Each by-learner message
// carries its statement's origin (input partition, offset and index in the
// message, unpair-source-* headers); for one learner the statements of one
// input partition arrive in input order, so the engine applies a statement
// only when its origin is after the learner's applied origin of that
// partition (engine.Source.Origin): the second copy is skipped however far
// behind the first it lands.
type rekeyStage struct {
	cfg   *Config
	log   *zap.Logger
	m     *Metrics
	dec   Decoder
	out   Producer
	open  ReaderFactory
	input string
	hard  context.Context // bounds the last produce and commit after a revoke
	now   func() time.Time

	warnDead rateLimited
}

func (s *rekeyStage) runGeneration(gen generation) {
	for _, pa := range gen.Partitions(s.input) {
		gen.Start(func(ctx context.Context) { s.pump(ctx, gen, pa) })
	}
}

// pump re-keys one input partition batch by batch until the generation
// ends.
func (s *rekeyStage) pump(ctx context.Context, gen generation, pa kafka.PartitionAssignment) {
	var r PartitionReader
	var err error
	bo := backoff{min: s.cfg.RetryMin, max: s.cfg.RetryMax}
	for r == nil {
		if r, err = s.open(s.input, pa.ID, pa.Offset); err != nil {
			s.log.Warn("cannot open partition reader", zap.String("topic", s.input), zap.Int("partition", pa.ID), zap.Error(err))
			if bo.wait(ctx) != nil {
				return
			}
		}
	}
	defer r.Close()
	label := strconv.Itoa(pa.ID)
	unlimited := newBudget(1 << 30)
	const maxBatch = 500
	msgs := make([]kafka.Message, 0, maxBatch)
	var out []kafka.Message
	var evs []schema.Evidence
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("fetch failed", zap.String("topic", s.input), zap.Int("partition", pa.ID), zap.Error(err))
			if bo.wait(ctx) != nil {
				return
			}
			continue
		}
		bo.reset()
		msgs = append(msgs[:0], m)
		msgs = collect(ctx, r, unlimited, msgs, maxBatch, 5*time.Millisecond)
		last := msgs[len(msgs)-1]
		s.m.ConsumerLag.WithLabelValues(s.input, label).Set(float64(max(last.HighWaterMark-last.Offset-1, 0)))

		out = out[:0]
		for i := range msgs {
			out, evs = s.rekey(out, evs, &msgs[i])
		}
		// The batch is finished even when the generation ends meanwhile:
		// under hard, bounded by FlushTimeout after the revoke.
		wctx, cancel := context.WithCancel(s.hard)
		stop := context.AfterFunc(ctx, func() { time.AfterFunc(s.cfg.FlushTimeout, cancel) })
		ok := s.produce(wctx, out)
		if ok {
			if err := gen.CommitOffsets(map[string]map[int]int64{s.input: {pa.ID: last.Offset + 1}}); err != nil {
				s.log.Warn("cannot commit input offsets; the next owner re-keys them again", zap.Int("partition", pa.ID), zap.Error(err))
			}
		}
		stop()
		cancel()
		if !ok {
			return // ends the generation: rejoin and start over from the commit
		}
	}
}

// produce writes out, retrying until acknowledged or ctx ends.
//
// The writer retries temporary broker errors itself, batch after batch, so
// one input partition's statements land in input order. An error it
// returns is one it did not retry; the by-learner partition may then hold
// later statements of the batch while the failed ones did not land. Only
// the failed ones are sent again, marked unpair-source-resent: landing
// behind later statements, they must not be guarded by their origin
// position (the engine would take them for copies), and the by-learner
// offset and statement id window guard them instead.
func (s *rekeyStage) produce(ctx context.Context, out []kafka.Message) bool {
	bo := backoff{min: s.cfg.RetryMin, max: s.cfg.RetryMax}
	for {
		err := s.out.WriteMessages(ctx, out...)
		if err == nil {
			return true
		}
		s.m.KafkaProduceErrors.WithLabelValues("rekey").Inc()
		if ctx.Err() != nil {
			s.log.Error("giving up re-keying a batch; it is re-read from the last commit", zap.Error(err))
			return false
		}
		out = resendable(out, err)
		s.log.Warn("retrying re-key produce of the statements the broker refused", zap.Int("statements", len(out)), zap.Error(err))
		if bo.wait(ctx) != nil {
			return false
		}
	}
}

// resendable returns the messages of out that err says were not written
// (all of them when it does not say), marked unpair-source-resent.
func resendable(out []kafka.Message, err error) []kafka.Message {
	var werr kafka.WriteErrors
	failed := make([]kafka.Message, 0, len(out))
	if errors.As(err, &werr) && len(werr) == len(out) {
		for i := range out {
			if werr[i] != nil {
				failed = append(failed, out[i])
			}
		}
	} else {
		failed = append(failed, out...)
	}
	for i := range failed {
		if _, ok := Header(failed[i], HeaderSourceResent); ok || isDeadLetter(&failed[i]) {
			continue
		}
		hs := make([]kafka.Header, len(failed[i].Headers), len(failed[i].Headers)+1)
		copy(hs, failed[i].Headers)
		failed[i].Headers = append(hs, kafka.Header{Key: HeaderSourceResent, Value: []byte("1")})
	}
	return failed
}

// isDeadLetter reports whether m is a dead letter (it has a reason).
func isDeadLetter(m *kafka.Message) bool {
	_, ok := Header(*m, HeaderReason)
	return ok
}

// rekey appends the by-learner messages of m to out: one per statement (a
// JSON array is split into its statements) or one dead letter.
func (s *rekeyStage) rekey(out []kafka.Message, evs []schema.Evidence, m *kafka.Message) ([]kafka.Message, []schema.Evidence) {
	// The origin is this message's own place, whatever headers the producer
	// set: the engine's guard orders statements by it, and a dead letter
	// sent back to the input after a fix is a new statement, not a replay.
	// Only the original timestamp travels on (decode's received time).
	at := originOf(m).Time
	parts := splitArray(m.Value)
	for k, raw := range parts {
		o := origin{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Index: k, Time: at}
		var err error
		evs, err = s.decode(evs[:0], raw, m.Time)
		if err == nil && len(evs) == 0 {
			err = emptyError{}
		}
		if err == nil && len(evs) > 1 {
			// an array inside the array: its statements would share one
			// origin position and one learner's partition
			err = nestedError{}
		}
		if err != nil {
			dm := *m
			dm.Value = raw
			dm.Headers = originHeaders(o, m.Headers) // names the statement's index in m
			dl, code := deadLetter(s.cfg.DeadLetterTopic, &dm, err, s.now())
			out = append(out, dl)
			s.m.Statements.WithLabelValues(OutcomeDeadLettered, code).Inc()
			if ok, muted := s.warnDead.allow(s.now()); ok {
				s.log.Warn("statement dead-lettered", zap.String("reason", code), zap.String("topic", o.Topic),
					zap.Int("partition", o.Partition), zap.Int64("offset", o.Offset), zap.Int("suppressed_warnings", muted))
			}
			continue
		}
		// The record gets the current time, the original one travels in a
		// header: replayed history with old timestamps would otherwise be
		// deleted by the by-learner topic's retention before it is read.
		out = append(out, kafka.Message{
			Topic:   s.cfg.ByLearnerTopic,
			Key:     []byte(evs[0].Learner),
			Value:   raw,
			Headers: originHeaders(o, m.Headers),
		})
		s.m.Rekeyed.Inc()
	}
	return out, evs
}

func (s *rekeyStage) decode(dst []schema.Evidence, raw []byte, at time.Time) (evs []schema.Evidence, err error) {
	defer func() {
		if v := recover(); v != nil {
			evs, err = dst[:0], panicError{v}
		}
	}()
	if len(bytes.TrimSpace(raw)) == 0 {
		return dst, emptyError{}
	}
	return s.dec.Decode(dst, raw, at)
}

// splitArray returns the statements of a JSON array as separate values,
// or v itself when it is not a well-formed non-empty array (the decoder
// then says what is wrong with it).
func splitArray(v []byte) [][]byte {
	t := bytes.TrimLeft(v, " \t\r\n")
	if len(t) == 0 || t[0] != '[' {
		return [][]byte{v}
	}
	var items []json.RawMessage
	if err := json.Unmarshal(t, &items); err != nil || len(items) == 0 {
		return [][]byte{v}
	}
	out := make([][]byte, len(items))
	for i, it := range items {
		out[i] = it
	}
	return out
}

// nestedError: an element of a message's JSON array is itself an array.
type nestedError struct{}

func (nestedError) Error() string {
	return "an element of the message's JSON array is itself an array of statements; send one array of statements (or one statement) per message"
}
func (nestedError) Code() string    { return ReasonNested }
func (nestedError) Lines() []string { return []string{nestedError{}.Error()} }
