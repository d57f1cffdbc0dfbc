package engagement

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/testenv"
)

// TestRealRedisCrashesMatchOneCleanPass runs the crash-and-retry replay
// against the real Redis (its Lua, not miniredis's) and compares with a
// clean pass on miniredis.
func TestRealRedisCrashesMatchOneCleanPass(t *testing.T) {
	addr := testenv.Redis(t)
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	ctx := context.Background()
	prefix := fmt.Sprintf("engtest%d", time.Now().UnixNano())
	t.Cleanup(func() {
		keys, _ := c.Keys(ctx, prefix+":*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})

	events := randomEvents(rand.New(rand.NewPCG(11, 12)), 1200)
	master := func(p *Pair) bool { return p.Completions >= 2 }
	_, clean := newMiniredis(t)
	cs := newPartitionSim(t, NewWriter(clean), DefaultRule(), 5)
	cs.master = master
	cs.run(events, 40, nil)
	want := dump(t, clean)

	s := newPartitionSim(t, NewWriter(c, WithKeys(Keys{Prefix: prefix})), DefaultRule(), 5)
	s.master = master
	s.run(events, 40, map[int]crash{2: crashAfterBatch, 3: retryWrite, 5: crashAfterLearner, 9: crashBeforeWrite, 14: crashAfterBatch})
	got := map[string]string{}
	for k, v := range dumpPrefix(t, c, prefix) {
		got["unpair:v1:"+strings.TrimPrefix(k, prefix+":v1:")] = v
	}
	if len(want) < 10 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("real Redis after crashes differs from a clean pass:\n got %v\nwant %v", got, want)
	}
}
