package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/unpair/unpair/processor/simulate"
	"github.com/unpair/unpair/processor/testenv"
)

// redisDowntime is how long TestRedisStoppedThirtySecondsThenRestarted
// keeps Redis stopped, measured from the stop.
const redisDowntime = 30 * time.Second

// ownRedis is a redis-server process the test starts, stops and restarts
// itself, on a fixed loopback port and data directory, with an append-only
// file synced on every write so that its state survives a restart.
type ownRedis struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
	exit chan error // the running process's exit, once
}

func startOwnRedis(t *testing.T) *ownRedis {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &ownRedis{t: t, port: port, dir: t.TempDir()}
	t.Cleanup(func() {
		if s.cmd != nil {
			s.cmd.Process.Kill()
			<-s.exit
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) > 30 {
				lines = lines[len(lines)-30:]
			}
			t.Logf("redis-server log (tail):\n%s", strings.Join(lines, "\n"))
		}
	})
	s.start()
	return s
}

func (s *ownRedis) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// start runs redis-server on the server's port and directory and waits
// until it answers PING.
func (s *ownRedis) start() {
	t := s.t
	t.Helper()
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(s.port), "--dir", s.dir,
		"--daemonize", "no", "--logfile", "redis.log", "--save", "", "--appendonly", "yes", "--appendfsync", "always")
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start redis-server on %s: %v", s.addr(), err)
	}
	s.cmd = cmd
	s.exit = make(chan error, 1)
	go func() { s.exit <- cmd.Wait() }()
	c := redis.NewClient(&redis.Options{Addr: s.addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		select {
		case werr := <-s.exit:
			s.cmd = nil
			t.Fatalf("redis-server on %s exited at start: %v", s.addr(), werr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s does not answer PING after 20s: %v", s.addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM (Redis shuts down cleanly, syncing its append-only
// file) and waits for the process to exit.
func (s *ownRedis) stop() {
	t := s.t
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("cannot stop redis-server: %v", err)
	}
	select {
	case err := <-s.exit:
		if err != nil {
			t.Fatalf("redis-server did not exit cleanly on SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("redis-server did not exit within 20s of SIGTERM")
	}
	s.cmd = nil
	c, err := net.DialTimeout("tcp", s.addr(), time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after redis-server exited", s.addr())
	}
}

// kafkaMessages is what produce sends for msgs.
func kafkaMessages(msgs []simulate.Message) []kafka.Message {
	out := make([]kafka.Message, len(msgs))
	now := time.Now()
	for i, m := range msgs {
		out[i] = kafka.Message{Key: m.Key, Value: m.Value, Time: m.Time}
		if m.Time.After(now) {
			out[i].Time = now
		}
	}
	return out
}

// TestRedisStoppedThirtySecondsThenRestarted stops the processor's Redis
// server for real (the process exits) for 30 seconds while statements keep
// arriving, then starts it again on the same port and data: the processor
// must not crash, must commit nothing while Redis is away, keep its
// in-flight statements bounded, drain the backlog once Redis is back, and
// leave the state of one clean pass in Redis and on the decisions topic.
func TestRedisStoppedThirtySecondsThenRestarted(t *testing.T) {
	testenv.Redis(t) // fails or skips like the other integration tests without servers
	srv := startOwnRedis(t)
	r := newRig(t, 2)
	r.redis = srv.addr()
	r.cfg.Redis = []string{srv.addr()}
	r.rdb = redis.NewClient(&redis.Options{Addr: srv.addr()})
	t.Cleanup(func() { r.rdb.Close() })
	r.cfg.MaxInFlight = 300
	r.cfg.FlushSize = 100
	ctx := context.Background()

	msgs := cohort(t, 40, 200, 29)
	half := len(msgs) / 2
	r.produce(msgs[:half])
	in := r.start(testLogger(t))
	alive := func(when string) {
		t.Helper()
		select {
		case err := <-in.done:
			in.done <- err
			t.Fatalf("the processor stopped %s: Run returned %v", when, err)
		default:
		}
	}
	r.waitDone(90 * time.Second)
	alive("on the first half")
	base := "http://" + in.p.Addr()
	if code, body := httpGet(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d %q while running, want 200", code, body)
	}
	const marker = "unpair-restart-test-marker"
	if err := r.rdb.Set(ctx, marker, "kept", 0).Err(); err != nil {
		t.Fatal(err)
	}

	// The rest arrives at a steady pace, before, during and after the stop.
	rest := kafkaMessages(msgs[half:])
	const chunks = 20
	const pace = 400 * time.Millisecond
	var sent atomic.Int64
	produced := make(chan error, 1)
	go func() {
		w := &kafka.Writer{Addr: kafka.TCP(r.brokers...), Topic: r.cfg.InputTopic, Balancer: &kafka.Hash{},
			RequiredAcks: kafka.RequireAll, BatchSize: 500, BatchTimeout: 2 * time.Millisecond, Transport: &kafka.Transport{}}
		defer w.Close()
		tick := time.NewTicker(pace)
		defer tick.Stop()
		step := (len(rest) + chunks - 1) / chunks
		for lo := 0; lo < len(rest); lo += step {
			hi := min(lo+step, len(rest))
			wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := w.WriteMessages(wctx, rest[lo:hi]...)
			cancel()
			if err != nil {
				produced <- fmt.Errorf("cannot produce statements %d..%d of the second half: %w", lo, hi, err)
				return
			}
			sent.Store(int64(hi))
			<-tick.C
		}
		produced <- nil
	}()
	eventuallyWithin(t, 30*time.Second, "the first chunks of the second half to be sent", func() bool {
		return sent.Load() >= int64(2*len(rest)/chunks)
	})

	dbsize, err := r.rdb.DBSize(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	srv.stop()
	t.Logf("redis-server stopped after %v (%d keys before the stop; %d of %d statements of the second half sent)",
		time.Since(stoppedAt).Round(time.Millisecond), dbsize, sent.Load(), len(rest))

	eventuallyWithin(t, 20*time.Second, "/readyz to report the redis failure", func() bool {
		code, body := httpGet(t, base+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "redis")
	})
	eventuallyWithin(t, 20*time.Second, "failed redis writes or loads", func() bool {
		return testutil.ToFloat64(in.p.Metrics().RedisErrors) >= 2 || in.b.Shards.Stats().LoadErrors >= 2
	})
	stalled := r.committedSum(r.cfg.Group, r.cfg.ByLearnerTopic)
	if code, _ := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d while redis is down, want 200 (alive)", code)
	}

	// The one fixed wait: Redis stays down until redisDowntime after the
	// stop. Meanwhile the processor must stay up, commit nothing and keep
	// in flight within its bound.
	down := time.NewTimer(time.Until(stoppedAt.Add(redisDowntime)))
	defer down.Stop()
	sample := time.NewTicker(250 * time.Millisecond)
	defer sample.Stop()
	maxUsed, samples := 0, 0
	for waiting := true; waiting; {
		select {
		case <-down.C:
			waiting = false
		case err := <-in.done:
			in.done <- err
			t.Fatalf("the processor stopped while redis was down: Run returned %v", err)
		case <-sample.C:
			samples++
			used := in.p.agg.inFlightUsed()
			maxUsed = max(maxUsed, used)
			if used > r.cfg.MaxInFlight {
				t.Fatalf("%d statements in flight while redis is down, bound %d", used, r.cfg.MaxInFlight)
			}
			if code, _ := httpGet(t, base+"/readyz"); code != http.StatusServiceUnavailable {
				t.Fatalf("/readyz = %d %v after the stop while redis is down, want 503", code, time.Since(stoppedAt).Round(time.Millisecond))
			}
		}
	}
	if now := r.committedSum(r.cfg.Group, r.cfg.ByLearnerTopic); now != stalled {
		t.Fatalf("committed offsets of the aggregating stage moved from %d to %d while redis was down", stalled, now)
	}
	ends, err := EndOffsets(ctx, r.brokers, r.cfg.ByLearnerTopic)
	if err != nil {
		t.Fatal(err)
	}
	var end int64
	for _, e := range ends {
		end += e
	}
	if end <= stalled {
		t.Fatalf("no backlog built up while redis was down: by-learner end %d, committed %d", end, stalled)
	}
	errs := testutil.ToFloat64(in.p.Metrics().RedisErrors)
	retries := testutil.ToFloat64(in.p.Metrics().RedisRetries)
	downFor := time.Since(stoppedAt)
	t.Logf("redis down %v: backlog %d by-learner statements, in flight at most %d of %d (%d samples), %v redis errors, %v retries, %d shard load errors",
		downFor.Round(time.Millisecond), end-stalled, maxUsed, r.cfg.MaxInFlight, samples, errs, retries, in.b.Shards.Stats().LoadErrors)
	if downFor < redisDowntime {
		t.Fatalf("redis was down %v, want at least %v", downFor, redisDowntime)
	}

	srv.start()
	restartedAt := time.Now()
	if v, err := r.rdb.Get(ctx, marker).Result(); err != nil || v != "kept" {
		t.Fatalf("redis lost its data over the restart: marker = %q, %v", v, err)
	}
	if n, err := r.rdb.DBSize(ctx).Result(); err != nil || n < dbsize {
		t.Fatalf("redis holds %d keys after the restart (%v), %d before the stop", n, err, dbsize)
	}
	select {
	case err := <-produced:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the second half was not produced within 60s")
	}
	r.waitDone(120 * time.Second)
	drain := time.Since(restartedAt)
	alive("after the restart")
	eventuallyWithin(t, 30*time.Second, "/readyz to recover", func() bool {
		code, _ := httpGet(t, base+"/readyz")
		return code == http.StatusOK
	})
	t.Logf("backlog drained %v after redis answered again; %v redis errors, %v retries in total",
		drain.Round(time.Millisecond), testutil.ToFloat64(in.p.Metrics().RedisErrors), testutil.ToFloat64(in.p.Metrics().RedisRetries))
	if retries := testutil.ToFloat64(in.p.Metrics().RedisRetries); retries == 0 && in.b.Shards.Stats().LoadErrors == 0 {
		t.Error("no redis retry and no shard load error counted over a 30s outage")
	}
	in.stop(t)

	if err := r.rdb.Del(ctx, marker).Err(); err != nil && !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	by := r.readAll(r.cfg.ByLearnerTopic)
	r.checkStage1(msgs, by)
	o := runOracle(t, by)
	r.checkRedis(o)
	r.checkDecisionTopic(o)
}
