package client

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/testenv"
)

// latency records one duration per call and reports p50 and p99.
type latency []time.Duration

func (l latency) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	q := func(p float64) float64 { return float64(l[int(p*float64(len(l)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
}

// benchReads stores 200 decisions for one learner (every 5th suppressed)
// and measures Suppressed of one content and Filter of 100 candidates.
func benchReads(b *testing.B, rdb redis.UniversalClient) {
	e := newEnv(b, rdb, testPrefix(b))
	var ds []decision.Decision
	for i := range 200 {
		d := sup(fmt.Sprintf("https://example.org/item/%d", i), decision.Mastered, 0)
		d.Suppressed = i%5 == 0
		ds = append(ds, d)
	}
	e.write(b, alice, ds...)
	key, _ := e.c.Key(alice)
	ctx := context.Background()
	candidates := make([]string, 100)
	for i := range candidates {
		candidates[i] = fmt.Sprintf("https://example.org/item/%d", 2*i)
	}
	b.Run("Suppressed", func(b *testing.B) {
		lat := make(latency, 0, 1<<16)
		b.ReportAllocs()
		for b.Loop() {
			t0 := time.Now()
			ok, _, err := e.c.Suppressed(ctx, Learner(key), "https://example.org/item/10")
			lat = append(lat, time.Since(t0))
			if err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
		lat.report(b)
	})
	b.Run("Suppressed-IFI", func(b *testing.B) {
		lat := make(latency, 0, 1<<16)
		b.ReportAllocs()
		for b.Loop() {
			t0 := time.Now()
			ok, _, err := e.c.Suppressed(ctx, alice, "https://example.org/item/10")
			lat = append(lat, time.Since(t0))
			if err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
		lat.report(b)
	})
	b.Run("Filter100", func(b *testing.B) {
		lat := make(latency, 0, 1<<16)
		b.ReportAllocs()
		for b.Loop() {
			t0 := time.Now()
			allowed, suppressed, err := e.c.Filter(ctx, Learner(key), candidates)
			lat = append(lat, time.Since(t0))
			if err != nil || len(allowed) != 80 || len(suppressed) != 20 {
				b.Fatal(len(allowed), len(suppressed), err)
			}
		}
		lat.report(b)
	})
}

func BenchmarkReadsRealRedis(b *testing.B) { benchReads(b, realRedis(b)) }

func BenchmarkReadsRealCluster(b *testing.B) {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: testenv.RedisCluster(b)})
	defer rdb.Close()
	benchReads(b, rdb)
}

func BenchmarkKey(b *testing.B) {
	c, err := New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), Options{Secret: secret})
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range []Learner{"0123456789abcdef0123456789abcdef", alice, `{"objectType":"Agent","account":{"homePage":"https://lms.example.org","name":"u-42"}}`} {
		b.Run(string(l)[:8], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Key(l); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
