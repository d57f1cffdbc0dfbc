package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/engine"
	"github.com/unpair/unpair/processor/shard"
	"github.com/unpair/unpair/processor/simulate"
	"github.com/unpair/unpair/schema"
)

func benchCohort(b *testing.B) []simulate.Message {
	b.Helper()
	sc := simulate.DefaultConfig()
	sc.Keys = simulate.KeyRandom
	msgs, _, _, err := simulate.Cohort(sc)
	if err != nil {
		b.Fatal(err)
	}
	return msgs
}

func benchDecoder() SchemaDecoder {
	return SchemaDecoder{D: schema.NewDecoder(schema.Options{Keyer: schema.NewLearnerKeyer([]byte(testSecret)), MaxBytes: MaxStatementBytes})}
}

// BenchmarkRekey is stage 1's work per input message without Kafka:
// decode to find the learner key, build the by-learner message or the
// dead letter.
func BenchmarkRekey(b *testing.B) {
	msgs := benchCohort(b)
	m, _ := NewMetrics(nil)
	cfg := DefaultConfig()
	s := &rekeyStage{cfg: &cfg, log: zap.NewNop(), m: m, dec: benchDecoder(), now: time.Now, warnDead: rateLimited{every: time.Hour}}
	in := make([]kafka.Message, len(msgs))
	for i, x := range msgs {
		in[i] = kafka.Message{Topic: "in", Partition: 0, Offset: int64(i), Key: x.Key, Value: x.Value, Time: x.Time}
	}
	var out []kafka.Message
	var evs []schema.Evidence
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, evs = s.rekey(out[:0], evs, &in[i%len(in)])
	}
}

// BenchmarkAggregate is stage 2's work per statement without Kafka or
// Redis: decode, hand to the real sharded engine in batches of 256, and a
// flush barrier with release every 5000 statements.
func BenchmarkAggregate(b *testing.B) {
	msgs := benchCohort(b)
	dec := benchDecoder()
	agg, err := shard.New(engine.DefaultConfig(), catalog.NewCatalog(nil), shard.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer agg.Close()
	a := ShardAggregator{A: agg}
	ctx := context.Background()
	batch := make([]Input, 0, 256)
	var evs []schema.Evidence
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := &msgs[i%len(msgs)]
		evs, err = dec.Decode(evs[:0], m.Value, m.Time)
		if err == nil {
			// offsets grow across passes so every statement applies
			batch = append(batch, Input{Evidence: evs[0], Source: Source{Partition: 0, Offset: int64(i)}})
		}
		if len(batch) == cap(batch) {
			if err := a.Submit(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
		if i%5000 == 4999 {
			fb, err := a.Flush(ctx)
			if err != nil {
				b.Fatal(err)
			}
			a.Release(fb)
		}
	}
}

func BenchmarkPartitionOf(b *testing.B) {
	key := "0123456789abcdef0123456789abcdef"
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = PartitionOf(key, 12)
	}
}

func BenchmarkDeadLetter(b *testing.B) {
	m := kafka.Message{Topic: "in", Partition: 3, Offset: 42, Key: []byte("k"), Value: []byte(`{"bad":true}`)}
	err := error(fakeRejection{[]string{"actor: required", "verb.id: must be an IRI"}})
	now := time.Now()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_, _ = deadLetter("dlq", &m, err, now)
	}
}

// BenchmarkEndToEnd runs the whole processor on the real broker and Redis:
// each iteration produces a fresh cohort (~30,000 statements of 400
// learners, keyed at random) to a new 3-partition input topic, starts one
// processor (topic creation and group joins included), and measures until
// both stages have committed everything. Run with -benchtime=1x.
func BenchmarkEndToEnd(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		r := newRig(b, 3)
		sc := simulate.DefaultConfig()
		sc.Keys, sc.Learners, sc.Sessions = simulate.KeyRandom, 400, 2400
		msgs, _, _, err := simulate.Cohort(sc)
		if err != nil {
			b.Fatal(err)
		}
		r.produce(msgs)
		b.StartTimer()
		start := time.Now()
		in := r.start(zap.NewNop())
		r.waitDone(5 * time.Minute)
		d := time.Since(start)
		b.StopTimer()
		in.stop(b)
		b.ReportMetric(float64(len(msgs))/d.Seconds(), "statements/s")
		b.ReportMetric(float64(len(msgs)), "statements")
	}
}
