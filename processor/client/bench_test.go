package client

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/mastery"
	"github.com/unpair/unpair/processor/store"
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

// benchCatalogReads stores 200 decisions (items 0-199, every 5th
// suppressed) and 20 skill states for one learner,
// with a catalog of 400 items over the 20 skills (every 3rd item has two;
// every 3rd skill not mastered),
// and measures Filter of 100 candidates of which 75 were never touched
// (items 150-348), with and without the catalog.
func benchCatalogReads(b *testing.B, rdb redis.UniversalClient) {
	prefix := testPrefix(b)
	e := newEnv(b, rdb, prefix)
	now := e.now.UnixMilli()
	var ds []decision.Decision
	for i := range 200 {
		d := sup(fmt.Sprintf("https://example.org/item/%d", i), decision.Mastered, 0)
		d.Suppressed = i%5 == 0
		ds = append(ds, d)
	}
	var skills []store.Field
	for i := range 20 {
		s := mastery.Skill{Model: "bkt", Threshold: 0.95, Eligible: i%3 != 0, Value: 0.97, Attempts: 4, Correct: 4, Streak: 4, Last: (now - 86_400_000) / 1000 * 1000}
		skills = append(skills, store.Field{Name: fmt.Sprintf("skill-%d", i), Value: string(mastery.AppendSkill(nil, &s))})
	}
	key, _ := e.c.Key(alice)
	if _, err := e.st.WriteBatch(context.Background(), []store.LearnerWrite{{Learner: key, Offset: 1, Decisions: ds, Skills: skills}}); err != nil {
		b.Fatal(err)
	}
	items := make([]catalog.Item, 400)
	for i := range items {
		items[i] = catalog.Item{Content: fmt.Sprintf("https://example.org/item/%d", i), Skills: []string{fmt.Sprintf("skill-%d", i%20)}}
		if i%3 == 0 {
			items[i].Skills = append(items[i].Skills, fmt.Sprintf("skill-%d", (i+8)%20))
		}
	}
	snap, err := catalog.New(catalog.Defaults{}, nil, items)
	if err != nil {
		b.Fatal(err)
	}
	withCat, err := New(rdb, Options{Secret: secret, Prefix: prefix, Now: func() time.Time { return e.now }, Catalog: catalog.NewCatalog(snap)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	candidates := make([]string, 100)
	for i := range candidates {
		candidates[i] = fmt.Sprintf("https://example.org/item/%d", 150+2*i)
	}
	for _, tc := range []struct {
		name string
		c    *Client
	}{{"Filter100", e.c}, {"Filter100-catalog", withCat}} {
		b.Run(tc.name, func(b *testing.B) {
			allowed0, suppressed0, err := tc.c.Filter(ctx, Learner(key), candidates)
			if err != nil {
				b.Fatal(err)
			}
			derived := 0
			for _, s := range suppressed0 {
				if s.Derived {
					derived++
				}
			}
			if (tc.c == withCat) != (derived > 0) {
				b.Fatalf("%d derived suppressions", derived)
			}
			e.calls.Store(0)
			lat := make(latency, 0, 1<<16)
			b.ReportAllocs()
			for b.Loop() {
				t0 := time.Now()
				allowed, suppressed, err := tc.c.Filter(ctx, Learner(key), candidates)
				lat = append(lat, time.Since(t0))
				if err != nil || len(allowed) != len(allowed0) || len(suppressed) != len(suppressed0) {
					b.Fatal(len(allowed), len(suppressed), err)
				}
			}
			if n := e.calls.Load(); n != int64(b.N) {
				b.Fatalf("%d round trips for %d calls", n, b.N)
			}
			b.ReportMetric(float64(len(suppressed0)), "suppressed")
			b.ReportMetric(float64(derived), "derived")
			lat.report(b)
		})
	}
}

func BenchmarkReadsRealRedis(b *testing.B) { benchReads(b, realRedis(b)) }

func BenchmarkCatalogReadsRealRedis(b *testing.B) { benchCatalogReads(b, realRedis(b)) }

func BenchmarkCatalogReadsRealCluster(b *testing.B) {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: testenv.RedisCluster(b)})
	defer rdb.Close()
	benchCatalogReads(b, rdb)
}

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
