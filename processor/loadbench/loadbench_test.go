package loadbench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/unpair/unpair/processor/pipeline"
	"github.com/unpair/unpair/processor/simulate"
	"github.com/unpair/unpair/processor/testenv"
)

// TestRunEndToEnd runs a small benchmark against the real broker and
// Redis and checks its accounting, not its speed: every phase saw every
// statement, every statement is counted once, every learner's latest
// statement reached Redis, every sample became visible, and the run
// removed what it created.
func TestRunEndToEnd(t *testing.T) {
	broker, raddr := testenv.Kafka(t), testenv.Redis(t)
	const n = 5000
	cfg := Config{
		Brokers: []string{broker}, Redis: []string{raddr},
		Statements: n, Partitions: 3, Learners: 300, Contents: 200,
		RekeyRow: true, Freshness: 2 * time.Second, FreshRate: 400, SampleEvery: 50 * time.Millisecond,
		CPUProfile: filepath.Join(t.TempDir(), "cpu.pprof"), PhaseTimeout: 3 * time.Minute,
		CeilingFor: time.Millisecond, // one pass
	}
	var progress strings.Builder
	cfg.Progress = &progress
	res, err := Run(context.Background(), cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("Run: %v\nprogress:\n%s", err, progress.String())
	}
	if res.Produce.Statements != n || res.Ceiling.Statements != n {
		t.Errorf("produced %d, ceiling read %d; want %d each", res.Produce.Statements, res.Ceiling.Statements, n)
	}
	if len(res.CeilingPasses) != 1 {
		t.Errorf("%d ceiling passes, want 1", len(res.CeilingPasses))
	}
	if res.Learners == 0 {
		t.Error("the ledger saw no learner")
	}
	if len(res.Rows) != 2 || res.Rows[0].Rekey || !res.Rows[1].Rekey {
		t.Fatalf("rows: got %+v, want rekey off then on", res.Rows)
	}
	for _, row := range res.Rows {
		if !row.Accounted(n) || row.Statements != n {
			t.Errorf("%s: %s", row.Name, res.accounting(row))
		}
		if row.DeadLettered == 0 || row.Processed == 0 {
			t.Errorf("%s: processed %d, dead-lettered %d; the cohort has both", row.Name, row.Processed, row.DeadLettered)
		}
		if row.Checked != res.Learners || row.Missing != 0 {
			t.Errorf("%s: %d of %d learners checked, %d missing their last statement", row.Name, row.Checked, res.Learners, row.Missing)
		}
		if row.Flushes == 0 || row.FlushTime <= 0 || row.ProcessCPU <= 0 || row.RedisCPU <= 0 {
			t.Errorf("%s: %d flushes in %v, process CPU %v, Redis CPU %v", row.Name, row.Flushes, row.FlushTime, row.ProcessCPU, row.RedisCPU)
		}
		if row.Sustained <= 0 || row.Wall < row.Sustained || row.Ratio <= 0 {
			t.Errorf("%s: sustained %v, wall %v, ratio %v", row.Name, row.Sustained, row.Wall, row.Ratio)
		}
	}
	if r := res.Rows[1]; r.Rekeyed != n-r.DeadLettered {
		t.Errorf("rekey on: re-keyed %d, want %d (every valid statement)", r.Rekeyed, n-r.DeadLettered)
	}
	if r := res.Rows[0]; r.Pairs <= 0 || r.RedisDelta <= 0 || r.RedisLearners != res.Learners {
		t.Errorf("memory: pairs %d, Redis +%d B over %d learners", r.Pairs, r.RedisDelta, r.RedisLearners)
	}
	if f := res.Fresh; f == nil || f.Samples == 0 || f.Lost != 0 || f.P50 <= 0 || f.P99 < f.P50 || f.Max < f.P99 {
		t.Errorf("freshness: %+v", res.Fresh)
	}
	if st, err := os.Stat(res.Profile); err != nil || st.Size() == 0 {
		t.Errorf("CPU profile %s: %v", res.Profile, err)
	}

	// Everything the run created is gone.
	rdb := redis.NewClient(&redis.Options{Addr: raddr})
	defer rdb.Close()
	keys, _, err := rdb.Scan(context.Background(), 0, res.RunID+"-*", 10000).Result()
	if err != nil || len(keys) != 0 {
		t.Errorf("Redis keys left under %s-*: %d (%v)", res.RunID, len(keys), err)
	}
	a := admin{brokers: cfg.Brokers}
	err = poll(context.Background(), 30*time.Second, 50*time.Millisecond, func() (bool, error) {
		_, err := a.partitions(context.Background(), res.RunID+".in")
		return err != nil, nil
	}, "the input topic to be deleted")
	if err != nil {
		t.Error(err)
	}

	var text strings.Builder
	res.WriteText(&text)
	for _, want := range []string{"ceiling: bare kafka-go consumer group", "rekey off", "rekey on", "of the ceiling", "freshness at 400", "p99"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, text.String())
		}
	}
}

