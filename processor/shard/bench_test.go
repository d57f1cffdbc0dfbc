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
// the pipeline would do, which serializes every changed learner. flush=never
// never releases: the learners' pending decision events pile up (by design
// they are kept until Release), so it measures a pathological case.
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
	trims := a.Stats().Trims
	run(b.N)
	fb, _ := a.Flush(ctx)
	a.Release(fb)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
	b.ReportMetric(float64(a.Stats().Trims-trims)/float64(b.N), "trims/op") // idle learners trimmed (Config.TrimAfter)
}

// zipfLoad is the realistic workload: 100,000 learners whose activity is
// Zipf-distributed (s=1.1, v=20: the busiest learner makes ≈0.8% of the
// events, half of the events come from ≈8% of the learners), each answering
// among 20 of the catalog's 50 items, 75% correct, on 8 partitions (learner
// i on partition i%8, as on the re-keyed topic).
type zipfLoad struct {
	keys     []string
	contents []string
	ev       []uint32 // learner<<8 | content<<1 | correct
	seq      int64
	offs     [8]int64
	stale    bool // every offset 0: the engine drops the evidence at once
}

const zipfLearners = 100_000

func newZipfLoad() *zipfLoad {
	r := rand.New(rand.NewPCG(7, 7))
	z := rand.NewZipf(r, 1.1, 20, zipfLearners-1)
	w := &zipfLoad{keys: make([]string, zipfLearners), ev: make([]uint32, 1<<20)}
	perm := r.Perm(zipfLearners) // rank -> learner, so busy learners are not all small numbers
	for i := range w.keys {
		w.keys[i] = fmt.Sprintf("%032x", uint64(i)*0x9e3779b97f4a7c15)
	}
	for i := range 50 {
		w.contents = append(w.contents, fmt.Sprintf("q/%d", i))
	}
	for i := range w.ev {
		li := perm[z.Uint64()]
		c := (li + r.IntN(20)) % 50
		ok := 0
		if r.IntN(4) > 0 {
			ok = 1
		}
		w.ev[i] = uint32(li)<<8 | uint32(c)<<1 | uint32(ok)
	}
	return w
}

// fill writes the next len(dst) events into dst, as a decoder would.
func (w *zipfLoad) fill(dst []Input) {
	for i := range dst {
		x := w.ev[w.seq&int64(len(w.ev)-1)]
		w.seq++
		li := int(x >> 8)
		p := li % len(w.offs)
		w.offs[p]++
		s := w.seq
		dst[i] = Input{Evidence: schema.Evidence{
			ID:      schema.UUID{byte(s), byte(s >> 8), byte(s >> 16), byte(s >> 24), byte(s >> 32), 0x40},
			Learner: w.keys[li], Content: w.contents[x>>1&0x7f], Kind: schema.KindAttempt,
			Time: (t0 + s) * 1e6, HasSuccess: true, Success: x&1 == 1,
		}, Source: engine.Source{Partition: int32(p), Offset: w.offs[p]}}
		if w.stale {
			dst[i].Source.Offset = 0
		}
	}
}

// BenchmarkZipf runs the realistic workload in batches of 512 with a
// Flush+Release every 10,240 events (20 batches), the pipeline's rhythm.
//
//   - engine: one engine and a map, no aggregator: the work any design must
//     do (Apply; at each flush Changes, AppendBinary, Offsets, Clean of
//     every changed learner). The aggregator's overhead is the difference.
//   - shards=N: the Aggregator with N shards (run with GOMAXPROCS=2).
//   - stale/shards=2: after the warm-up every offset is 0, so Engine.Apply
//     returns Stale after its offset guard (a few ns) and nothing is
//     written: what remains is the aggregator's own cost per evidence
//     (split, copy, channel, learner lookup, counters, flush barriers).
func BenchmarkZipf(b *testing.B) {
	b.Run("engine", benchZipfEngine)
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("shards=%d", n), func(b *testing.B) { benchZipfAggregator(b, n, false, 0) })
	}
	// The idle trim's worst case: learners trimmed two releases after
	// their last change (the default waits 240), so that most learners
	// written are trimmed and regrow at their next change.
	b.Run("shards=2/trim_after=2", func(b *testing.B) { benchZipfAggregator(b, 2, false, 2) })
	b.Run("shards=2/trim=off", func(b *testing.B) { benchZipfAggregator(b, 2, false, -1) })
	b.Run("stale/shards=2", func(b *testing.B) { benchZipfAggregator(b, 2, true, 0) })
}

const (
	zipfBatch      = 512
	zipfFlushEvery = 20 // batches
)

