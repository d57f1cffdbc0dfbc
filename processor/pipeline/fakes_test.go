package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/schema"
)

// journal records the side effects of a stage in order, so tests can
// check that produces and Redis writes precede the commit they enable.
type journal struct {
	mu      sync.Mutex
	entries []string
}

func (j *journal) add(format string, a ...any) {
	j.mu.Lock()
	j.entries = append(j.entries, fmt.Sprintf(format, a...))
	j.mu.Unlock()
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.entries...)
}

// fakeGen is a generation whose end the test decides.
type fakeGen struct {
	parts  map[string][]kafka.PartitionAssignment
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	j      *journal

	mu        sync.Mutex
	commits   []map[int]int64
	commitErr error
}

func newFakeGen(j *journal, topic string, parts ...int) *fakeGen {
	ctx, cancel := context.WithCancel(context.Background())
	g := &fakeGen{parts: map[string][]kafka.PartitionAssignment{}, ctx: ctx, cancel: cancel, j: j}
	for _, p := range parts {
		g.parts[topic] = append(g.parts[topic], kafka.PartitionAssignment{ID: p, Offset: kafka.FirstOffset})
	}
	return g
}

func (g *fakeGen) Partitions(topic string) []kafka.PartitionAssignment { return g.parts[topic] }

func (g *fakeGen) Start(fn func(ctx context.Context)) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		fn(g.ctx)
		g.cancel() // like kafka-go: one function returning ends the generation
	}()
}

func (g *fakeGen) CommitOffsets(o map[string]map[int]int64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.commitErr != nil {
		return g.commitErr
	}
	for topic, ps := range o {
		c := map[int]int64{}
		for p, off := range ps {
			c[p] = off
			g.j.add("commit %s/%d=%d", topic, p, off)
		}
		g.commits = append(g.commits, c)
	}
	return nil
}

// committed returns the latest committed next-offset of partition p (-1: none).
func (g *fakeGen) committed(p int) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	last := int64(-1)
	for _, c := range g.commits {
		if o, ok := c[p]; ok {
			last = o
		}
	}
	return last
}

// end ends the generation and waits for everything started on it.
func (g *fakeGen) end() {
	g.cancel()
	g.wg.Wait()
}

// fakeReader serves a fixed list of messages, then waits for ctx.
type fakeReader struct {
	mu   sync.Mutex
	msgs []kafka.Message
	next int
	more chan struct{}
}

func (r *fakeReader) FetchMessage(ctx context.Context) (kafka.Message, error) {
	for {
		r.mu.Lock()
		if r.next < len(r.msgs) {
			m := r.msgs[r.next]
			r.next++
			r.mu.Unlock()
			return m, nil
		}
		more := r.more
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return kafka.Message{}, ctx.Err()
		case <-more:
		}
	}
}

func (r *fakeReader) fetched() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.next
}

func (r *fakeReader) Close() error { return nil }

// topicLog holds the messages of a topic per partition, offsets = index.
type topicLog struct {
	topic string
	parts map[int][]kafka.Message
}

func newTopicLog(topic string, n int, values ...string) *topicLog {
	t := &topicLog{topic: topic, parts: map[int][]kafka.Message{}}
	for i, v := range values {
		p := i % n
		t.parts[p] = append(t.parts[p], kafka.Message{
			Topic: topic, Partition: p, Offset: int64(len(t.parts[p])),
			Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(v), Time: time.Unix(1700000000, int64(i)),
			HighWaterMark: int64(len(values)/n + 1),
		})
	}
	return t
}

func (t *topicLog) readers() ReaderFactory {
	return func(topic string, partition int, offset int64) (PartitionReader, error) {
		if topic != t.topic {
			return nil, fmt.Errorf("no topic %s", topic)
		}
		msgs := t.parts[partition]
		start := 0
		if offset >= 0 {
			start = int(offset)
		}
		return &fakeReader{msgs: msgs, next: start, more: make(chan struct{})}, nil
	}
}

// fakeDecoder reads "learner|content|correct" statements; "bad..." is
// rejected with two violations, "panic" panics, "a;b" is two statements.
type fakeDecoder struct{}

type fakeRejection struct{ lines []string }

func (r fakeRejection) Error() string   { return strings.Join(r.lines, "; ") }
func (r fakeRejection) Code() string    { return "invalid_statement" }
func (r fakeRejection) Lines() []string { return r.lines }

func (fakeDecoder) Decode(dst []schema.Evidence, raw []byte, at time.Time) ([]schema.Evidence, error) {
	s := strings.Trim(string(raw), `"`) // array elements arrive as JSON strings
	switch {
	case s == "panic":
		panic("decoder exploded")
	case strings.HasPrefix(s, "bad"):
		return dst, fakeRejection{[]string{"actor: required", "verb.id: must be an IRI"}}
	}
	for _, st := range strings.Split(s, ";") {
		f := strings.Split(st, "|")
		if len(f) != 3 {
			return dst, fmt.Errorf("want learner|content|correct, got %q", st)
		}
		dst = append(dst, schema.Evidence{Learner: f[0], Content: f[1], Kind: schema.KindAttempt,
			HasSuccess: true, Success: f[2] == "1", Time: at.UnixNano()})
	}
	return dst, nil
}

