package pipeline

import (
	"testing"
	"time"
)

func TestEndToEndEqualsCleanPass(t *testing.T) {
	r := newRig(t, 3)
	msgs := cohort(t, 80, 400, 7)
	r.produce(msgs)
	in := r.start(testLogger(t))
	r.waitDone(90 * time.Second)
	in.stop(t)

	by := r.readAll(r.cfg.ByLearnerTopic)
	r.checkStage1(msgs, by)
	o := runOracle(t, by)
	r.checkRedis(o)
	r.checkDecisionTopic(o)
	r.checkEngagement(o)
	t.Logf("%d statements, %d learners, %d decision events", len(msgs), len(o.state), len(o.events))
}
