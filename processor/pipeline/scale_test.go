package pipeline

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var soak = flag.Bool("soak", false, "scale test: a larger cohort under load for longer (see docs/operations.md)")

// member is one `unpair run` subprocess with a known HTTP address.
type member struct {
	*proc
	n    int
	http string
	gone bool
}

// spawnMember starts `unpair run` like the crash test's spawn, on a free
// HTTP port so the test can read its /readyz and /metrics.
func (r *rig) spawnMember(t *testing.T, bin string, n int) *member {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := r.spawnRun(t, bin, n, runFlags{http: addr, flushInterval: "50ms", flushSize: "500", maxInFlight: "2000", tail: 30})
	m := &member{proc: p, n: n, http: addr}
	return m
}

// assigned returns the partitions the member's aggregating stage owns, or
// -1 when it is not ready.
func (m *member) assigned() int {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + m.http + "/readyz")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var n int
	if resp.StatusCode != http.StatusOK {
		return -1
	}
	if _, err := fmt.Sscanf(string(b), "ready: %d partitions", &n); err != nil {
		return -1
	}
	return n
}

// pauses returns the count and sum of the member's
// unpair_rebalance_pause_seconds histogram.
func (m *member) pauses() (int, float64, bool) {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + m.http + "/metrics")
	if err != nil {
		return 0, 0, false
	}
	defer resp.Body.Close()
	var n int
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "unpair_rebalance_pause_seconds_count "); ok {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
		if v, ok := strings.CutPrefix(line, "unpair_rebalance_pause_seconds_sum "); ok {
			sum, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return n, sum, true
}

// TestScaleThreeInstancesAddRemoveKill runs three `unpair run` processes in
// one group on a 12-partition topic under steady load, then adds a fourth,
// stops one with SIGTERM and kills one with SIGKILL; each rebalance's pause
// is read from the members' unpair_rebalance_pause_seconds and logged, and
// the final Redis state and decision events equal one clean pass.
func TestScaleThreeInstancesAddRemoveKill(t *testing.T) {
	const partitions = 12
	r := newRig(t, partitions)
	bin := buildUnpair(t)
	learners, sessions := 120, 600
	if *soak {
		learners, sessions = 1000, 8000
	}
	msgs := cohort(t, learners, sessions, 47)
	// steady load: the cohort in slices over the whole test
	produced := make(chan struct{})
	stopLoad := make(chan struct{})
	loadEvery := 150 * time.Millisecond
	chunk := max(len(msgs)/400, 10)
	go func() {
		defer close(produced)
		for i := 0; i < len(msgs); i += chunk {
			r.produce(msgs[i:min(i+chunk, len(msgs))])
			select {
			case <-stopLoad:
				r.produce(msgs[i+chunk:])
				return
			case <-time.After(loadEvery):
			}
		}
	}()
	defer func() {
		select {
		case <-produced:
		default:
			close(stopLoad)
			<-produced
		}
	}()

	var members []*member
	live := func() []*member {
		var out []*member
		for _, m := range members {
			if !m.gone {
				out = append(out, m)
			}
		}
		return out
	}
	// settled waits until every live member is ready and together they own
	// every partition; it returns how long that took.
	settled := func(what string) time.Duration {
		t.Helper()
		start := time.Now()
		var got []int
		eventuallyWithin(t, 60*time.Second, what, func() bool {
			got = got[:0]
			total := 0
			for _, m := range live() {
				n := m.assigned()
				if n <= 0 {
					return false
				}
				got, total = append(got, n), total+n
			}
			return total == partitions
		})
		t.Logf("%s: partitions per member %v after %v", what, got, time.Since(start).Round(time.Millisecond))
		return time.Since(start)
	}
	// pauseCounts notes each live member's pause histogram count.
	pauseCounts := func() map[int][2]float64 {
		out := map[int][2]float64{}
		for _, m := range live() {
			n, s, _ := m.pauses()
			out[m.n] = [2]float64{float64(n), s}
		}
		return out
	}
	type event struct {
		name   string
		pauses []float64 // seconds, one per member that rebalanced
	}
	var events []event
	// observe waits until each live member that existed before the event
	// has observed one more pause, and records them.
	observe := func(name string, before map[int][2]float64) {
		t.Helper()
		var ps []float64
		eventuallyWithin(t, 60*time.Second, "the rebalance pauses of "+name, func() bool {
			ps = ps[:0]
			for _, m := range live() {
				b, ok := before[m.n]
				if !ok {
					continue // joined with the event: no previous generation
				}
				n, s, ok := m.pauses()
				if !ok || float64(n) <= b[0] {
					return false
				}
				ps = append(ps, (s-b[1])/(float64(n)-b[0]))
			}
			return len(ps) > 0
		})
		events = append(events, event{name, slices.Clone(ps)})
	}
	progress := func() int64 { return r.committedSum(r.cfg.Group, r.cfg.ByLearnerTopic) }

	for i := 1; i <= 3; i++ {
		members = append(members, r.spawnMember(t, bin, i))
	}
	settled("three members")
	eventuallyWithin(t, 60*time.Second, "progress with three members", func() bool { return progress() > int64(len(msgs)/10) })

	before := pauseCounts()
	members = append(members, r.spawnMember(t, bin, 4))
	settled("a fourth member added")
	observe("add a fourth member", before)

	before = pauseCounts()
	victim := members[0]
	if err := victim.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, victim.proc, 40*time.Second, true)
	victim.gone = true
	settled("member 1 stopped with SIGTERM")
	observe("remove a member (SIGTERM)", before)

	before = pauseCounts()
	victim = members[1]
	mark := progress()
	killed := time.Now()
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitExit(t, victim.proc, 10*time.Second, false)
	victim.gone = true
	settled("member 2 killed with SIGKILL")
	t.Logf("kill -9: every partition owned again %v after the kill (the session timeout, 6s, must pass first)", time.Since(killed).Round(time.Millisecond))
	observe("kill -9 a member", before)
	eventuallyWithin(t, 60*time.Second, "commits after the kill", func() bool { return progress() > mark })

	close(stopLoad)
	<-produced
	r.waitDone(120 * time.Second)
	for _, e := range events {
		var parts []string
		for _, p := range e.pauses {
			parts = append(parts, fmt.Sprintf("%.0f ms", p*1000))
		}
		t.Logf("rebalance pause, %s: %s", e.name, strings.Join(parts, ", "))
	}
	for _, m := range live() {
		if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		waitExit(t, m.proc, 40*time.Second, true)
		m.gone = true
	}

	by := r.readAll(r.cfg.ByLearnerTopic)
	r.checkStage1(msgs, by)
	o := runOracle(t, by)
	r.checkRedis(o)
	r.checkDecisionTopic(o)
	t.Logf("%d statements, %d learners, %d partitions", len(msgs), len(o.state), partitions)
}

// waitExit waits for a subprocess to end; clean wants exit status 0.
func waitExit(t *testing.T, p *proc, d time.Duration, clean bool) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if clean && err != nil {
			t.Errorf("unpair run exited with %v, want status 0", err)
		}
	case <-time.After(d):
		t.Fatalf("unpair run did not exit within %v", d)
	}
}
