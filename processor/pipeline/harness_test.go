package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/engagement"
	"github.com/unpair/unpair/processor/engine"
	"github.com/unpair/unpair/processor/mastery"
	"github.com/unpair/unpair/processor/shard"
	"github.com/unpair/unpair/processor/simulate"
	"github.com/unpair/unpair/processor/store"
	"github.com/unpair/unpair/processor/testenv"
	"github.com/unpair/unpair/schema"
)

// The acceptance tests run the processor against the real broker and
// Redis and compare what it left in Redis and on the output topics with an
// oracle: the same decoder and engine run once, in memory, over the
// statements in the order the aggregating stage consumed them (the
// by-learner topic, per partition).

const testSecret = "pipeline-test-secret"

// rig is one test's servers and unique names.
type rig struct {
	t       testing.TB
	brokers []string
	redis   string
	cfg     Config
	rdb     *redis.Client
}

func newRig(t testing.TB, partitions int) *rig {
	t.Helper()
	brokers := []string{testenv.Kafka(t)}
	raddr := testenv.Redis(t)
	name := strings.NewReplacer("/", "-", "_", "-").Replace(strings.ToLower(t.Name()))
	id := fmt.Sprintf("%s-%d", name, time.Now().UnixNano()%1e9)
	cfg := Config{
		Brokers: brokers, Redis: []string{raddr}, Rekey: true, CreateTopics: true,
		Group: "g-" + id, InputTopic: "in-" + id, ByLearnerTopic: "by-" + id,
		DeadLetterTopic: "dlq-" + id, DecisionTopic: "dec-" + id,
		RedisPrefix: "t" + strings.ReplaceAll(id, ".", ""), LearnerSecret: testSecret,
		HTTPAddr: "127.0.0.1:0", FlushInterval: 50 * time.Millisecond, SweepInterval: -1,
		SessionTimeout: 6 * time.Second, HeartbeatInterval: 500 * time.Millisecond, RebalanceTimeout: 6 * time.Second,
		FlushTimeout: 4 * time.Second, ShutdownTimeout: 15 * time.Second, Shards: 2,
		FetchMaxWait: 100 * time.Millisecond,
	}
	cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// The cohort's timestamps are in the past: keep them from retention.
	createTopic(t, brokers, cfg.InputTopic, partitions, kafka.ConfigEntry{ConfigName: "retention.ms", ConfigValue: "-1"})
	rdb := redis.NewClient(&redis.Options{Addr: raddr})
	t.Cleanup(func() { rdb.Close() })
	return &rig{t: t, brokers: brokers, redis: raddr, cfg: cfg, rdb: rdb}
}

