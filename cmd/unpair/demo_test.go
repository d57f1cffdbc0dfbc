package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for one writer and a polling reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var (
	accountingLine = regexp.MustCompile(`accounting\s+produced (\d+) = processed (\d+) \+ dead-lettered (\d+) \+ duplicate (\d+)`)
	suppressedLine = regexp.MustCompile(`suppressed\s+(\d+) of (\d+) decided pairs`)
	curlLine       = regexp.MustCompile(`curl -s '([^']+)'`)
	queryLine      = regexp.MustCompile(`unpair query --redis (\S+) (\S+) (\S+)`)
)

// checkSummary checks the printed accounting and suppressions and returns
// the first curl URL and the first query's arguments.
func checkSummary(t *testing.T, out string) (curl string, query []string) {
	t.Helper()
	m := accountingLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no accounting line in the summary:\n%s", out)
	}
	n := make([]int, 4)
	for i := range n {
		n[i], _ = strconv.Atoi(m[i+1])
	}
	if n[0] == 0 || n[1]+n[2]+n[3] != n[0] {
		t.Errorf("accounting: produced %d, processed %d + dead-lettered %d + duplicate %d = %d", n[0], n[1], n[2], n[3], n[1]+n[2]+n[3])
	}
	if n[2] == 0 {
		t.Errorf("no statement dead-lettered; the simulated cohort holds invalid ones:\n%s", out)
	}
	if !strings.Contains(out, "every offset committed") {
		t.Errorf("summary does not report every offset committed:\n%s", out)
	}
	s := suppressedLine.FindStringSubmatch(out)
	if s == nil {
		t.Fatalf("no suppressed line in the summary:\n%s", out)
	}
	if k, _ := strconv.Atoi(s[1]); k == 0 {
		t.Errorf("no suppressed pairs:\n%s", out)
	}
	c := curlLine.FindStringSubmatch(out)
	if c == nil {
		t.Fatalf("no curl command in the summary:\n%s", out)
	}
	q := queryLine.FindStringSubmatch(out)
	if q == nil {
		t.Fatalf("no unpair query command in the summary:\n%s", out)
	}
	return c[1], q[1:]
}

// raceEnabled reports whether the test binary was built with -race, which
// slows the demo several times over.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

func TestDemoOnce(t *testing.T) {
	var stdout, stderr syncBuffer
	start := time.Now()
	code := dispatch([]string{"demo", "--once", "--learners", "50", "--http", "127.0.0.1:0"}, nil, &stdout, &stderr)
	took := time.Since(start)
	t.Logf("unpair demo --once --learners 50 took %v", took)
	out := stdout.String()
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr.String())
	}
	checkSummary(t, out)
	if !strings.Contains(out, "every statement accounted for: true") {
		t.Errorf("--once did not report the accounting:\n%s", out)
	}
	// Well under a minute on two busy cores; the race detector's slowdown
	// (and other packages' tests running beside it) get more room.
	limit := 30 * time.Second
	if raceEnabled() {
		limit = 3 * time.Minute
	}
	if took > limit {
		t.Errorf("demo --once took %v; it must finish within %v", took, limit)
	}
}

func TestDemoServesUntilStopped(t *testing.T) {
	sig := make(chan os.Signal, 1)
	old := demoSignals
	demoSignals = func() (<-chan os.Signal, func()) { return sig, func() {} }
	defer func() { demoSignals = old }()

	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- dispatch([]string{"demo", "--learners", "20", "--seed", "7", "--http", "127.0.0.1:0"}, nil, &stdout, &stderr)
	}()
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(stdout.String(), "Serving until interrupted") {
		select {
		case code := <-done:
			t.Fatalf("demo exited %d before serving\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			sig <- os.Interrupt
			t.Fatalf("no summary within 3 min\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
		time.Sleep(20 * time.Millisecond) // polling the output, not synchronizing
	}
	out := stdout.String()
	curl, query := checkSummary(t, out)

	// The printed curl URL answers with the suppression it explains.
	resp, err := http.Get(curl)
	if err != nil {
		t.Fatalf("GET %s: %v", curl, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", curl, resp.StatusCode, body)
	}
	var got struct {
		Found, Suppressed bool
		Decision          struct{ Reason, Explanation string }
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("GET %s: %v in %s", curl, err, body)
	}
	if !got.Found || !got.Suppressed || got.Decision.Reason == "" || got.Decision.Explanation == "" {
		t.Errorf("GET %s: want a suppressed, explained decision, got %s", curl, body)
	}

	// The printed unpair query command answers the same.
	var qout, qerr bytes.Buffer
	if code := dispatch([]string{"query", "--redis", query[0], query[1], query[2]}, nil, &qout, &qerr); code != 0 {
		t.Fatalf("unpair query: exit %d: %s", code, qerr.String())
	}
	if !strings.HasPrefix(strings.SplitN(qout.String(), "\n", 3)[1], "suppressed  ") {
		t.Errorf("unpair query: want the pair suppressed, got:\n%s", qout.String())
	}

	// /metrics, /healthz, /readyz and the insight page are served.
	base := curl[:strings.Index(curl, "/v1/")]
	for _, path := range []string{"/metrics", "/healthz", "/readyz", "/insight/"} {
		r, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d: %s", path, r.StatusCode, b)
		}
		if path == "/metrics" && !strings.Contains(string(b), `unpair_statements_total{outcome="processed"`) {
			t.Errorf("/metrics lacks unpair_statements_total")
		}
	}

	sig <- os.Interrupt
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after interrupt\nstderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop within 30 s of the interrupt")
	}
	// Stopped means stopped: the HTTP server no longer answers.
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second); err == nil {
		c.Close()
		t.Errorf("HTTP server still listening at %s after stop", base)
	}
}

func TestDemoHTTPBusy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var stdout, stderr bytes.Buffer
	code := dispatch([]string{"demo", "--once", "--learners", "5", "--http", ln.Addr().String()}, nil, &stdout, &stderr)
	if code != 2 {
		t.Fatalf("exit %d, want 2\nstderr: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "already in use") || !strings.Contains(lines[0], ln.Addr().String()) {
		t.Errorf("want one line naming the busy address, got %q", stderr.String())
	}
}

func TestDemoUsageErrors(t *testing.T) {
	f := func(args ...string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := dispatch(append([]string{"demo"}, args...), nil, &stdout, &stderr); code != 2 {
			t.Errorf("demo %v: exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
	f("--learners", "0")
	f("--learners", "x")
	f("--partitions", "0")
	f("extra")
	f("--http", "nohostport")
}
