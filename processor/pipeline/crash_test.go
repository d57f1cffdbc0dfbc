package pipeline

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// buildUnpair builds the unpair binary into a temporary directory.
func buildUnpair(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "unpair")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/unpair/unpair/cmd/unpair")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cannot build unpair: %v\n%s", err, out)
	}
	return bin
}

// proc is `unpair run` as a subprocess.
type proc struct {
	cmd *exec.Cmd
	log string
}

func (r *rig) spawn(t *testing.T, bin string, n int) *proc {
	t.Helper()
	return r.spawnRun(t, bin, n, runFlags{http: "127.0.0.1:0", flushInterval: "20ms", flushSize: "200", maxInFlight: "400", tail: 40})
}

// runFlags are the settings that differ between the subprocess tests.
type runFlags struct {
	http, flushInterval, flushSize, maxInFlight string
	tail                                        int // log lines shown when the test fails
}

// spawnRun starts `unpair run` as a subprocess on the rig's topics, group
// and Redis, logging to a file whose tail the test prints if it fails.
func (r *rig) spawnRun(t *testing.T, bin string, n int, f runFlags) *proc {
	t.Helper()
	c := r.cfg
	logPath := filepath.Join(t.TempDir(), fmt.Sprintf("unpair-%d.log", n))
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run",
		"--by-learner-topic", c.ByLearnerTopic, "--dlq-topic", c.DeadLetterTopic, "--decision-topic", c.DecisionTopic,
		"--catalog-topic=", "--redis-prefix", c.RedisPrefix, "--http-addr", f.http,
		"--flush-interval", f.flushInterval, "--flush-size", f.flushSize, "--max-in-flight", f.maxInFlight, "--sweep-interval=-1s",
		"--session-timeout", "6s", "--heartbeat-interval", "500ms", "--rebalance-timeout", "6s", "--flush-timeout", "4s", "--shards", "2",
		"--fetch-max-wait", "100ms", "--log-format", "console")
	cmd.Env = append(os.Environ(),
		"UNPAIR_BROKERS="+strings.Join(c.Brokers, ","), "UNPAIR_REDIS="+strings.Join(c.Redis, ","),
		"UNPAIR_GROUP="+c.Group, "UNPAIR_INPUT_TOPIC="+c.InputTopic, "UNPAIR_LEARNER_SECRET="+testSecret)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out.Close()
	p := &proc{cmd: cmd, log: logPath}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			lines := strings.Split(string(b), "\n")
			if len(lines) > f.tail {
				lines = lines[len(lines)-f.tail:]
			}
			t.Logf("log of unpair run #%d (tail):\n%s", n, strings.Join(lines, "\n"))
		}
	})
	return p
}

// committedSum returns the offsets group has committed on topic, summed.
func (r *rig) committedSum(group, topic string) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := partitionCount(ctx, r.brokers, topic)
	if err != nil {
		return 0
	}
	parts := make([]int, n)
	for i := range parts {
		parts[i] = i
	}
	cl, done := freshClient(r.brokers)
	defer done()
	res, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return 0
	}
	var sum int64
	for _, po := range res.Topics[topic] {
		if po.CommittedOffset > 0 {
			sum += po.CommittedOffset
		}
	}
	return sum
}

func TestCrashKill9MidStreamEqualsCleanPass(t *testing.T) {
	r := newRig(t, 3)
	bin := buildUnpair(t)
	msgs := cohort(t, 80, 400, 11)
	half := len(msgs) / 2
	r.produce(msgs[:half])

	p1 := r.spawn(t, bin, 1)
	// Produce the second half in small batches while the first process
	// works, and kill it once its aggregating stage has committed 60% of
	// the stream: mid-stream, with statements fetched, applied, flushed
	// and produced but not all committed.
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := half; i < len(msgs); i += 100 {
			r.produce(msgs[i:min(i+100, len(msgs))])
		}
	}()
	target := int64(len(msgs)) * 6 / 10
	deadline := time.Now().Add(60 * time.Second)
	for r.committedSum(r.cfg.Group, r.cfg.ByLearnerTopic) < target {
		if time.Now().After(deadline) {
			t.Fatal("the first process did not reach 60% within 60s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := p1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p1.cmd.Wait()
	before := r.committedSum(r.cfg.Group, r.cfg.ByLearnerTopic)
	<-produced
	if before >= int64(len(msgs)) {
		t.Fatalf("killed after everything was committed (%d): the crash is not mid-stream", before)
	}
	t.Logf("killed -9 with %d of about %d by-learner offsets committed", before, len(msgs))

	p2 := r.spawn(t, bin, 2)
	r.waitDone(90 * time.Second)
	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p2.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("unpair run after SIGTERM: %v (want exit status 0)", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("unpair run did not stop within 40s of SIGTERM")
	}

	by := r.readAll(r.cfg.ByLearnerTopic)
	r.checkStage1(msgs, by)
	o := runOracle(t, by)
	r.checkRedis(o)
	r.checkDecisionTopic(o)
	r.checkEngagement(o)
}

func TestTwoInstancesOneGroupEqualsCleanPass(t *testing.T) {
	r := newRig(t, 4)
	msgs := cohort(t, 100, 450, 13)
	third := len(msgs) / 3
	r.produce(msgs[:third])
	a := r.start(testLogger(t))
	eventuallyWithin(t, 45*time.Second, "the first instance to own partitions", func() bool { return a.p.Health().Assigned() > 0 })
	r.produce(msgs[third : 2*third])

	b := r.start(testLogger(t))
	start := time.Now()
	eventuallyWithin(t, 45*time.Second, "both instances to own partitions", func() bool {
		return a.p.Health().Assigned() > 0 && b.p.Health().Assigned() > 0 &&
			a.p.Health().Assigned()+b.p.Health().Assigned() == 4
	})
	t.Logf("rebalance onto two instances took %v", time.Since(start).Round(time.Millisecond))
	r.produce(msgs[2*third:])
	r.waitDone(90 * time.Second)
	a.stop(t)
	b.stop(t)

	by := r.readAll(r.cfg.ByLearnerTopic)
	r.checkStage1(msgs, by)
	o := runOracle(t, by)
	r.checkRedis(o)
	r.checkDecisionTopic(o)
	r.checkEngagement(o)
}
