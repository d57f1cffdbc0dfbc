package pipeline

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/simulate"
	"github.com/unpair/unpair/processor/store"
	"github.com/unpair/unpair/schema"
)

// TestForgetWhileRunning forgets a learner with decisions while the
// processor runs and holds it in memory: its keys go (but the offsets
// hash), a forgotten event is published, its statements sent afterwards
// start from nothing, and everything else equals the clean pass.
func TestForgetWhileRunning(t *testing.T) {
	r := newRig(t, 2)
	msgs := cohort(t, 30, 150, 31)
	r.produce(msgs)
	in := r.start(testLogger(t))
	defer func() {
		if in != nil {
			in.stop(t)
		}
	}()
	r.waitDone(90 * time.Second)

	// the learner with the most decisions
	sc, err := store.NewSchema(r.cfg.RedisPrefix)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dec := SchemaDecoder{D: schema.NewDecoder(schema.Options{Keyer: schema.NewLearnerKeyer([]byte(testSecret)), MaxBytes: MaxStatementBytes})}
	byLearner := map[string][]simulate.Message{}
	for _, m := range msgs {
		evs, err := dec.Decode(nil, m.Value, m.Time)
		if err == nil && len(evs) == 1 {
			byLearner[evs[0].Learner] = append(byLearner[evs[0].Learner], m)
		}
	}
	learner, most := "", int64(0)
	for l := range byLearner {
		if n := r.rdb.HLen(ctx, sc.Keys(l).Decisions).Val(); n > most {
			learner, most = l, n
		}
	}
	if most == 0 {
		t.Fatal("no learner has decisions in redis")
	}
	k := sc.Keys(learner)
	if r.rdb.HLen(ctx, k.Skills).Val() == 0 {
		t.Fatal("the learner has no skill states in redis to forget")
	}

	watch, err := WatchForgotten(ctx, r.cfg, learner)
	if err != nil {
		t.Fatal(err)
	}
	topic, part, err := SendForget(ctx, r.cfg, learner, "")
	if err != nil {
		t.Fatal(err)
	}
	if topic != r.cfg.ByLearnerTopic || part != PartitionOf(learner, 2) {
		t.Fatalf("forget sent to %s/%d, want %s/%d", topic, part, r.cfg.ByLearnerTopic, PartitionOf(learner, 2))
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	ev, err := watch.Wait(wctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if ev.Kind != decision.EventForgotten || ev.Learner != learner || ev.ID == "" {
		t.Errorf("forgotten event %+v", ev)
	}
	for _, key := range []string{k.Decisions, k.State, k.Engagement, k.Skills} {
		if n := r.rdb.Exists(ctx, key).Val(); n != 0 {
			t.Errorf("%s survived the forget", key)
		}
	}
	offs := r.rdb.HGetAll(ctx, k.Offsets).Val()
	by := r.readAll(r.cfg.ByLearnerTopic)
	ctrl := by[part][len(by[part])-1]
	if controlOf(&ctrl) != ControlForget {
		t.Fatalf("last record of %s/%d is not the control record", r.cfg.ByLearnerTopic, part)
	}
	if offs[strconv.Itoa(part)] != strconv.FormatInt(ctrl.Offset, 10) {
		t.Errorf("offsets hash after forget = %v, want partition %d at the control record's offset %d", offs, part, ctrl.Offset)
	}

	// the learner comes back: its last statements again (same ids: a fresh
	// learner has no memory of them)
	again := byLearner[learner]
	again = again[max(0, len(again)-6):]
	r.produce(again)
	r.waitDone(90 * time.Second)
	in.stop(t)
	in = nil

	by = r.readAll(r.cfg.ByLearnerTopic)
	o := runOracle(t, withoutForgottenRecords(t, by))
	if _, ok := o.state[learner]; !ok {
		t.Fatal("the oracle has no state for the returning learner")
	}
	r.checkRedis(o)

	// exactly one forgotten event (duplicates only with the same id)
	n := 0
	for _, ms := range r.readAll(r.cfg.DecisionTopic) {
		for _, m := range ms {
			var e decision.Event
			if err := json.Unmarshal(m.Value, &e); err != nil {
				t.Fatal(err)
			}
			if e.Kind == decision.EventForgotten {
				n++
				if e.ID != ev.ID {
					t.Errorf("second forgotten event with id %s, first %s", e.ID, ev.ID)
				}
			}
		}
	}
	if n == 0 {
		t.Error("no forgotten event on the decisions topic")
	}
}

// withoutForgottenRecords applies the forget control records of by to the
// stream: a control record and every earlier record of its learner in its
// partition are removed, so the oracle sees what the processor kept.
func withoutForgottenRecords(t *testing.T, by map[int][]kafka.Message) map[int][]kafka.Message {
	t.Helper()
	out := map[int][]kafka.Message{}
	for p, ms := range by {
		gone := map[string]int64{} // learner -> offset of its last forget
		for _, m := range ms {
			if controlOf(&m) == ControlForget {
				gone[string(m.Key)] = m.Offset
			}
		}
		for _, m := range ms {
			if controlOf(&m) != "" {
				continue
			}
			if f, ok := gone[string(m.Key)]; ok && m.Offset < f {
				continue
			}
			out[p] = append(out[p], m)
		}
	}
	return out
}

func TestForgetPartitionAndMessage(t *testing.T) {
	key := schema.NewLearnerKeyer([]byte("s")).Key("mailto:a@example.com")
	for _, tc := range []struct {
		partitioner string
		want        int
	}{
		{"", PartitionOf(key, 12)},
		{PartitionerXXHash, PartitionOf(key, 12)},
		{PartitionerMurmur2, keyedPartitions([]byte(key), 12)[1]},
		{PartitionerFNV1a, keyedPartitions([]byte(key), 12)[2]},
	} {
		got, err := ForgetPartition(key, 12, tc.partitioner)
		if err != nil || got != tc.want {
			t.Errorf("ForgetPartition(%q) = %d, %v; want %d", tc.partitioner, got, err, tc.want)
		}
	}
	if _, err := ForgetPartition(key, 12, "crc32"); err == nil {
		t.Error("unknown partitioner accepted")
	}
	m := ForgetMessage("t", key, time.UnixMilli(42))
	if controlOf(&m) != ControlForget || string(m.Key) != key || len(m.Value) != 0 {
		t.Errorf("forget message %+v", m)
	}
	plain := kafka.Message{Value: []byte("{}")}
	if controlOf(&plain) != "" || controlIndex([]kafka.Message{plain, m, plain}) != 1 || controlIndex([]kafka.Message{plain}) != -1 {
		t.Error("control records not told apart from statements")
	}
	if ev := forgetEvent(&forgetReq{learner: key, partition: 3, offset: 9, at: time.UnixMilli(42)}); ev.ID != "forgotten:"+key+":3:9" || ev.At != 42 {
		t.Errorf("forgotten event %+v", ev)
	}
}
