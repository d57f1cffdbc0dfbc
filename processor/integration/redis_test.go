package integration

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/testenv"
)

// keyPrefix keeps one run's keys apart from another's on a shared server.
func keyPrefix(name string) string {
	return fmt.Sprintf("it:%s:%d", name, time.Now().UnixNano())
}

// serverVersion reads redis_version from INFO server.
func serverVersion(ctx context.Context, t *testing.T, c redis.Cmdable) string {
	t.Helper()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		t.Fatalf("INFO server: %v", err)
	}
	v := infoField(info, "redis_version")
	if v == "" {
		t.Fatalf("INFO server has no redis_version line:\n%s", info)
	}
	return v
}

// infoField returns the value of field in an INFO answer, or "".
func infoField(info, field string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// TestRedisPipelineChecksEveryCommand writes through one pipeline, checks
// each queued command's own error (Exec's error is only the first one), and
// reads everything back.
func TestRedisPipelineChecksEveryCommand(t *testing.T) {
	addr := testenv.Redis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()

	v := serverVersion(ctx, t, rdb)
	t.Logf("redis %s: version %s", addr, v)
	if !strings.HasPrefix(v, "7.") {
		t.Errorf("redis_version %s, want 7.x", v)
	}

	prefix := keyPrefix("pipe")
	const n = 200
	pipe := rdb.Pipeline()
	var cmds []redis.Cmder
	for i := 0; i < n; i++ {
		h := fmt.Sprintf("%s:h:%d", prefix, i)
		cmds = append(cmds,
			pipe.HSet(ctx, h, "p", strconv.FormatFloat(float64(i)/n, 'g', -1, 64), "offset", i),
			pipe.Expire(ctx, h, time.Hour),
			pipe.Set(ctx, fmt.Sprintf("%s:s:%d", prefix, i), i*i, time.Hour),
		)
	}
	// A command that must fail inside the pipeline: HSET on a string key.
	bad := pipe.HSet(ctx, prefix+":s:0", "f", "v")
	if _, err := pipe.Exec(ctx); err == nil {
		t.Fatalf("pipeline with a WRONGTYPE command: Exec returned no error")
	}
	for i, c := range cmds {
		if err := c.Err(); err != nil {
			t.Fatalf("pipelined command %d (%v): %v", i, c.Args(), err)
		}
	}
	if err := bad.Err(); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("HSET on a string key: error %v, want WRONGTYPE", err)
	}

	read := rdb.Pipeline()
	hs := make([]*redis.MapStringStringCmd, n)
	ss := make([]*redis.StringCmd, n)
	ttls := make([]*redis.DurationCmd, n)
	for i := 0; i < n; i++ {
		h := fmt.Sprintf("%s:h:%d", prefix, i)
		hs[i] = read.HGetAll(ctx, h)
		ttls[i] = read.TTL(ctx, h)
		ss[i] = read.Get(ctx, fmt.Sprintf("%s:s:%d", prefix, i))
	}
	if _, err := read.Exec(ctx); err != nil {
		t.Fatalf("read-back pipeline: %v", err)
	}
	for i := 0; i < n; i++ {
		m, err := hs[i].Result()
		if err != nil {
			t.Fatalf("HGETALL %d: %v", i, err)
		}
		if want := strconv.FormatFloat(float64(i)/n, 'g', -1, 64); m["p"] != want || m["offset"] != strconv.Itoa(i) {
			t.Errorf("hash %d = %v, want p=%s offset=%d", i, m, want, i)
		}
		if d := ttls[i].Val(); d <= 0 || d > time.Hour {
			t.Errorf("hash %d TTL %v, want within (0, 1h]", i, d)
		}
		if got, err := ss[i].Int(); err != nil || got != i*i {
			t.Errorf("string %d = %d (%v), want %d", i, got, err, i*i)
		}
	}

	// Clean up so that a long-lived server does not fill up.
	del := rdb.Pipeline()
	for i := 0; i < n; i++ {
		del.Del(ctx, fmt.Sprintf("%s:h:%d", prefix, i), fmt.Sprintf("%s:s:%d", prefix, i))
	}
	if _, err := del.Exec(ctx); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

// TestRedisClusterTransactionNeedsOneSlot shows that on Redis Cluster a
// MULTI/EXEC over keys sharing one {hashtag} is applied, while one spanning
// hash slots is refused with a cross-slot error and applies nothing.
func TestRedisClusterTransactionNeedsOneSlot(t *testing.T) {
	addrs := testenv.RedisCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer rdb.Close()

	info, err := rdb.ClusterInfo(ctx).Result()
	if err != nil {
		t.Fatalf("CLUSTER INFO: %v", err)
	}
	if !strings.Contains(info, "cluster_state:ok") {
		t.Fatalf("cluster not ok:\n%s", info)
	}
	// ForEachMaster calls its function concurrently, one goroutine a master.
	var mu sync.Mutex
	masters := map[string]string{}
	if err := rdb.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		info, err := c.Info(ctx, "server").Result()
		if err != nil {
			return fmt.Errorf("INFO server on %s: %w", c.Options().Addr, err)
		}
		mu.Lock()
		defer mu.Unlock()
		masters[c.Options().Addr] = infoField(info, "redis_version")
		return nil
	}); err != nil {
		t.Fatalf("cannot reach every master: %v", err)
	}
	t.Logf("redis cluster masters and versions: %v", masters)
	if len(masters) != 3 {
		t.Errorf("%d masters, want 3", len(masters))
	}

	slot := func(key string) int64 {
		t.Helper()
		s, err := rdb.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT %s: %v", key, err)
		}
		return s
	}

	prefix := keyPrefix("tx")
	same := []string{prefix + ":{learner-1}:mastery", prefix + ":{learner-1}:offsets"}
	if slot(same[0]) != slot(same[1]) {
		t.Fatalf("keys %v with one hashtag are in different slots", same)
	}
	// Pick two untagged keys in different slots.
	cross := []string{prefix + ":a"}
	for i := 0; len(cross) < 2; i++ {
		if k := fmt.Sprintf("%s:b%d", prefix, i); slot(k) != slot(cross[0]) {
			cross = append(cross, k)
		}
	}
	t.Cleanup(func() {
		for _, k := range append(same, cross...) {
			rdb.Del(context.Background(), k)
		}
	})

	cmds, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, same[0], "p", "0.7", "offset", 41)
		p.HSet(ctx, same[1], "partition-0", 41)
		p.Expire(ctx, same[0], time.Hour)
		return nil
	})
	if err != nil {
		t.Fatalf("MULTI/EXEC over %v: %v", same, err)
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			t.Fatalf("MULTI/EXEC over %v: %v: %v", same, c.Args(), err)
		}
	}
	if got := rdb.HGet(ctx, same[0], "offset").Val(); got != "41" {
		t.Errorf("after MULTI/EXEC, %s offset = %q, want 41", same[0], got)
	}
	if got := rdb.HGet(ctx, same[1], "partition-0").Val(); got != "41" {
		t.Errorf("after MULTI/EXEC, %s partition-0 = %q, want 41", same[1], got)
	}

	_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, cross[0], "x", time.Hour)
		p.Set(ctx, cross[1], "y", time.Hour)
		return nil
	})
	if err == nil {
		t.Fatalf("MULTI/EXEC over keys in slots %d and %d succeeded; want a cross-slot error", slot(cross[0]), slot(cross[1]))
	}
	t.Logf("cross-slot MULTI/EXEC refused: %v", err)
	if !strings.Contains(strings.ToUpper(err.Error()), "CROSSSLOT") && !strings.Contains(strings.ToLower(err.Error()), "cross") {
		t.Errorf("cross-slot MULTI/EXEC error %q does not say cross-slot", err)
	}
	for _, k := range cross {
		if n, err := rdb.Exists(ctx, k).Result(); err != nil || n != 0 {
			t.Errorf("after the refused transaction, EXISTS %s = %d (%v), want 0: part of it was applied", k, n, err)
		}
	}
}
