package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/decision"
)

// benchWriteBatch writes batches of n learners, each with a 256-byte state,
// two changed decisions and two engagement fields, at increasing offsets.
func benchWriteBatch(b *testing.B, rdb redis.UniversalClient, n int) {
	s := newTestStore(b, rdb, 400*24*time.Hour)
	ctx := context.Background()
	batch := make([]LearnerWrite, n)
	state := make([]byte, 256)
	for i := range batch {
		batch[i] = LearnerWrite{Learner: fmt.Sprintf("%032x", i), Partition: int32(i % 12), State: state,
			Decisions:  []decision.Decision{mastered(fmt.Sprintf("https://example.org/item/%d", i%50), 0), {Content: "https://example.org/item/x", Reason: decision.ReviewDue}},
			Engagement: []Field{{"last_seen", "1700000000000"}, {"last_verb", "answered"}}}
	}
	b.ReportAllocs()
	b.ResetTimer()
	off := int64(0)
	for b.Loop() {
		off++
		for i := range batch {
			batch[i].Offset = off
		}
		res, err := s.WriteBatch(ctx, batch)
		if err != nil || res.Applied != n {
			b.Fatalf("%+v %v", res, err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "learners/s")
}

func BenchmarkWriteBatchRealRedis(b *testing.B) {
	rdb := realRedis(b)
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("learners=%d", n), func(b *testing.B) { benchWriteBatch(b, rdb, n) })
	}
}

func BenchmarkWriteBatchRealCluster(b *testing.B) {
	rdb := realCluster(b)
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("learners=%d", n), func(b *testing.B) { benchWriteBatch(b, rdb, n) })
	}
}
