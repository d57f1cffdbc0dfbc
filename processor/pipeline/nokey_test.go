package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/unpair/unpair/schema"
)

// TestRekeyOffTrustsLearnerKeysAndReportsOthers runs without re-keying:
// producers that key by learner key (murmur2, as a Java producer would)
// get exactly the clean pass; statements keyed otherwise are counted as
// misrouted. The wrongly keyed ones are still sent to their learner's
// partition, so the clean pass stays well defined.
func TestRekeyOffTrustsLearnerKeysAndReportsOthers(t *testing.T) {
	r := newRig(t, 3)
	r.cfg.Rekey = false
	msgs := cohort(t, 50, 250, 19)
	dec := schema.NewDecoder(schema.Options{Keyer: schema.NewLearnerKeyer([]byte(testSecret)), MaxBytes: MaxStatementBytes})
	var keyed []kafka.Message
	misKeyed := 0
	for i, m := range msgs {
		km := kafka.Message{Key: m.Key, Value: m.Value, Time: m.Time}
		if ev, err := dec.Normalize(m.Value, m.Time); err == nil {
			km.Key = []byte(ev.Learner)
			km.Headers = []kafka.Header{{Key: "route", Value: []byte(ev.Learner)}}
			if i%50 == 0 { // a few producers get it wrong
				km.Key = []byte("not-the-learner-key")
				misKeyed++
			}
		}
		keyed = append(keyed, km)
	}
	route := kafka.BalancerFunc(func(m kafka.Message, parts ...int) int {
		if v, ok := Header(m, "route"); ok {
			m.Key = []byte(v)
		}
		return kafka.Murmur2Balancer{Consistent: true}.Balance(m, parts...)
	})
	w := &kafka.Writer{Addr: kafka.TCP(r.brokers...), Topic: r.cfg.InputTopic, Balancer: route,
		RequiredAcks: kafka.RequireAll, BatchSize: 500, BatchTimeout: 2 * time.Millisecond, Transport: &kafka.Transport{}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, keyed...); err != nil {
		t.Fatal(err)
	}
	w.Close()

	in := r.start(testLogger(t))
	deadline := time.Now().Add(60 * time.Second)
	for {
		if ok, _ := r.caughtUp(ctx, r.cfg.Group, r.cfg.InputTopic); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("processing did not finish within 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	misrouted := testutil.ToFloat64(in.p.Metrics().Misrouted.WithLabelValues(MisrouteKeyMismatch))
	wrongPart := testutil.ToFloat64(in.p.Metrics().Misrouted.WithLabelValues(MisrouteWrongPartition))
	in.stop(t)
	if int(misrouted) != misKeyed || wrongPart != 0 {
		t.Errorf("misrouted: key_mismatch=%v wrong_partition=%v, want %d and 0", misrouted, wrongPart, misKeyed)
	}
	if _, err := partitionCount(ctx, r.brokers, r.cfg.ByLearnerTopic); err == nil {
		t.Errorf("the by-learner topic was created with rekey off")
	}
	input := r.readAll(r.cfg.InputTopic)
	o := runOracleOver(t, input, true)
	r.checkRedis(o)
	r.checkDecisionTopic(o)
}
