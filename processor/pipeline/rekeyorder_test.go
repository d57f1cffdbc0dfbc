package pipeline

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// failFirstProduces makes the cluster refuse the first n produce requests
// with code.
func failFirstProduces(c *kfake.Cluster, n int32, code int16) *atomic.Int32 {
	var seen atomic.Int32
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if seen.Add(1) > n {
			return nil, nil, false
		}
		req := kreq.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, tp := range req.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = tp.Topic
			for _, p := range tp.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	return &seen
}

// A re-key produce the broker partly refuses must never leave a later
// statement of one input partition ahead of an earlier one that the
// engine's origin guard would then take for a copy: 1,500 statements of
// one learner (two kafka-go batches), the first produce requests refused
// with a temporary error (a leader election) and with an error kafka-go
// does not retry. Over the by-learner log, the guard as the aggregating
// stage applies it (aggStage.origin) must apply every statement once.
func TestRekeyProduceKeepsInputOrderForTheOriginGuard(t *testing.T) {
	for _, tc := range []struct {
		name string
		code int16
		fail int32
	}{
		{"temporary error", kerr.NotLeaderForPartition.Code, 5},
		{"error kafka-go does not retry", kerr.PolicyViolation.Code, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "by"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			refused := failFirstProduces(c, tc.fail, tc.code)
			cfg := testConfig()
			cfg.Brokers = c.ListenAddrs()
			w := newRekeyWriter(cfg)
			defer w.Close()
			m, err := NewMetrics(nil)
			if err != nil {
				t.Fatal(err)
			}
			s := &rekeyStage{cfg: cfg, log: zap.NewNop(), m: m, out: w, now: time.Now}
			const n = 1500 // above the writer's BatchSize of 1000
			out := make([]kafka.Message, n)
			for i := range out {
				o := origin{Topic: "in", Partition: 0, Offset: int64(i)}
				out[i] = kafka.Message{Topic: "by", Key: []byte("L"), Value: []byte(strconv.Itoa(i)), Headers: originHeaders(o, nil)}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if !s.produce(ctx, out) {
				t.Fatal("produce gave up")
			}
			if refused.Load() <= tc.fail {
				t.Fatalf("the broker saw %d produce requests: the refusals were not exercised", refused.Load())
			}
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: c.ListenAddrs(), Topic: "by", Partition: 0, MaxWait: 50 * time.Millisecond})
			defer r.Close()
			agg := &aggStage{originTopic: "in"}
			applied := map[string]int{}
			pos := int64(-1) // the learner's applied origin offset (index always 0 here)
			seen := map[string]bool{}
			for len(seen) < n {
				rm, err := r.ReadMessage(ctx)
				if err != nil {
					t.Fatalf("read after %d distinct statements: %v", len(seen), err)
				}
				v := string(rm.Value)
				seen[v] = true
				o := agg.origin(&rm)
				switch {
				case !o.Valid: // re-sent: guarded by id (here: applied once by value)
					if applied[v] == 0 {
						applied[v]++
					}
				case o.Offset > pos:
					pos = o.Offset
					applied[v]++
				}
			}
			if len(applied) != n {
				t.Errorf("the origin guard applies %d of %d statements", len(applied), n)
			}
			for v, k := range applied {
				if k != 1 {
					t.Errorf("statement %s applied %d times", v, k)
				}
			}
		})
	}
}

// An array inside a message's array would be forwarded as one by-learner
// message whose statements share one origin (and one learner's partition):
// it is dead-lettered.
func TestRekeyDeadLettersNestedArrays(t *testing.T) {
	j := &journal{}
	cfg := testConfig()
	topic := newTopicLog("in", 1, `["l1|c|1;l2|c|1", "l3|c|1"]`)
	s, out := newTestRekey(t, cfg, topic, j)
	gen := newFakeGen(j, "in", 0)
	s.runGeneration(gen)
	eventually(t, "input committed", func() bool { return gen.committed(0) == 1 })
	gen.end()
	by, dl := out.topic(cfg.ByLearnerTopic), out.topic(cfg.DeadLetterTopic)
	if len(by) != 1 || string(by[0].Key) != "l3" {
		t.Errorf("by-learner messages %d (want only l3's)", len(by))
	}
	if len(dl) != 1 {
		t.Fatalf("dead letters %d, want the nested array", len(dl))
	}
	if r, _ := Header(dl[0], HeaderReason); r != ReasonNested {
		t.Errorf("dead letter reason %q, want %q", r, ReasonNested)
	}
}
