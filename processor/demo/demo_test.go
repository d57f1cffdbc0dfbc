package demo

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/client"
	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/testenv"
)

// runDemo starts a demo, waits for its summary and checks what any run
// must satisfy: the accounting closes, the processor's counts match the
// simulator's ground truth, and every example is what the client reads.
func runDemo(t *testing.T, cfg Config) *Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := d.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
		select {
		case <-d.Done():
		default:
			t.Error("Done not closed after Stop")
		}
	}()
	s, err := d.Wait(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Accounted() {
		t.Fatalf("not accounted: %+v", s)
	}
	if s.Produced != s.Processed+s.DeadLettered+s.Duplicate || s.Uncommitted != 0 {
		t.Errorf("accounting: produced %d, processed %d, dead %d, dup %d, uncommitted %d",
			s.Produced, s.Processed, s.DeadLettered, s.Duplicate, s.Uncommitted)
	}
	// Every invalid statement the simulator made is dead-lettered, nothing
	// else is. Duplicates of statements that change no state (launched,
	// initialized, ...) are applied as no-ops and so counted processed:
	// the engine recognises the duplicates of statements it keeps.
	if s.DeadLettered != s.SentInvalid {
		t.Errorf("dead-lettered %d, the simulator sent %d invalid statements", s.DeadLettered, s.SentInvalid)
	}
	if s.Duplicate > s.SentDuplicates {
		t.Errorf("duplicates %d, more than the %d the simulator sent", s.Duplicate, s.SentDuplicates)
	}
	if s.Learners != cfg.Learners && s.Learners > cfg.Learners {
		t.Errorf("learners %d, configured %d", s.Learners, cfg.Learners)
	}
	total := 0
	for _, n := range s.Active {
		total += n
	}
	if total == 0 || total > s.Decided {
		t.Errorf("active suppressions %d of %d decided pairs", total, s.Decided)
	}
	if len(s.Examples) == 0 {
		t.Fatal("no examples")
	}
	// Each example is what a recommendation service reads through the
	// client, by IFI and by key.
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: s.Redis, IsClusterMode: len(s.Redis) > 1})
	defer rdb.Close()
	secret := cfg.Secret
	if secret == "" {
		secret = DefaultSecret
	}
	cl, err := client.New(rdb, client.Options{Secret: []byte(secret), Prefix: s.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	derived := 0
	for _, e := range s.Examples {
		if e.Derived {
			// never touched: the query API decides it from the learner's
			// skills and the live catalog
			derived++
			var x struct {
				Suppressed bool               `json:"suppressed"`
				Derived    bool               `json:"derived"`
				Decision   *decision.Decision `json:"decision"`
			}
			resp, err := http.Get(s.CurlURL(e))
			if err != nil {
				t.Fatal(err)
			}
			err = json.NewDecoder(resp.Body).Decode(&x)
			resp.Body.Close()
			if err != nil || !x.Suppressed || !x.Derived || x.Decision == nil || x.Decision.Reason != decision.Mastered {
				t.Errorf("derived example %s/%s: query API says %+v (%v)", e.LearnerKey, e.Decision.Content, x, err)
			}
			continue
		}
		for _, who := range []string{e.Learner, e.LearnerKey} {
			x, err := cl.Explain(ctx, client.Learner(who), e.Decision.Content)
			if err != nil {
				t.Fatal(err)
			}
			if !x.Active || x.Decision == nil || x.Decision.Reason != e.Decision.Reason {
				t.Errorf("example %s/%s: client says active %v, decision %+v", e.LearnerKey, e.Decision.Content, x.Active, x.Decision)
			}
		}
		if !strings.Contains(s.CurlURL(e), "/v1/learners/"+e.LearnerKey+"/contents/") {
			t.Errorf("curl URL %s does not name the learner key", s.CurlURL(e))
		}
	}
	if s.Active[decision.Mastered] > 0 && (s.Derived == 0 || derived != 1) {
		t.Errorf("%d derived suppressions, %d derived examples; want some, and one example", s.Derived, derived)
	}
	return s
}

func TestDemoInProcess(t *testing.T) {
	s := runDemo(t, Config{Learners: 30, HTTPAddr: "127.0.0.1:0"})
	if !s.InProcess || s.Prefix != "" || s.Topics[0] != "xapi.statements" {
		t.Errorf("in-process run: in-process %v, prefix %q, topics %v", s.InProcess, s.Prefix, s.Topics)
	}
	t.Logf("%d statements accounted for in %v (%.0f/s)", s.Produced, s.Elapsed, s.Rate())
}

// TestDemoSameSeedSameDecisions: the cohort and the processor are
// deterministic, so two runs with one seed decide the same.
func TestDemoSameSeedSameDecisions(t *testing.T) {
	// One clock for all runs: the cohort ends at the start of its day, and
	// the decisions are read at the real time, as the client reads them.
	t0 := time.Now()
	now := func() time.Time { return t0 }
	a := runDemo(t, Config{Learners: 20, Seed: 5, HTTPAddr: "127.0.0.1:0", Now: now})
	b := runDemo(t, Config{Learners: 20, Seed: 5, HTTPAddr: "127.0.0.1:0", Now: now})
	if a.Produced != b.Produced || a.Processed != b.Processed || a.Decided != b.Decided {
		t.Errorf("same seed: produced %d/%d, processed %d/%d, decided %d/%d",
			a.Produced, b.Produced, a.Processed, b.Processed, a.Decided, b.Decided)
	}
	for _, r := range []decision.Reason{decision.Mastered, decision.Completed, decision.Feedback} {
		if a.Active[r] != b.Active[r] {
			t.Errorf("same seed: %s suppressions %d and %d", r, a.Active[r], b.Active[r])
		}
	}
	c := runDemo(t, Config{Learners: 20, Seed: 6, HTTPAddr: "127.0.0.1:0", Now: now})
	if c.Produced == a.Produced && c.Decided == a.Decided {
		t.Errorf("seeds 5 and 6 gave the same cohort: %d statements, %d decided pairs", c.Produced, c.Decided)
	}
}

// TestDemoRealServers runs the demo against real Kafka and Redis, twice:
// the run id keeps the second run from seeing the first one's statements.
func TestDemoRealServers(t *testing.T) {
	k, r := testenv.Kafka(t), testenv.Redis(t)
	var prefixes []string
	for i, now := range []time.Time{time.Now(), time.Now().Add(time.Second)} {
		s := runDemo(t, Config{Learners: 20, Seed: 3, HTTPAddr: "127.0.0.1:0", Brokers: []string{k}, Redis: []string{r},
			Now: func() time.Time { return now }})
		if s.InProcess || s.Prefix == "" || !strings.HasPrefix(s.Topics[0], "xapi.statements.demo-") {
			t.Errorf("run %d: in-process %v, prefix %q, topics %v", i, s.InProcess, s.Prefix, s.Topics)
		}
		prefixes = append(prefixes, s.Prefix)
		t.Logf("real Kafka + Redis, run %d: %d statements accounted for in %v (%.0f/s)", i, s.Produced, s.Elapsed, s.Rate())
	}
	if prefixes[0] == prefixes[1] {
		t.Errorf("two runs share the Redis prefix %q", prefixes[0])
	}
}

// TestDemoRedisCluster runs the demo against real Kafka and a Redis
// Cluster: every key of a learner shares one hash slot.
func TestDemoRedisCluster(t *testing.T) {
	k, rc := testenv.Kafka(t), testenv.RedisCluster(t)
	s := runDemo(t, Config{Learners: 20, Seed: 4, HTTPAddr: "127.0.0.1:0", Brokers: []string{k}, Redis: rc})
	t.Logf("real Kafka + Redis Cluster: %d statements accounted for in %v (%.0f/s)", s.Produced, s.Elapsed, s.Rate())
}

func TestStartRejects(t *testing.T) {
	f := func(cfg Config, want string) {
		t.Helper()
		d, err := Start(context.Background(), cfg)
		if err == nil {
			d.Stop()
			t.Fatalf("Start(%+v) succeeded, want an error naming %q", cfg, want)
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start(%+v): %v, want it to name %q", cfg, err, want)
		}
	}
	f(Config{Learners: -1, HTTPAddr: "127.0.0.1:0"}, "learners")
	f(Config{Partitions: 1000, HTTPAddr: "127.0.0.1:0"}, "partitions")
	f(Config{HTTPAddr: "no-port"}, "http")
}

// TestCohortEndsBeforeToday: whatever the seed, no statement lies after
// the start of today (Kafka 4 rejects timestamps over an hour ahead).
func TestCohortEndsBeforeToday(t *testing.T) {
	now := time.Date(2026, 11, 28, 18, 30, 0, 0, time.UTC)
	today := now.Truncate(24 * time.Hour)
	f := func(seed uint64, learners int) {
		t.Helper()
		d := &Demo{cfg: Config{Seed: seed, Learners: learners, Now: func() time.Time { return now }}}
		_, msgs, err := d.cohort()
		if err != nil {
			t.Fatal(err)
		}
		var last time.Time
		for _, m := range msgs {
			if m.Time.After(last) {
				last = m.Time
			}
		}
		if last.After(today) {
			t.Errorf("seed %d, %d learners: last statement at %v, after %v", seed, learners, last, today)
		}
		if len(d.learners) == 0 || len(d.learners) > learners || d.truth.Messages != len(msgs) {
			t.Errorf("seed %d, %d learners: %d learners seen, stats %d messages of %d", seed, learners, len(d.learners), d.truth.Messages, len(msgs))
		}
	}
	f(4, 20) // runs 49 h past its four weeks unshifted
	f(4, 50) // 95 h
	f(6, 200)
	f(1, 200)
}

// TestWaitReportsAMissingStatement: when the processor cannot account for
// every produced statement (here: one more claimed than produced), Wait
// fails once the counts stop moving, with the counts reached.
func TestWaitReportsAMissingStatement(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d, err := Start(ctx, Config{Learners: 5, HTTPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	if _, err := d.Wait(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	d.produced++
	s, err := d.Wait(ctx, 2*time.Second)
	if err == nil || !strings.Contains(err.Error(), "stalled") {
		t.Fatalf("Wait with a missing statement: %v, want a stall error", err)
	}
	if s == nil || s.Accounted() || s.Processed+s.DeadLettered+s.Duplicate != s.Produced-1 {
		t.Errorf("summary after the stall: %+v", s)
	}

	// One statement counted twice (here: one fewer claimed produced): the
	// counts are final, so Wait says so at once, with the decisions read.
	d.produced -= 2
	start := time.Now()
	s, err = d.Wait(ctx, time.Minute)
	if !errors.Is(err, ErrMiscounted) || !strings.Contains(err.Error(), "1 more statements counted than produced") {
		t.Fatalf("Wait with a statement counted twice: %v, want ErrMiscounted", err)
	}
	if time.Since(start) > 30*time.Second || s.Decided == 0 {
		t.Errorf("miscount reported after %v with %d decided pairs", time.Since(start), s.Decided)
	}
}