// fakeAgg counts answers per learner-content pair and suppresses a pair
// after two correct answers; it skips offsets at or below the applied one.
type fakeAgg struct {
	j  *journal
	mu sync.Mutex

	applied  map[string]map[int32]int64 // learner -> partition -> offset
	correct  map[string]int             // learner|content -> correct answers
	dirty    map[string]bool
	events   []decision.Event
	skipped  uint64
	dropped  [][]int32
	flushes  int
	panicOn  string // learner whose Submit panics
	failWith error  // Submit fails with this error
	released int
}

func newFakeAgg(j *journal) *fakeAgg {
	return &fakeAgg{j: j, applied: map[string]map[int32]int64{}, correct: map[string]int{}, dirty: map[string]bool{}}
}

func (a *fakeAgg) Submit(ctx context.Context, in []Input) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failWith != nil {
		return a.failWith
	}
	for _, x := range in {
		ev := x.Evidence
		if ev.Learner == a.panicOn {
			panic("shard exploded")
		}
		offs := a.applied[ev.Learner]
		if offs == nil {
			offs = map[int32]int64{}
			a.applied[ev.Learner] = offs
		}
		if last, ok := offs[x.Source.Partition]; ok && x.Source.Offset <= last {
			a.skipped++
			continue
		}
		offs[x.Source.Partition] = x.Source.Offset
		a.dirty[ev.Learner] = true
		if ev.Success {
			k := ev.Learner + "|" + ev.Content
			a.correct[k]++
			if a.correct[k] == 2 {
				a.events = append(a.events, decision.Event{
					ID: fmt.Sprintf("%s/%d/%d", ev.Learner, x.Source.Partition, x.Source.Offset), Kind: decision.EventSuppressed,
					Learner: ev.Learner, Decision: decision.Decision{Content: ev.Content, Suppressed: true, Reason: decision.Mastered},
				})
			}
		}
	}
	return nil
}

func (a *fakeAgg) Flush(ctx context.Context) (*Batch, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.flushes++
	b := &Batch{Events: a.events}
	a.events = nil
	for l := range a.dirty {
		w := LearnerWrite{Learner: l}
		for p, o := range a.applied[l] {
			w.Partition, w.Offsets = p, append(w.Offsets, Source{Partition: p, Offset: o})
		}
		b.Learners = append(b.Learners, w)
	}
	a.dirty = map[string]bool{}
	return b, nil
}

func (a *fakeAgg) Release(b *Batch) {
	a.mu.Lock()
	a.released++
	a.mu.Unlock()
}

func (a *fakeAgg) DropPartitions(ctx context.Context, parts []int32) error {
	if err := ctx.Err(); err != nil {
		return err // like the shards: a cancelled drop may not happen
	}
	a.mu.Lock()
	a.dropped = append(a.dropped, parts)
	a.mu.Unlock()
	a.j.add("drop %v", parts)
	return nil
}

func (a *fakeAgg) Skipped() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.skipped
}

// fakeStore records writes; fail makes them fail.
type fakeStore struct {
	j      *journal
	mu     sync.Mutex
	fail   bool
	writes int
	state  map[string][]Source
}

func (s *fakeStore) WriteBatch(ctx context.Context, ws []LearnerWrite) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errors.New("redis: connection refused")
	}
	if s.state == nil {
		s.state = map[string][]Source{}
	}
	for _, w := range ws {
		s.state[w.Learner] = w.Offsets
	}
	s.writes++
	s.j.add("write %d", len(ws))
	return nil
}

func (s *fakeStore) setFail(f bool) {
	s.mu.Lock()
	s.fail = f
	s.mu.Unlock()
}

func (s *fakeStore) Ping(ctx context.Context) error { return nil }

// fakeProducer records produced messages by topic.
type fakeProducer struct {
	j    *journal
	mu   sync.Mutex
	fail bool
	msgs map[string][]kafka.Message
}

func (p *fakeProducer) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail {
		return errors.New("kafka: not enough replicas")
	}
	if p.msgs == nil {
		p.msgs = map[string][]kafka.Message{}
	}
	for _, m := range msgs {
		p.msgs[m.Topic] = append(p.msgs[m.Topic], m)
	}
	if len(msgs) > 0 {
		p.j.add("produce %d", len(msgs))
	}
	return nil
}

func (p *fakeProducer) topic(t string) []kafka.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]kafka.Message(nil), p.msgs[t]...)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventuallyWithin(t, 10*time.Second, what, cond)
}

// eventuallyWithin is eventually with its own deadline.
func eventuallyWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// testConfig is a Config for unit tests: short intervals.
func testConfig() *Config {
	c := Config{Brokers: []string{"localhost:9092"}, Redis: []string{"localhost:6379"}, Rekey: true}
	c.WithDefaults()
	c.FlushInterval = 5 * time.Millisecond
	c.RetryMin = time.Millisecond
	c.RetryMax = 5 * time.Millisecond
	c.FlushTimeout = 2 * time.Second
	return &c
}

func newTestAggStage(t *testing.T, cfg *Config, topic *topicLog, j *journal) (*aggStage, *fakeAgg, *fakeStore, *fakeProducer) {
	t.Helper()
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	agg, st, out := newFakeAgg(j), &fakeStore{j: j}, &fakeProducer{j: j}
	s := &aggStage{
		cfg: cfg, log: zap.NewNop(), m: m, topic: topic.topic, dec: fakeDecoder{}, agg: agg, store: st, out: out,
		open: topic.readers(), health: &Health{}, hard: context.Background(), now: time.Now,
		warnRoute: rateLimited{every: time.Second}, warnDead: rateLimited{every: time.Second},
	}
	return s, agg, st, out
}
