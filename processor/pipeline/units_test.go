package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
)

func testutilCounter(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

func TestConfigValidate(t *testing.T) {
	f := func(name string, mutate func(*Config), want string) {
		t.Helper()
		c := DefaultConfig()
		c.Brokers, c.Redis = []string{"k:9092"}, []string{"r:6379"}
		mutate(&c)
		err := c.Validate()
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: unexpected error %v", name, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: error %v, want one naming %q", name, err, want)
		}
	}
	f("defaults", func(c *Config) {}, "")
	f("no brokers", func(c *Config) { c.Brokers = nil }, "brokers:")
	f("broker without port", func(c *Config) { c.Brokers = []string{"kafka"} }, "brokers: \"kafka\"")
	f("no redis", func(c *Config) { c.Redis = nil }, "redis:")
	f("same topics", func(c *Config) { c.ByLearnerTopic = c.InputTopic }, "by-learner-topic")
	f("rekey off ignores by-learner", func(c *Config) { c.Rekey = false; c.ByLearnerTopic = c.InputTopic }, "")
	f("bad log format", func(c *Config) { c.LogFormat = "xml" }, "log-format")
	f("negative interval", func(c *Config) { c.FlushInterval = -time.Second }, "flush-interval")
	f("heartbeat above session", func(c *Config) { c.HeartbeatInterval = time.Minute }, "heartbeat-interval")
	f("in-flight below flush size", func(c *Config) { c.MaxInFlight = 10; c.FlushSize = 100 }, "max-in-flight")
	f("topic with space", func(c *Config) { c.DecisionTopic = "a b" }, "decision-topic")
	f("final flush outlasts the rebalance", func(c *Config) { c.FlushTimeout = 10 * time.Second; c.RebalanceTimeout = 10 * time.Second }, "rebalance-timeout")
	f("final flush plus heartbeat outlasts the rebalance", func(c *Config) {
		c.FlushTimeout, c.HeartbeatInterval, c.RebalanceTimeout = 9*time.Second, time.Second, 10*time.Second
	}, "flush-timeout")
	f("final flush plus heartbeat leaves no margin", func(c *Config) {
		c.FlushTimeout, c.HeartbeatInterval, c.RebalanceTimeout = 8500*time.Millisecond, time.Second, 10*time.Second
	}, "rebalance-timeout")
	f("final flush within the rebalance", func(c *Config) {
		c.FlushTimeout, c.HeartbeatInterval, c.RebalanceTimeout = 8*time.Second, time.Second, 10*time.Second
	}, "")
}

func TestPartitionOfIsStableAndSpread(t *testing.T) {
	// fixed values: every instance and every version must agree
	if p := PartitionOf("0123456789abcdef0123456789abcdef", 12); p != PartitionOf("0123456789abcdef0123456789abcdef", 12) || p < 0 || p >= 12 {
		t.Fatalf("PartitionOf out of range or unstable: %d", p)
	}
	counts := make([]int, 8)
	for i := range 8000 {
		counts[PartitionOf(strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune(i)), 8)]++
	}
	for p, n := range counts {
		if n < 500 {
			t.Errorf("partition %d got %d of 8000 keys: badly spread %v", p, n, counts)
		}
	}
	if PartitionOf("x", 0) != 0 {
		t.Errorf("PartitionOf with no partitions must be 0")
	}
}

func TestCheckRoute(t *testing.T) {
	key := "0123456789abcdef0123456789abcdef"
	right := PartitionOf(key, 6)
	wrong := (right + 1) % 6
	for _, q := range keyedPartitions([]byte(key), 6) {
		if q == wrong {
			wrong = (wrong + 1) % 6
		}
	}
	f := func(k, learner string, p, n int, want string) {
		t.Helper()
		if got := checkRoute([]byte(k), learner, p, n); got != want {
			t.Errorf("checkRoute(%q, %q, %d, %d) = %q, want %q", k, learner, p, n, got, want)
		}
	}
	f(key, key, right, 6, "")
	f("random", key, right, 6, MisrouteKeyMismatch)
	f(key, key, wrong, 6, MisrouteWrongPartition)
	f(key, key, 0, 1, "")
}

func TestSplitArray(t *testing.T) {
	f := func(in string, want ...string) {
		t.Helper()
		got := splitArray([]byte(in))
		if len(got) != len(want) {
			t.Fatalf("splitArray(%q) = %d parts, want %d", in, len(got), len(want))
		}
		for i := range got {
			if string(got[i]) != want[i] {
				t.Errorf("splitArray(%q)[%d] = %q, want %q", in, i, got[i], want[i])
			}
		}
	}
	f(`{"a":1}`, `{"a":1}`)
	f(` [{"a":1}, {"b":2}]`, `{"a":1}`, `{"b":2}`)
	f(`[]`, `[]`)
	f(`[{"a":`, `[{"a":`)
}

func TestBudgetBlocksAtLimit(t *testing.T) {
	b := newBudget(2)
	ctx := context.Background()
	if err := b.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if b.tryAcquire() == nil {
		t.Fatal("tryAcquire succeeded beyond the limit")
	}
	got := make(chan error, 1)
	go func() { got <- b.acquire(ctx) }()
	select {
	case err := <-got:
		t.Fatalf("acquire beyond the limit returned %v without a release", err)
	case <-time.After(20 * time.Millisecond):
	}
	b.release(1)
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("acquire did not wake after release")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.acquire(cctx); err == nil {
		t.Fatal("acquire with a cancelled context succeeded at the limit")
	}
}