func benchZipfAggregator(b *testing.B, shards int, stale bool, trimAfter int) {
	a, err := New(engine.DefaultConfig(), testCatalog(b), Config{Shards: shards, TrimAfter: trimAfter})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	w := newZipfLoad()
	ctx := context.Background()
	buf := make([]Input, zipfBatch)
	var batches, changed int
	run := func(n int) {
		for done := 0; done < n; done += zipfBatch {
			w.fill(buf)
			if err := a.Submit(ctx, buf); err != nil {
				b.Fatal(err)
			}
			if batches++; batches%zipfFlushEvery == 0 {
				fb, err := a.Flush(ctx)
				if err != nil {
					b.Fatal(err)
				}
				changed += len(fb.Learners)
				if err := a.Release(fb); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	run(1 << 18) // warm up: the busy learners exist
	w.stale = stale
	b.ReportAllocs()
	b.ResetTimer()
	changed = 0
	trims := a.Stats().Trims
	run(b.N)
	fb, err := a.Flush(ctx)
	if err != nil {
		b.Fatal(err)
	}
	a.Release(fb)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
	b.ReportMetric(float64(changed)/float64(b.N), "learners-written/op")
	st := a.Stats()
	b.ReportMetric(float64(st.Trims-trims)/float64(b.N), "trims/op")           // idle learners trimmed (Config.TrimAfter)
	b.ReportMetric(float64(st.Bytes)/float64(max(st.Pairs, 1)), "held-B/pair") // Learner.Size per pair held
}

func benchZipfEngine(b *testing.B) {
	e, err := engine.New(engine.DefaultConfig(), testCatalog(b))
	if err != nil {
		b.Fatal(err)
	}
	w := newZipfLoad()
	ls := map[string]*engine.Learner{}
	var dirty []*engine.Learner
	var ch engine.Changes
	var scratch []byte
	buf := make([]Input, zipfBatch)
	var batches, changed int
	run := func(n int) {
		for done := 0; done < n; done += zipfBatch {
			w.fill(buf)
			for i := range buf {
				in := &buf[i]
				l := ls[in.Evidence.Learner]
				if l == nil {
					l = e.NewLearner(in.Evidence.Learner)
					ls[in.Evidence.Learner] = l
				}
				wasDirty := l.Dirty()
				e.Apply(l, &in.Evidence, in.Source)
				if !wasDirty && l.Dirty() {
					dirty = append(dirty, l)
				}
			}
			if batches++; batches%zipfFlushEvery == 0 {
				changed += len(dirty)
				for _, l := range dirty {
					ch = engine.Changes{Decisions: ch.Decisions[:0], Events: ch.Events[:0]}
					l.Changes(&ch)
					scratch, _ = l.AppendBinary(scratch[:0])
					_ = l.Offsets()
					l.Clean(ch.Mark)
				}
				clear(dirty)
				dirty = dirty[:0]
			}
		}
	}
	run(1 << 18)
	b.ReportAllocs()
	b.ResetTimer()
	changed = 0
	run(b.N)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
	b.ReportMetric(float64(changed)/float64(b.N), "learners-written/op")
}

// BenchmarkCompaction measures one intern table compaction of a shard
// holding learners × pairs pairs (each learner on its own 100 contents of
// a 1,000-content range, 4 skills per content from statement-carried
// skill names), with every table entry live: the cost the shard pays
// between batches, reported per held pair.
func BenchmarkCompaction(b *testing.B) {
	for _, learners := range []int{100, 1000, 10_000} {
		b.Run(fmt.Sprintf("learners=%d/pairs=100", learners), func(b *testing.B) {
			a, err := New(engine.DefaultConfig(), testCatalog(b), Config{Shards: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			ctx := context.Background()
			var seq int64
			in := make([]Input, 0, 100)
			for li := range learners {
				in = in[:0]
				for k := range 100 {
					seq++
					c := (li*37 + k) % 1000
					ev := schema.Evidence{Learner: fmt.Sprintf("%032x", li), Kind: schema.KindAttempt, HasSuccess: true, Success: k%4 > 0,
						Content: fmt.Sprintf("n/%d", c), Time: seq * 1e9,
						Skills: []string{fmt.Sprintf("s/%d", c%97), fmt.Sprintf("s/%d", c%89), fmt.Sprintf("s/%d", c%83), fmt.Sprintf("s/%d", c%79)}}
					ev.ID[0], ev.ID[1], ev.ID[2], ev.ID[3] = byte(seq), byte(seq>>8), byte(seq>>16), byte(seq>>24)
					in = append(in, Input{Evidence: ev, Source: engine.Source{Partition: 0, Offset: seq}})
				}
				if err := a.Submit(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
			fb, err := a.Flush(ctx) // barrier: everything applied; the shard goroutine is idle
			if err != nil {
				b.Fatal(err)
			}
			a.Release(fb)
			if _, err := a.Flush(ctx); err != nil { // and the release taken
				b.Fatal(err)
			}
			s := a.shards[0]
			pairs := s.pairs.Load()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if v := s.compact(); v != nil {
					b.Fatal(v)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(pairs), "ns/pair")
			c, k, t := s.eng.Interned()
			b.ReportMetric(float64(c+k+t), "entries")
		})
	}
}
