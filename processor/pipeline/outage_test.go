package pipeline

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/unpair/unpair/processor/catalog"
)

// cutProxy forwards TCP to a target and can cut every connection and
// refuse new ones, to simulate a server going away and coming back.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go func() { io.Copy(s, c); s.Close() }()
		go func() { io.Copy(c, s); c.Close() }()
	}
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRedisOutageStallsCommitsThenRecovers cuts Redis mid-stream: the
// aggregating stage must stop committing, report not ready and count
// errors, then finish with the state of one clean pass once Redis is back.
func TestRedisOutageStallsCommitsThenRecovers(t *testing.T) {
	r := newRig(t, 2)
	proxy := newCutProxy(t, r.redis)
	r.cfg.Redis = []string{proxy.addr()}
	r.cfg.MaxInFlight = 500
	r.cfg.FlushSize = 100
	r.cfg.RetryMax = 200 * time.Millisecond
	msgs := cohort(t, 40, 200, 17)
	half := len(msgs) / 2
	r.produce(msgs[:half])
	in := r.start(testLogger(t))
	r.waitDone(60 * time.Second)
	base := "http://" + in.p.Addr()
	if code, body := httpGet(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d %q while running, want 200", code, body)
	}

	proxy.cut()
	r.produce(msgs[half:])
	eventually(t, "/readyz to report the redis failure", func() bool {
		code, body := httpGet(t, base+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "redis")
	})
	// while Redis is down the aggregating stage commits nothing new
	stalled := r.committedSum(r.cfg.Group, r.cfg.ByLearnerTopic)
	// Either a batch write fails or a new learner's load does (the shard
	// retries it and stalls); both must hold the commit back.
	eventually(t, "failed redis writes or loads", func() bool {
		return testutil.ToFloat64(in.p.Metrics().RedisErrors) >= 2 || in.b.Shards.Stats().LoadErrors >= 2
	})
	if now := r.committedSum(r.cfg.Group, r.cfg.ByLearnerTopic); now != stalled {
		t.Fatalf("committed offsets moved from %d to %d while redis was down", stalled, now)
	}
	if used := in.p.agg.inFlightUsed(); used > r.cfg.MaxInFlight {
		t.Fatalf("%d statements in flight, bound %d", used, r.cfg.MaxInFlight)
	}

	proxy.restore()
	r.waitDone(60 * time.Second)
	eventually(t, "/readyz to recover", func() bool { code, _ := httpGet(t, base+"/readyz"); return code == http.StatusOK })
	code, metrics := httpGet(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	for _, name := range []string{"unpair_statements_total", "unpair_consumer_lag", "unpair_flush_duration_seconds",
		"unpair_flush_learners", "unpair_redis_errors_total", "unpair_redis_retries_total", "unpair_decisions_total",
		"unpair_rebalance_pause_seconds", "unpair_flush_overruns_total", "unpair_shard_queue_depth",
		"unpair_pairs_in_memory", "unpair_rebalances_total"} {
		if !strings.Contains(metrics, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if code, _ := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d", code)
	}
	in.stop(t)

	by := r.readAll(r.cfg.ByLearnerTopic)
	r.checkStage1(msgs, by)
	o := runOracle(t, by)
	r.checkRedis(o)
	r.checkDecisionTopic(o)
}

// TestCatalogTopicAppliedLive checks every instance reads the compacted
// catalog topic from the start and applies records as they come.
func TestCatalogTopicAppliedLive(t *testing.T) {
	r := newRig(t, 1)
	r.cfg.CatalogTopic = "cat-" + r.cfg.Group
	createTopic(t, r.brokers, r.cfg.CatalogTopic, 1, kafka.ConfigEntry{ConfigName: "cleanup.policy", ConfigValue: "compact"})
	w := &kafka.Writer{Addr: kafka.TCP(r.brokers...), Topic: r.cfg.CatalogTopic, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, Transport: &kafka.Transport{}}
	defer w.Close()
	item := func(content string, skills ...string) kafka.Message {
		v, _ := json.Marshal(catalog.Item{Content: content, Skills: skills})
		return kafka.Message{Key: []byte("item:" + content), Value: v}
	}
	ctx := context.Background()
	if err := w.WriteMessages(ctx, item("https://x.test/q1", "s1"), kafka.Message{Key: []byte("bogus"), Value: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	in := r.start(testLogger(t))
	defer in.stop(t)
	cat := in.b.Cat
	eventuallyWithin(t, 30*time.Second, "the existing record to apply", func() bool { _, ok := cat.Snapshot().Item("https://x.test/q1"); return ok })
	eventuallyWithin(t, 30*time.Second, "readiness after the catalog is read", func() bool { return in.p.Health().Ready() == nil })
	if err := w.WriteMessages(ctx, item("https://x.test/q2", "s2"), kafka.Message{Key: []byte("item:https://x.test/q1")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a live update and a tombstone", func() bool {
		_, ok1 := cat.Snapshot().Item("https://x.test/q1")
		_, ok2 := cat.Snapshot().Item("https://x.test/q2")
		return !ok1 && ok2
	})
	if n := testutil.ToFloat64(in.p.Metrics().CatalogUpdates.WithLabelValues("rejected")); n != 1 {
		t.Errorf("rejected catalog records = %v, want 1 (the bogus key)", n)
	}
}
