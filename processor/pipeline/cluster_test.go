package pipeline

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/store"
	"github.com/unpair/unpair/processor/testenv"
)

// TestRedisClusterEqualsCleanPass runs the pipeline against the real
// three-master Redis Cluster: every learner's keys share one hash slot, so
// each learner's atomic write (one script over its four keys) is legal on a
// cluster; the state left equals the clean pass.
func TestRedisClusterEqualsCleanPass(t *testing.T) {
	r := newRig(t, 3)
	addrs := testenv.RedisCluster(t)
	r.cfg.Redis = addrs
	r.cfg.RedisCluster = true
	msgs := cohort(t, 60, 300, 37)
	r.produce(msgs)
	in := r.start(testLogger(t))
	if _, ok := in.b.Redis.(*redis.ClusterClient); !ok {
		t.Fatalf("Build made a %T for %d addresses, want a cluster client", in.b.Redis, len(addrs))
	}
	r.waitDone(90 * time.Second)
	in.stop(t)

	by := r.readAll(r.cfg.ByLearnerTopic)
	r.checkStage1(msgs, by)
	o := runOracle(t, by)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer cc.Close()
	checkClusterState(t, cc, r.cfg.RedisPrefix, o)
	r.checkDecisionTopic(o)
}

// checkClusterState is checkRedis over a cluster: every learner's state
// equals the clean pass's, its decisions agree on suppressed, reason, since
// and until, and no other learner has state.
func checkClusterState(t *testing.T, cc *redis.ClusterClient, prefix string, o *oracle) {
	t.Helper()
	ctx := context.Background()
	sc, err := store.NewSchema(prefix)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var keys []string
	masters := 0
	err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		mu.Lock()
		masters++
		mu.Unlock()
		iter := c.Scan(ctx, 0, prefix+":*:s", 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(o.state) {
		t.Errorf("cluster holds state of %d learners, clean pass %d", len(keys), len(o.state))
	}
	perNode := map[string]int{}
	bad := 0
	for learner, want := range o.state {
		k := sc.Keys(learner)
		slot := func(key string) int64 { return cc.ClusterKeySlot(ctx, key).Val() }
		if s := slot(k.State); s != slot(k.Decisions) || s != slot(k.Offsets) || s != slot(k.Engagement) {
			t.Fatalf("learner %s: keys in different cluster slots", learner)
		}
		got, err := cc.Get(ctx, k.State).Bytes()
		if err != nil || string(got) != string(want) {
			bad++
			if bad <= 3 {
				t.Errorf("learner %s: state differs from the clean pass (%v)", learner, err)
			}
			continue
		}
		if c, err := cc.MasterForKey(ctx, k.State); err == nil {
			perNode[c.Options().Addr]++
		}
		h, err := cc.HGetAll(ctx, k.Decisions).Result()
		if err != nil {
			t.Fatal(err)
		}
		wantD := o.decisions[learner]
		if len(h) != len(wantD) {
			bad++
			t.Errorf("learner %s: %d decisions stored, clean pass %d", learner, len(h), len(wantD))
			continue
		}
		for content, v := range h {
			_, d, err := store.DecodeDecision(v)
			if err != nil {
				t.Fatal(err)
			}
			w, ok := wantD[content]
			switch {
			case !ok || js(d) != js(w):
				bad++
				t.Errorf("learner %s content %s: decision differs:\n got %s\nwant %s", learner, content, js(d), js(w))
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d learners differ from the clean pass", bad, len(o.state))
	}
	if len(perNode) < 2 {
		t.Errorf("learners on %d cluster nodes (%v): the test does not exercise the cluster", len(perNode), perNode)
	}
	t.Logf("%d learners over %d masters %v", len(o.state), masters, perNode)
}