func TestConfigValidate(t *testing.T) {
	ok := func() Config {
		c := DefaultConfig()
		c.Brokers, c.Redis = []string{"127.0.0.1:9092"}, []string{"127.0.0.1:6379"}
		return c
	}
	if c := ok(); c.Validate() != nil {
		t.Fatalf("default config with addresses: %v", c.Validate())
	}
	cases := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no brokers", func(c *Config) { c.Brokers = nil }, "brokers: at least one"},
		{"broker without port", func(c *Config) { c.Brokers = []string{"kafka"} }, `brokers: "kafka" must be host:port`},
		{"no redis", func(c *Config) { c.Redis = nil }, "redis: at least one"},
		{"zero statements", func(c *Config) { c.Statements = -1 }, "statements: -1 must be between"},
		{"partitions", func(c *Config) { c.Partitions = 5000 }, "partitions: 5000 must be between"},
		{"zipf", func(c *Config) { c.ZipfS = 0.5 }, "zipf must be in (1, 10]"},
		{"learners", func(c *Config) { c.Learners = -3 }, "learners must be in"},
		{"contents below skills", func(c *Config) { c.Contents, c.Skills = 5, 10 }, "contents must be in [skills"},
		{"negative freshness", func(c *Config) { c.Freshness = -time.Second }, "freshness: -1s must not be negative"},
		{"sample interval", func(c *Config) { c.SampleEvery = -1 }, "sample-every:"},
		{"fresh rate", func(c *Config) { c.FreshRate = -1 }, "fresh-rate:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok()
			tc.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestDefaultsDeriveSkills(t *testing.T) {
	c := Config{Contents: 1000}
	c.WithDefaults()
	if c.Skills != 50 {
		t.Errorf("skills for 1000 contents: got %d, want 50", c.Skills)
	}
	c = Config{Contents: 3}
	c.WithDefaults()
	if c.Skills != 1 {
		t.Errorf("skills for 3 contents: got %d, want 1", c.Skills)
	}
}

func TestMedianPhase(t *testing.T) {
	p := func(ms int) Phase { return Phase{Statements: 1000, Sustained: time.Duration(ms) * time.Millisecond} }
	cases := []struct {
		in   []Phase
		want time.Duration
	}{
		{nil, 0},
		{[]Phase{p(100)}, 100 * time.Millisecond},
		{[]Phase{p(300), p(100), p(200)}, 200 * time.Millisecond},
		{[]Phase{p(100), p(400), p(200), p(300)}, 300 * time.Millisecond}, // the slower middle one
	}
	for _, tc := range cases {
		if got := medianPhase(tc.in).Sustained; got != tc.want {
			t.Errorf("median of %d passes: %v, want %v", len(tc.in), got, tc.want)
		}
	}
}

func TestCPUStat(t *testing.T) {
	if got := (cpuStat{total: 200, idle: 150}).busySince(cpuStat{total: 100, idle: 100}); got != 0.5 {
		t.Errorf("busy: got %v, want 0.5", got)
	}
	if got := (cpuStat{}).busySince(cpuStat{}); got != 0 {
		t.Errorf("no data: got %v, want 0", got)
	}
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	cases := []struct {
		in   []time.Duration
		q    float64
		want time.Duration
	}{
		{nil, 0.5, 0},
		{ms(7), 0.99, 7 * time.Millisecond},
		{ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{ms(hundred...), 0.5, 50 * time.Millisecond},
		{ms(hundred...), 0.99, 99 * time.Millisecond},
		{ms(hundred...), 1, 100 * time.Millisecond},
	}
	for _, tc := range cases {
		if got := percentile(tc.in, tc.q); got != tc.want {
			t.Errorf("percentile(%d values, %v) = %v, want %v", len(tc.in), tc.q, got, tc.want)
		}
	}
}

func TestBalancerMatchesPartitionOf(t *testing.T) {
	parts := []int{0, 1, 2, 3, 4, 5}
	for _, k := range []string{"a", "0123456789abcdef0123456789abcdef", "ffffffffffffffffffffffffffffffff"} {
		got := byLearnerKey{}.Balance(kafka.Message{Key: []byte(k)}, parts...)
		if want := pipeline.PartitionOf(k, len(parts)); got != want {
			t.Errorf("key %q: partition %d, want PartitionOf's %d", k, got, want)
		}
	}
	if got := (byLearnerKey{}).Balance(kafka.Message{Key: []byte("a")}); got != 0 {
		t.Errorf("no partitions: got %d, want 0", got)
	}
}

func TestLedger(t *testing.T) {
	samples := make(chan *sample, 4)
	l := newLedger(samples)
	s := &sample{learner: "b"}
	msg := func(p int, off int64, learner string, valid bool, s *sample) kafka.Message {
		return kafka.Message{Partition: p, Offset: off, Value: []byte("xy"), WriterData: tag{learner: learner, valid: valid, sample: s}}
	}
	l.complete([]kafka.Message{msg(0, 5, "a", true, nil), msg(0, 6, "b", false, nil), msg(1, 2, "b", true, s)}, nil)
	l.complete([]kafka.Message{msg(0, 3, "c", true, nil)}, nil) // older offset: not the last
	l.complete([]kafka.Message{msg(0, 9, "c", true, nil)}, context.DeadlineExceeded)
	if l.acked != 4 || l.bytes != 8 || l.invalid != 1 {
		t.Errorf("acked %d, bytes %d, invalid %d; want 4, 8, 1", l.acked, l.bytes, l.invalid)
	}
	if l.lastValid[0].offset != 5 || l.lastOf[0] != "a" || l.lastValid[1].offset != 2 || l.lastOf[1] != "b" {
		t.Errorf("last valid: %v %v", l.lastValid, l.lastOf)
	}
	if got := l.learners["b"]; got.partition != 1 || got.offset != 2 {
		t.Errorf("learner b: %+v, want partition 1 offset 2 (its invalid statement does not count)", got)
	}
	if len(samples) != 1 {
		t.Fatalf("%d samples sent, want 1", len(samples))
	}
	if got := <-samples; got != s || !s.placed || s.partition != 1 || s.offset != 2 {
		t.Errorf("sample: %+v", got)
	}
}

func TestProducerTagsAndKeys(t *testing.T) {
	sc := simulate.DefaultConfig()
	sc.InvalidShare = 0.3
	gen, err := simulate.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	p := newProducer([]string{"127.0.0.1:1"}, "t", gen, "s", newLedger(nil))
	defer p.Close()
	s := &sample{}
	if err := p.fill(200, s); err != nil {
		t.Fatal(err)
	}
	if len(p.batch) != 200 {
		t.Fatalf("batch of %d, want 200", len(p.batch))
	}
	invalid, sampled := 0, 0
	for _, m := range p.batch {
		tg := m.WriterData.(tag)
		if string(m.Key) != tg.learner || len(m.Key) != 32 {
			t.Fatalf("key %q, tag learner %q: want the 32-character learner key in both", m.Key, tg.learner)
		}
		if !tg.valid {
			invalid++
		}
		if tg.sample != nil {
			sampled++
			if !tg.valid || s.learner != tg.learner {
				t.Errorf("sample on an invalid statement or another learner: %+v", s)
			}
		}
	}
	if invalid == 0 || sampled != 1 {
		t.Errorf("%d invalid, %d sampled; want some and exactly 1", invalid, sampled)
	}
}

func TestInfoField(t *testing.T) {
	info := "# Memory\r\nused_memory:1234\r\nused_memory_human:1.2K\r\n"
	if got := infoField(info, "used_memory"); got != "1234" {
		t.Errorf("used_memory: got %q", got)
	}
	if got := infoField(info, "missing"); got != "" {
		t.Errorf("missing: got %q", got)
	}
}

func TestRecord(t *testing.T) {
	res := &Result{
		Config:        Config{Statements: 1000, Partitions: 2, Learners: 10, Contents: 40, Skills: 2, ZipfS: 1.2, KafkaVersion: "4.4.0"},
		Date:          time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC),
		Machine:       Machine{CPUs: 2, CPUModel: "Test CPU", MemoryBytes: 4 << 30, RedisVersion: "7.0.15", Go: "go1.x"},
		Produce:       Phase{Statements: 1000, Sustained: time.Second, Wall: time.Second},
		Ceiling:       Phase{Statements: 1000, Sustained: 100 * time.Millisecond, Wall: 200 * time.Millisecond},
		CeilingPasses: []Phase{{Statements: 1000, Sustained: 100 * time.Millisecond}, {Statements: 1000, Sustained: 125 * time.Millisecond}},
		Rows: []Row{{Phase: Phase{Statements: 1000, Sustained: 500 * time.Millisecond, Wall: time.Second}, Ratio: 0.2,
			Processed: 980, DeadLettered: 10, Duplicates: 10, Checked: 10, Pairs: 100, HeapDelta: 100000, RedisDelta: 5000, RedisLearners: 10,
			Flushes: 4, FlushTime: 400 * time.Millisecond, FlushOverruns: 1, ProcessCPU: 500 * time.Millisecond, MachineBusy: 0.9, RedisCPU: 300 * time.Millisecond}},
		Fresh:      &Freshness{Rate: 1000, Achieved: 990, Duration: time.Second, Samples: 50, P50: 200 * time.Millisecond, P99: 400 * time.Millisecond, Max: 450 * time.Millisecond},
		Profile:    "/tmp/x.pprof",
		ProfileTop: "Showing nodes\n flat flat% ... main.hot",
	}
	path := filepath.Join(t.TempDir(), "e2e.md")
	for range 2 {
		if err := res.AppendRecord(path, "unpair bench --statements 1000"); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	if strings.Count(doc, "# Benchmark: unpair end to end") != 1 || strings.Count(doc, "## Run of 2026-01-02 03:04 UTC") != 2 {
		t.Errorf("want one header and two runs:\n%s", doc)
	}
	for _, want := range []string{
		"`unpair bench --statements 1000`", "2 CPUs (Test CPU), 4.0 GiB RAM", "Apache Kafka 4.4.0", "Redis 7.0.15",
		"| ceiling: bare kafka-go consumer group | 1000 | 0.10 s | 0.20 s | 10000 | 1 |",
		"| unpair end to end, rekey off | 1000 | 0.50 s | 1.00 s | 2000 | **0.20** |",
		"**not met** (0.20)", "processed 980 + dead-lettered 10 + duplicate 10 = 1000 of 1000 produced",
		"1000 B of Go heap (100 pairs", "median of 2 passes (0.23 s in all), 8000-10000 statements/s",
		"4 flushes took 0.40 s of the 0.50 s (mean 100 ms, 1 over the flush interval); unpair used 0.50 s of CPU time, 0.50 cores of 2 on average; Redis used 0.30 s of CPU time; the machine's CPUs were 90 % busy", "500 B (used_memory", "p50 **200 ms**, p99 **400 ms**", "main.hot",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("record lacks %q:\n%s", want, doc)
		}
	}
	res.Rows[0].Ratio = 0.8
	if md := res.Markdown("x"); !strings.Contains(md, "met.") || strings.Contains(md, "main.hot") {
		t.Errorf("a run at 0.8 of the ceiling: want the goal met and no profile:\n%s", md)
	}
}

// BenchmarkFill is the load generator's cost per statement: simulate,
// learner key (cached per learner), tag.
func BenchmarkFill(b *testing.B) {
	sc := simulate.DefaultConfig()
	sc.Learners, sc.Items, sc.Sessions = 100000, 2000, 10_000_000
	gen, err := simulate.New(sc)
	if err != nil {
		b.Fatal(err)
	}
	p := newProducer([]string{"127.0.0.1:1"}, "t", gen, "s", newLedger(nil))
	defer p.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 100 {
		if err := p.fill(100, nil); err != nil {
			b.Fatal(err)
		}
	}
}
