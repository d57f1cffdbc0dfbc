package pipeline

import (
	"os/exec"
	"testing"
	"time"

	"github.com/unpair/unpair/processor/testenv"
)

// TestBrokerRestartMidStreamEqualsCleanPass stops and restarts the broker
// while the processor works: generations end without a reachable
// coordinator, produces and commits fail and are retried, and once the
// broker is back the result is still the clean pass.
func TestBrokerRestartMidStreamEqualsCleanPass(t *testing.T) {
	r := newRig(t, 2)
	ctl := testenv.KafkaCtl(t)
	msgs := cohort(t, 60, 300, 23)
	half := len(msgs) / 2
	r.produce(msgs[:half])
	in := r.start(testLogger(t))
	eventuallyWithin(t, 60*time.Second, "progress before the restart", func() bool {
		return r.committedSum(r.cfg.Group, r.cfg.ByLearnerTopic) > int64(half/4)
	})
	broker := func(cmd string) {
		t.Helper()
		if out, err := exec.Command(ctl, cmd).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", ctl, cmd, err, out)
		}
	}
	broker("stop")
	eventuallyWithin(t, 30*time.Second, "not ready without a broker", func() bool { return in.p.Health().Ready() != nil })
	broker("start")
	r.produce(msgs[half:])
	r.waitDone(120 * time.Second)
	in.stop(t)

	by := r.readAll(r.cfg.ByLearnerTopic)
	r.checkStage1(msgs, by)
	o := runOracle(t, by)
	r.checkRedis(o)
	r.checkDecisionTopic(o)
}
