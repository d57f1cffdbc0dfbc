package loadbench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/unpair/unpair/processor/pipeline"
	"github.com/unpair/unpair/processor/simulate"
	"github.com/unpair/unpair/schema"
)

// byLearnerKey partitions by pipeline.PartitionOf of the message key (the
// learner key), as a producer that keys by learner key for rekey-off
// operation does.
type byLearnerKey struct{}

func (byLearnerKey) Balance(m kafka.Message, partitions ...int) int {
	if len(partitions) == 0 {
		return 0
	}
	return partitions[pipeline.PartitionOf(string(m.Key), len(partitions))]
}

// tag travels with a message through the writer (kafka.Message.WriterData)
// to the completion callback, which learns its partition and offset.
type tag struct {
	learner string // learner key
	valid   bool   // the simulator produced it without a defect
	sample  *sample
}

// sample is a statement whose arrival in Redis the freshness phase times.
type sample struct {
	learner   string
	partition int
	offset    int64
	produced  time.Time // just before the produce call that carried it
	visible   time.Time
	placed    bool // partition and offset are known
	completed bool
}

// position is where a learner's latest valid statement sits.
type position struct {
	partition int
	offset    int64
}

// ledger records, from the writer's completion callback, what was
// acknowledged: per partition the last valid statement, per learner its
// latest valid statement. Invalid statements go to the dead-letter topic
// and leave no offset in Redis, so they are not tracked.
type ledger struct {
	mu        sync.Mutex
	acked     int
	bytes     int64
	invalid   int
	lastValid map[int]position // partition -> offset (partition field unused)
	lastOf    map[int]string   // partition -> learner of its last valid statement
	learners  map[string]position
	samples   chan<- *sample
}

func newLedger(samples chan<- *sample) *ledger {
	return &ledger{lastValid: map[int]position{}, lastOf: map[int]string{}, learners: map[string]position{}, samples: samples}
}

func (l *ledger) complete(msgs []kafka.Message, err error) {
	if err != nil {
		return // WriteMessages returns the error
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range msgs {
		m := &msgs[i]
		l.acked++
		l.bytes += int64(len(m.Value))
		t, ok := m.WriterData.(tag)
		if !ok {
			continue
		}
		if !t.valid {
			l.invalid++
			continue
		}
		if cur, ok := l.lastValid[m.Partition]; !ok || m.Offset > cur.offset {
			l.lastValid[m.Partition] = position{partition: m.Partition, offset: m.Offset}
			l.lastOf[m.Partition] = t.learner
		}
		if cur, ok := l.learners[t.learner]; !ok || m.Offset > cur.offset {
			l.learners[t.learner] = position{partition: m.Partition, offset: m.Offset}
		}
		if t.sample != nil && l.samples != nil {
			t.sample.partition, t.sample.offset, t.sample.placed = m.Partition, m.Offset, true
			l.samples <- t.sample
		}
	}
}

// producer generates the simulated cohort and produces it keyed by
// learner key, through a batch buffer reused after every produce call.
type producer struct {
	w      *kafka.Writer
	gen    *simulate.Generator
	keyer  *schema.LearnerKeyer
	keys   map[string][]byte // canonical IFI -> learner key
	buf    []byte
	batch  []kafka.Message
	ledger *ledger
}

// produceBatch is the number of statements handed to one produce call.
const produceBatch = 2000

func newProducer(brokers []string, topic string, gen *simulate.Generator, secret string, l *ledger) *producer {
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     byLearnerKey{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    produceBatch,
		// a record batch must stay below the broker's message.max.bytes (1 MiB)
		BatchBytes:   960 << 10,
		BatchTimeout: time.Millisecond,
		MaxAttempts:  5,
		WriteTimeout: 30 * time.Second,
		Completion:   l.complete,
		Transport:    &kafka.Transport{},
	}
	return &producer{w: w, gen: gen, keyer: schema.NewLearnerKeyer([]byte(secret)), keys: map[string][]byte{},
		buf: make([]byte, 0, produceBatch*2048), batch: make([]kafka.Message, 0, produceBatch), ledger: l}
}

func (p *producer) Close() error { return p.w.Close() }

var errExhausted = errors.New("the simulated cohort ran out of statements")

// fill generates n statements into the batch; sampleFirst tags the first
// valid one with a sample.
func (p *producer) fill(n int, s *sample) error {
	p.buf, p.batch = p.buf[:0], p.batch[:0]
	for range n {
		m, buf, ok := p.gen.AppendNext(p.buf)
		if !ok {
			return errExhausted
		}
		p.buf = buf
		key, ok := p.keys[m.Learner]
		if !ok {
			key = []byte(p.keyer.Key(m.Learner))
			p.keys[m.Learner] = key
		}
		t := tag{learner: string(key), valid: m.Defect == ""}
		if s != nil && t.valid {
			s.learner, t.sample, s = t.learner, s, nil
		}
		p.batch = append(p.batch, kafka.Message{Key: key, Value: m.Value, Time: m.Time, WriterData: t})
	}
	return nil
}

// write produces the filled batch and waits for its acknowledgement. The
// buffer may be reused afterwards: a synchronous write holds no reference.
func (p *producer) write(ctx context.Context) error {
	if err := p.w.WriteMessages(ctx, p.batch...); err != nil {
		return fmt.Errorf("cannot produce %d statements: %w", len(p.batch), err)
	}
	return nil
}

// all produces n statements as fast as the broker takes them.
func (p *producer) all(ctx context.Context, n int) error {
	for done := 0; done < n; {
		k := min(produceBatch, n-done)
		if err := p.fill(k, nil); err != nil {
			return err
		}
		if err := p.write(ctx); err != nil {
			return err
		}
		done += k
	}
	return nil
}

// paced produces at rate statements per second for d, in small batches
// every tick, tagging one valid statement per sampleEvery as a sample
// (sent on the ledger's channel once acknowledged). It returns how many
// statements it produced.
func (p *producer) paced(ctx context.Context, rate float64, d, sampleEvery time.Duration) (int, error) {
	const tick = 5 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	start := time.Now()
	nextSample := start
	done := 0
	for {
		now := time.Now()
		el := now.Sub(start)
		if el >= d {
			return done, nil
		}
		due := int(rate*el.Seconds()) - done
		if due > 0 {
			var s *sample
			if !now.Before(nextSample) {
				s = &sample{produced: now}
				nextSample = nextSample.Add(sampleEvery)
				if nextSample.Before(now) {
					nextSample = now.Add(sampleEvery)
				}
			}
			if err := p.fill(min(due, produceBatch), s); err != nil {
				return done, err
			}
			if s != nil {
				s.produced = time.Now()
			}
			if err := p.write(ctx); err != nil {
				return done, err
			}
			done += len(p.batch)
		}
		select {
		case <-ctx.Done():
			return done, ctx.Err()
		case <-t.C:
		}
	}
}
