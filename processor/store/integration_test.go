package store

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/testenv"
)

func realRedis(t testing.TB) redis.UniversalClient {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Redis(t)})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("real Redis at %s: %v", testenv.Redis(t), err)
	}
	return rdb
}

func realCluster(t testing.TB) *redis.ClusterClient {
	t.Helper()
	addrs := testenv.RedisCluster(t)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("real Redis Cluster at %v: %v", addrs, err)
	}
	return rdb
}

func TestStoreRealRedis(t *testing.T) {
	suite(t, realRedis(t))
}

func TestRetriedPipelineRealRedis(t *testing.T) {
	retriedPipeline(t, testenv.Redis(t))
}

func TestStoreRealCluster(t *testing.T) {
	rdb := realCluster(t)
	suite(t, rdb)

	// Learners spread over all masters, one batch, no cross-slot error:
	// every key of a learner shares its hash tag.
	ctx := context.Background()
	s := newTestStore(t, rdb, 0)
	batch := make([]LearnerWrite, 64)
	slots := map[int64]bool{}
	for i := range batch {
		l := "learner" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		batch[i] = LearnerWrite{Learner: l, Offset: 1, State: []byte("x"), Decisions: []decision.Decision{mastered("c", 0)}, Engagement: []Field{{"a", "b"}}}
		k := s.Schema().Keys(l)
		slot, err := rdb.ClusterKeySlot(ctx, k.Decisions).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range k.All() {
			if other, _ := rdb.ClusterKeySlot(ctx, key).Result(); other != slot {
				t.Fatalf("%s in slot %d, %s in %d", key, other, k.Decisions, slot)
			}
		}
		slots[slot] = true
	}
	if len(slots) < 8 {
		t.Fatalf("test learners cover only %d slots", len(slots))
	}
	res, err := s.WriteBatch(ctx, batch)
	if err != nil || res.Applied != len(batch) {
		t.Fatalf("cluster batch: %+v, %v", res, err)
	}
	m, err := s.Load(ctx, []string{batch[0].Learner, batch[63].Learner})
	if err != nil || len(m) != 2 {
		t.Fatalf("cluster Load: %v, %v", m, err)
	}
}