func createTopic(t testing.TB, brokers []string, topic string, n int, cfgs ...kafka.ConfigEntry) {
	t.Helper()
	conn, err := kafka.Dial("tcp", brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		t.Fatal(err)
	}
	cc, err := kafka.Dial("tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if err := cc.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: n, ReplicationFactor: 1, ConfigEntries: cfgs}); err != nil {
		t.Fatalf("cannot create topic %s: %v", topic, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if got, err := partitionCount(context.Background(), brokers, topic); err == nil && got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s not visible with %d partitions", topic, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cohort returns a simulated cohort keyed at random (so re-keying is
// needed), with invalid statements, duplicates, voids and feedback.
func cohort(t testing.TB, learners, sessions int, seed uint64) []simulate.Message {
	t.Helper()
	sc := simulate.DefaultConfig()
	sc.Seed = seed
	sc.Learners = learners
	sc.Sessions = sessions
	sc.Keys = simulate.KeyRandom
	sc.InvalidShare = 0.03
	sc.DuplicateShare = 0.03
	sc.VoidShare = 0.05
	sc.RatingShare = 0.2
	sc.DislikeShare = 0.05
	// Recent enough for the per-content engagement figures, whose day keys
	// expire 30 days after the day (engagement.DefaultRetention).
	sc.Start = time.Now().UTC().Truncate(24 * time.Hour).Add(-sc.Span - 24*time.Hour + 8*time.Hour)
	msgs, _, _, err := simulate.Cohort(sc)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// produce writes msgs to the input topic, spread by their random keys.
func (r *rig) produce(msgs []simulate.Message) {
	r.t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(r.brokers...), Topic: r.cfg.InputTopic, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchSize: 500, BatchTimeout: 2 * time.Millisecond,
		Transport: &kafka.Transport{}}
	defer w.Close()
	out := make([]kafka.Message, len(msgs))
	now := time.Now()
	for i, m := range msgs {
		// The broker refuses record times more than an hour ahead
		// (log.message.timestamp.after.max.ms): some statements of a recent
		// cohort are sent late, so their send time is now.
		out[i] = kafka.Message{Key: m.Key, Value: m.Value, Time: m.Time}
		if m.Time.After(now) {
			out[i].Time = now
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, out...); err != nil {
		r.t.Fatalf("cannot produce the cohort: %v", err)
	}
}

// readAll reads every message of topic, per partition in offset order.
func (r *rig) readAll(topic string) map[int][]kafka.Message {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ends, err := EndOffsets(ctx, r.brokers, topic)
	if err != nil {
		r.t.Fatalf("cannot read end offsets of %s: %v", topic, err)
	}
	out := map[int][]kafka.Message{}
	for p, end := range ends {
		if end == 0 {
			continue
		}
		rd := kafka.NewReader(kafka.ReaderConfig{Brokers: r.brokers, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond})
		for {
			m, err := rd.ReadMessage(ctx)
			if err != nil {
				rd.Close()
				r.t.Fatalf("cannot read %s/%d: %v", topic, p, err)
			}
			out[p] = append(out[p], m)
			if m.Offset+1 >= end {
				break
			}
		}
		rd.Close()
	}
	return out
}

// caughtUp reports whether group has committed the end of every partition
// of topic.
func (r *rig) caughtUp(ctx context.Context, group, topic string) (bool, string) {
	ends, err := EndOffsets(ctx, r.brokers, topic)
	if err != nil {
		return false, err.Error()
	}
	parts := slices.Sorted(maps.Keys(ends))
	cl, done := freshClient(r.brokers)
	defer done()
	res, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return false, err.Error()
	}
	if len(ends) == 0 {
		return false, topic + " has no partitions yet"
	}
	committed := map[int]int64{}
	for _, po := range res.Topics[topic] {
		committed[po.Partition] = po.CommittedOffset
	}
	var lag []string
	for _, p := range parts {
		if ends[p] > 0 && committed[p] < ends[p] {
			lag = append(lag, fmt.Sprintf("%d: %d<%d", p, committed[p], ends[p]))
		}
	}
	return len(lag) == 0, strings.Join(lag, ", ")
}

// waitDone waits until both stages committed everything there is.
func (r *rig) waitDone(timeout time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	ctx := context.Background()
	var why string
	for {
		ok1, w1 := r.caughtUp(ctx, r.cfg.Group+".rekey", r.cfg.InputTopic)
		ok2, w2 := false, ""
		if ok1 {
			ok2, w2 = r.caughtUp(ctx, r.cfg.Group, r.cfg.ByLearnerTopic)
		}
		if ok1 && ok2 {
			return
		}
		why = "rekey: " + w1 + " aggregate: " + w2
		if time.Now().After(deadline) {
			r.t.Fatalf("processing did not finish within %v: %s", timeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// instance is one in-process processor.
type instance struct {
	p      *Processor
	b      *Built
	cancel context.CancelFunc
	done   chan error
}

func (r *rig) start(log *zap.Logger) *instance {
	r.t.Helper()
	b, err := Build(r.cfg, log)
	if err != nil {
		r.t.Fatal(err)
	}
	b.Deps.Registry = nil
	p, err := New(r.cfg, b.Deps)
	if err != nil {
		b.Close()
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{p: p, b: b, cancel: cancel, done: make(chan error, 1)}
	go func() { in.done <- p.Run(ctx, context.Background()) }()
	return in
}

func (in *instance) stop(t testing.TB) {
	t.Helper()
	in.cancel()
	select {
	case err := <-in.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("processor did not stop within 60s")
	}
	in.b.Close()
}

func testLogger(t testing.TB) *zap.Logger {
	return zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
}

// oracle is the clean in-memory pass.
type oracle struct {
	state     map[string][]byte
	decisions map[string]map[string]decision.Decision // learner -> content -> decision
	events    map[string]decision.Event
	// engagement: the learners' pair engagement as stored (content -> :e
	// value) and each partition's per-content figures (figures_test.go)
	engagement map[string]map[string]string
	figures    map[int32]engagement.Batch
	// skills: the learners' skill states as stored (skill -> :k value)
	skills map[string]map[string]string
}

// runOracle applies the by-learner topic, partition by partition in offset
// order, to a fresh single-shard aggregator and flushes once.
func runOracle(t testing.TB, by map[int][]kafka.Message) *oracle {
	t.Helper()
	return runOracleOver(t, by, false)
}

// runOracleOver is runOracle; skipInvalid skips statements the decoder
// rejects (an input topic read directly) instead of failing.
func runOracleOver(t testing.TB, by map[int][]kafka.Message, skipInvalid bool) *oracle {
	t.Helper()
	return runOracleWith(t, by, skipInvalid, time.Time{})
}

// runOracleWith is runOracleOver; a non-zero sweepAt sweeps every learner
// at that time after the stream (Aggregator.Sweep), as a test that sweeps
// the processor once it is done does.
func runOracleWith(t testing.TB, by map[int][]kafka.Message, skipInvalid bool, sweepAt time.Time) *oracle {
	t.Helper()
	agg, err := shard.New(engine.DefaultConfig(), catalog.NewCatalog(nil), shard.Config{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer agg.Close()
	dec := SchemaDecoder{D: schema.NewDecoder(schema.Options{Keyer: schema.NewLearnerKeyer([]byte(testSecret)), MaxBytes: MaxStatementBytes})}
	ctx := context.Background()
	for _, p := range slices.Sorted(maps.Keys(by)) {
		for _, m := range by[p] {
			evs, err := dec.Decode(nil, m.Value, originOf(&m).Time)
			if err != nil && skipInvalid {
				continue
			}
			if err != nil {
				t.Fatalf("oracle: by-learner %d/%d does not decode: %v", p, m.Offset, err)
			}
			// the sources the aggregating stage gives: index in the message
			// and, through the re-key stage, the input position
			src := engine.Source{Partition: int32(p), Offset: m.Offset}
			if o := originOf(&m); o.Forwarded && o.Ordered {
				src.Origin = engine.Origin{Partition: int32(o.Partition), Index: int32(o.Index), Offset: o.Offset, Valid: true}
			}
			in := make([]shard.Input, len(evs))
			for i, ev := range evs {
				src.Index = int32(i)
				in[i] = shard.Input{Evidence: ev, Source: src}
			}
			if err := agg.Submit(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
	}
	o := &oracle{state: map[string][]byte{}, decisions: map[string]map[string]decision.Decision{}, events: map[string]decision.Event{},
		engagement: map[string]map[string]string{}, skills: map[string]map[string]string{}}
	figs := map[int32]*engagement.Aggregator{}
	take := func() {
		b, err := agg.Flush(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range b.Learners {
			o.state[c.Learner] = c.State
			ds := o.decisions[c.Learner]
			if ds == nil {
				ds = map[string]decision.Decision{}
				o.decisions[c.Learner] = ds
			}
			for _, d := range c.Decisions {
				ds[d.Content] = d
			}
			for _, e := range c.Events {
				o.events[e.ID] = e
			}
			for _, sk := range c.Skills {
				if o.skills[c.Learner] == nil {
					o.skills[c.Learner] = map[string]string{}
				}
				o.skills[c.Learner][sk.Name] = string(mastery.AppendSkill(nil, &sk.Skill))
			}
			o.addEngagement(figs, &c)
		}
		if err := agg.Release(b); err != nil {
			t.Fatal(err)
		}
	}
	take()
	if !sweepAt.IsZero() {
		if err := agg.Sweep(ctx, sweepAt); err != nil {
			t.Fatal(err)
		}
		take()
	}
	o.figures = map[int32]engagement.Batch{}
	for p, a := range figs {
		o.figures[p] = a.Flush(-1)
	}
	return o
}

// checkRedis compares every learner's stored decisions and state with the
// oracle, and that Redis holds no other learner.
func (r *rig) checkRedis(o *oracle) {
	t := r.t
	t.Helper()
	sc, err := store.NewSchema(r.cfg.RedisPrefix)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var keys []string
	iter := r.rdb.Scan(ctx, 0, r.cfg.RedisPrefix+":*:s", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if len(keys) != len(o.state) {
		t.Errorf("redis holds state of %d learners, oracle %d", len(keys), len(o.state))
	}
	bad := 0
	for learner, want := range o.state {
		k := sc.Keys(learner)
		got, err := r.rdb.Get(ctx, k.State).Bytes()
		if err != nil {
			t.Errorf("learner %s: no state in redis: %v", learner, err)
			bad++
			continue
		}
		if string(got) != string(want) {
			bad++
			if bad <= 3 {
				t.Errorf("learner %s: stored state (%d bytes) differs from the clean pass (%d bytes)", learner, len(got), len(want))
			}
		}
		sk, err := r.rdb.HGetAll(ctx, k.Skills).Result()
		if err != nil {
			t.Fatal(err)
		}
		if wantS := o.skills[learner]; !maps.Equal(sk, wantS) && (len(sk) > 0 || len(wantS) > 0) {
			bad++
			t.Errorf("learner %s: stored skill states differ from the clean pass:\n got %v\nwant %v", learner, sk, wantS)
		}
		h, err := r.rdb.HGetAll(ctx, k.Decisions).Result()
		if err != nil {
			t.Fatal(err)
		}
		gotD := map[string]decision.Decision{}
		for content, v := range h {
			_, d, err := store.DecodeDecision(v)
			if err != nil {
				t.Fatalf("learner %s content %s: %v", learner, content, err)
			}
			gotD[content] = d
		}
		wantD := o.decisions[learner]
		for c := range wantD {
			if _, ok := gotD[c]; !ok {
				bad++
				t.Errorf("learner %s content %s: no decision in redis, want %s", learner, c, js(wantD[c]))
			}
		}
		for c, g := range gotD {
			w, ok := wantD[c]
			switch {
			case !ok:
				bad++
				t.Errorf("learner %s content %s: decision in redis the clean pass does not have: %s", learner, c, js(g))
			case head(g) != head(w):
				bad++
				t.Errorf("learner %s content %s: decision differs:\n got %s\nwant %s", learner, c, js(g), js(w))
			case !reflect.DeepEqual(g, w):
				// the engine publishes every changed decision whatever the
				// flush cadence, so evidence and explanation must agree too
				bad++
				t.Errorf("learner %s content %s: decision detail differs:\n got %s\nwant %s", learner, c, js(g), js(w))
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d learners differ from the clean pass", bad, len(o.state))
	}
}

type decisionHead struct {
	suppressed   bool
	reason       decision.Reason
	since, until int64
}

func head(d decision.Decision) decisionHead {
	return decisionHead{d.Suppressed, d.Reason, d.Since, d.Until}
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// checkDecisionTopic checks the decisions topic holds exactly the oracle's
// events once duplicates are dropped by id.
func (r *rig) checkDecisionTopic(o *oracle) {
	t := r.t
	t.Helper()
	got := map[string]decision.Event{}
	dups := 0
	for _, ms := range r.readAll(r.cfg.DecisionTopic) {
		for _, m := range ms {
			var e decision.Event
			if err := json.Unmarshal(m.Value, &e); err != nil {
				t.Fatalf("decision event %s does not parse: %v", m.Value, err)
			}
			if id, _ := Header(m, HeaderEventID); id != e.ID {
				t.Errorf("event header id %q != value id %q", id, e.ID)
			}
			if string(m.Key) != e.Learner {
				t.Errorf("event keyed %q, learner %q", m.Key, e.Learner)
			}
			if prev, ok := got[e.ID]; ok {
				dups++
				if !reflect.DeepEqual(prev, e) {
					t.Errorf("event id %s sent twice with different content", e.ID)
				}
			}
			got[e.ID] = e
		}
	}
	missing, extra := 0, 0
	for id, e := range o.events {
		g, ok := got[id]
		if !ok {
			missing++
			continue
		}
		if !reflect.DeepEqual(g, e) {
			t.Errorf("event %s differs:\n got %s\nwant %s", id, js(g), js(e))
		}
	}
	for id := range got {
		if _, ok := o.events[id]; !ok {
			extra++
		}
	}
	if missing > 0 || extra > 0 {
		t.Errorf("decisions topic: %d events missing, %d extra (of %d expected; %d duplicates dropped)", missing, extra, len(o.events), dups)
	}
	t.Logf("decision events: %d distinct, %d duplicates", len(got), dups)
}

type pos struct {
	p   int
	off int64
}

// checkStage1 checks that the by-learner topic holds every valid input
// statement (duplicates only from re-keying a batch twice, same origin),
// each learner's statements in input order, and that the dead-letter
// topic holds exactly the invalid input statements, with reasons.
func (r *rig) checkStage1(cohortMsgs []simulate.Message, by map[int][]kafka.Message) {
	t := r.t
	t.Helper()
	defect := map[string]simulate.Defect{}
	for _, m := range cohortMsgs {
		if m.Defect != "" {
			defect[string(m.Value)] = m.Defect
		}
	}
	input := r.readAll(r.cfg.InputTopic)
	wantValid, wantDead := map[pos]bool{}, map[pos]bool{}
	for p, ms := range input {
		for _, m := range ms {
			if _, bad := defect[string(m.Value)]; bad {
				wantDead[pos{p, m.Offset}] = true
			} else {
				wantValid[pos{p, m.Offset}] = true
			}
		}
	}
	gotValid := map[pos]int{}
	for p, ms := range by {
		last := map[int]int64{} // per input partition: last origin offset seen in this by-learner partition
		for _, m := range ms {
			o := originOf(&m)
			if o.Topic != r.cfg.InputTopic {
				t.Fatalf("by-learner %d/%d has origin topic %q", p, m.Offset, o.Topic)
			}
			at := pos{o.Partition, o.Offset}
			gotValid[at]++
			if PartitionOf(string(m.Key), len(by)) != p && len(by) > 1 {
				t.Errorf("by-learner %d/%d keyed %s belongs in partition %d", p, m.Offset, m.Key, PartitionOf(string(m.Key), len(by)))
			}
			if prev, ok := last[o.Partition]; ok && o.Offset < prev && gotValid[at] == 1 {
				t.Errorf("by-learner partition %d: input %d/%d after %d/%d: order lost", p, o.Partition, o.Offset, o.Partition, prev)
			}
			last[o.Partition] = o.Offset
		}
	}
	missing, extra, twice := 0, 0, 0
	for at := range wantValid {
		switch n := gotValid[at]; {
		case n == 0:
			missing++
		case n > 1:
			twice++
		}
	}
	for at := range gotValid {
		if !wantValid[at] {
			extra++
		}
	}
	if missing > 0 || extra > 0 {
		t.Errorf("by-learner topic: %d valid input statements missing, %d that should not be there (of %d)", missing, extra, len(wantValid))
	}
	gotDead := map[pos]int{}
	for _, ms := range r.readAll(r.cfg.DeadLetterTopic) {
		for _, m := range ms {
			o := originOf(&m)
			gotDead[pos{o.Partition, o.Offset}]++
			reason, _ := Header(m, HeaderReason)
			errText, _ := Header(m, HeaderError)
			if reason == "" || errText == "" {
				t.Errorf("dead letter of %d/%d lacks reason or error headers", o.Partition, o.Offset)
			}
			if _, ok := defect[string(m.Value)]; !ok {
				t.Errorf("dead letter %d/%d (%s: %s) is not an invalid statement of the cohort", o.Partition, o.Offset, reason, errText)
			}
		}
	}
	deadMissing := 0
	for at := range wantDead {
		if gotDead[at] == 0 {
			deadMissing++
		}
	}
	if deadMissing > 0 || len(gotDead) != len(wantDead) {
		t.Errorf("dead-letter topic: %d invalid statements missing, %d distinct dead letters for %d invalid statements", deadMissing, len(gotDead), len(wantDead))
	}
	t.Logf("input: %d valid, %d invalid; by-learner: %d messages (%d re-keyed twice)", len(wantValid), len(wantDead), len(gotValid)+twice, twice)
}
