package shard

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/unpair/unpair/processor/engine"
	"github.com/unpair/unpair/schema"
)

// BenchmarkAggregator measures Submit throughput through all shards
// (GOMAXPROCS by default) in batches of 512; 10,000 learners answering
// among 20 items each. flush=32k adds a Flush+Release every 64 batches, as
// the pipeline would do, which serializes every changed learner.
func BenchmarkAggregator(b *testing.B) {
	b.Run("flush=never", func(b *testing.B) { benchAggregator(b, 0) })
	b.Run("flush=32k", func(b *testing.B) { benchAggregator(b, 64) })
}

func benchAggregator(b *testing.B, flushEvery int64) {
	a, err := New(engine.DefaultConfig(), testCatalog(b), Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	r := rand.New(rand.NewPCG(1, 1))
	const nLearners = 10_000
	in := make([]Input, 1<<16)
	for i := range in {
		li := r.IntN(nLearners)
		in[i] = Input{Evidence: schema.Evidence{Learner: fmt.Sprintf("%032x", li), Kind: schema.KindAttempt,
			HasSuccess: true, Success: r.IntN(4) > 0, Content: fmt.Sprintf("q/%d", (li+r.IntN(20))%50)}}
	}
	ctx := context.Background()
	var seq int64
	const batch = 512
	run := func(n int) {
		for done := 0; done < n; done += batch {
			k := int(seq) & (len(in) - 1)
			part := in[k : k+batch]
			for i := range part {
				seq++
				ev := &part[i].Evidence
				ev.ID[0], ev.ID[1], ev.ID[2], ev.ID[3], ev.ID[4] = byte(seq), byte(seq>>8), byte(seq>>16), byte(seq>>24), byte(seq>>32)
				ev.Time = seq * 1e9
				part[i].Source = engine.Source{Partition: 0, Offset: seq}
			}
			if err := a.Submit(ctx, part); err != nil {
				b.Fatal(err)
			}
			if flushEvery > 0 && (seq/batch)%flushEvery == 0 {
				fb, err := a.Flush(ctx)
				if err != nil {
					b.Fatal(err)
				}
				a.Release(fb)
			}
		}
	}
	run(4 * len(in))
	b.ReportAllocs()
	b.ResetTimer()
	run(b.N)
	fb, _ := a.Flush(ctx)
	a.Release(fb)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
}