func TestRateLimited(t *testing.T) {
	r := rateLimited{every: time.Second}
	t0 := time.Unix(100, 0)
	if ok, _ := r.allow(t0); !ok {
		t.Fatal("first call not allowed")
	}
	if ok, _ := r.allow(t0.Add(time.Millisecond)); ok {
		t.Fatal("second call within the interval allowed")
	}
	ok, muted := r.allow(t0.Add(2 * time.Second))
	if !ok || muted != 1 {
		t.Fatalf("after the interval: ok=%v muted=%d, want true 1", ok, muted)
	}
}

func TestDeadLetterTruncatesHugeValues(t *testing.T) {
	big := make([]byte, MaxStatementBytes+10)
	m := kafka.Message{Topic: "in", Partition: 1, Offset: 2, Key: []byte("k"), Value: big}
	dl, code := deadLetter("dlq", &m, errors.New("too big"), time.Unix(0, 0))
	if len(dl.Value) != MaxStatementBytes {
		t.Errorf("dead letter value = %d bytes, want %d", len(dl.Value), MaxStatementBytes)
	}
	if v, ok := Header(dl, HeaderTruncated); !ok || v != strconv.Itoa(len(big)) {
		t.Errorf("truncated header = %q, %v; want the original length", v, ok)
	}
	if code != ReasonInvalid {
		t.Errorf("code = %q, want %q for an error without a code", code, ReasonInvalid)
	}
	small := kafka.Message{Value: []byte("x")}
	if dl, _ := deadLetter("dlq", &small, errors.New("bad"), time.Unix(0, 0)); string(dl.Value) != "x" {
		t.Errorf("small value changed: %q", dl.Value)
	} else if _, ok := Header(dl, HeaderTruncated); ok {
		t.Errorf("small value marked truncated")
	}
}

func TestHealthReady(t *testing.T) {
	f := func(name string, set func(h *Health), want string) {
		t.Helper()
		h := &Health{needCat: true}
		set(h)
		err := h.Ready()
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: not ready: %v", name, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: Ready() = %v, want it to mention %q", name, err, want)
		}
	}
	ok := func(h *Health) { h.setAssigned(2); h.setCatalog(true) }
	f("fresh", func(h *Health) {}, "no partitions")
	f("assigned, catalog read", ok, "")
	f("catalog not read", func(h *Health) { ok(h); h.setCatalog(false) }, "catalog")
	f("writes failing", func(h *Health) { ok(h); h.setRedis(false) }, "redis writes")
	f("ping failing", func(h *Health) { ok(h); h.setPing(false) }, "does not answer")
	f("left the group", func(h *Health) { ok(h); h.leave() }, "no partitions")
	f("recovered", func(h *Health) { ok(h); h.setRedis(false); h.setRedis(true) }, "")
}

func TestGuardOf(t *testing.T) {
	f := func(w LearnerWrite, wantP int32, wantO int64) {
		t.Helper()
		if p, o := guardOf(&w); p != wantP || o != wantO {
			t.Errorf("guardOf(%+v) = %d/%d, want %d/%d", w, p, o, wantP, wantO)
		}
	}
	f(LearnerWrite{Partition: 2, Offsets: []Source{{Partition: 1, Offset: 50}, {Partition: 2, Offset: 7}}}, 2, 7)
	f(LearnerWrite{Partition: -1, Offsets: []Source{{Partition: 1, Offset: 50}, {Partition: 2, Offset: 7}}}, 1, 50)
	f(LearnerWrite{Partition: 3, Offsets: []Source{{Partition: 1, Offset: 5}}}, 1, 5)
	f(LearnerWrite{Partition: -1}, 0, 0)
}

func TestDeadLetterBoundsTheErrorHeader(t *testing.T) {
	huge := strings.Repeat("k", 400<<10)
	lines := []string{"result.extensions." + huge + ": duplicate key", "verb.id: must be an IRI"}
	for i := 0; i < 2000; i++ {
		lines = append(lines, fmt.Sprintf("context.extensions.x%d: duplicate key", i))
	}
	m := kafka.Message{Topic: "in", Value: []byte(`{}`)}
	dl, _ := deadLetter("dlq", &m, &rejection{code: "invalid_statement", lines: lines, first: errors.New(lines[0])}, time.Unix(0, 0))
	e, _ := Header(dl, HeaderError)
	if len(e) > MaxErrorBytes+64 {
		t.Fatalf("error header is %d bytes, want at most about %d", len(e), MaxErrorBytes)
	}
	got := strings.Split(e, "\n")
	if !strings.HasPrefix(got[0], "result.extensions.kkk") || len(got[0]) > MaxErrorLineBytes+len("…") {
		t.Errorf("first line = %.60q… (%d bytes), want it cut to %d", got[0], len(got[0]), MaxErrorLineBytes)
	}
	if got[1] != "verb.id: must be an IRI" {
		t.Errorf("second line = %q, want it whole", got[1])
	}
	if last := got[len(got)-1]; !strings.HasSuffix(last, "more violations") {
		t.Errorf("last line = %q, want a count of the lines left out", last)
	}
}

func TestOriginHeadersDropControlAndBoundCopies(t *testing.T) {
	in := []kafka.Header{
		{Key: HeaderControl, Value: []byte(ControlForget)},
		{Key: "trace", Value: []byte("t1")},
		{Key: "big", Value: make([]byte, MaxCopiedHeaderBytes)},
		{Key: "after", Value: []byte("x")},
	}
	hs := originHeaders(origin{Topic: "in"}, in)
	keys := map[string]bool{}
	for _, h := range hs {
		keys[h.Key] = true
	}
	if keys[HeaderControl] {
		t.Error("a producer's unpair-control header was copied: a statement could erase a learner")
	}
	if !keys["trace"] {
		t.Error("small producer headers must travel along")
	}
	if keys["big"] || keys["after"] {
		t.Error("headers past MaxCopiedHeaderBytes were copied")
	}
}
