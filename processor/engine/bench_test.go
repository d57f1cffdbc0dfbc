package engine

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/mastery"
	"github.com/unpair/unpair/schema"
)

// benchCatalog: 2000 items over 100 skills with fitted BKT parameters.
func benchCatalog(b testing.TB) *catalog.Catalog {
	p := mastery.BKT{L0: 0.3, T: 0.1, G: 0.2, S: 0.1, F: 0.01}
	var skills []catalog.Skill
	for i := range 100 {
		skills = append(skills, catalog.Skill{ID: fmt.Sprintf("skill-%d", i), BKT: &p})
	}
	var items []catalog.Item
	for i := range 2000 {
		items = append(items, catalog.Item{Content: fmt.Sprintf("https://example.org/items/%d", i),
			Skills: []string{fmt.Sprintf("skill-%d", i%100)}, Difficulty: float64(i%5) - 2})
	}
	s, err := catalog.New(catalog.Defaults{}, skills, items)
	if err != nil {
		b.Fatal(err)
	}
	return catalog.NewCatalog(s)
}

// BenchmarkApply measures Engine.Apply on pre-normalized evidence: learners
// each answering among 20 items, with unique statement ids and increasing
// offsets (no duplicate shortcut). With 100 learners the state stays in CPU
// cache; with 10,000 (about 30 MB of state) most updates miss it.
func BenchmarkApply(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("learners=%d", n), func(b *testing.B) { benchApply(b, n) })
	}
}

func benchApply(b *testing.B, nLearners int) {
	e, err := New(DefaultConfig(), benchCatalog(b))
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	const perLearner = 20
	ls := make([]*Learner, nLearners)
	for i := range ls {
		ls[i] = e.NewLearner(fmt.Sprintf("%032x", i))
	}
	evs := make([]schema.Evidence, 1<<16)
	who := make([]int32, len(evs))
	for i := range evs {
		li := r.IntN(nLearners)
		who[i] = int32(li)
		evs[i] = schema.Evidence{Learner: ls[li].Key(), Kind: schema.KindAttempt, HasSuccess: true, Success: r.IntN(4) > 0,
			Content: fmt.Sprintf("https://example.org/items/%d", (li*7+r.IntN(perLearner))%2000)}
	}
	// Each statement gets its unique id and time ahead of its turn: writing
	// them just before Apply would measure the store-forwarding stall of
	// Apply's first wide load of the id, which a decoded statement does not
	// have.
	const ahead = 64
	stamp := func(i int, seq uint64) {
		ev := &evs[i&(len(evs)-1)]
		ev.ID[0], ev.ID[1], ev.ID[2], ev.ID[3], ev.ID[4] = byte(seq), byte(seq>>8), byte(seq>>16), byte(seq>>24), byte(seq>>32)
		ev.Time = int64(seq) * 1e9
	}
	var seq uint64
	for i := range ahead {
		stamp(i, uint64(i+1))
	}
	apply := func(i int) {
		seq++
		stamp(i+ahead, seq+ahead)
		ev := &evs[i&(len(evs)-1)]
		l := ls[who[i&(len(evs)-1)]]
		e.Apply(l, ev, Source{Partition: 0, Offset: int64(seq)})
		if l.PendingEvents() > 64 || l.PendingEngagement() > 64 { // what a flush would do
			l.Clean(Mark{version: l.version, events: l.evBase + uint64(len(l.events)), eng: l.engBase + uint64(len(l.engCh))})
		}
	}
	for i := range 4 * len(evs) { // warm up: every learner's cells and window exist
		apply(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		apply(i)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
}

// BenchmarkMemoryPerPair builds 1,000,000 live learner-content pairs (each
// with three answers) and reports heap bytes per pair from runtime.MemStats.
// pairs_per_learner=N is the learners as they are right after their
// activity, with the slack of growth (the worst case: learners in the
// middle of activity); idle_trimmed/pairs_per_learner=N is the steady
// state of idle learners, after Learner.Trim, the call the shard makes for
// learners left clean and unchanged for Config.TrimAfter releases.
func BenchmarkMemoryPerPair(b *testing.B) {
	for _, trim := range []bool{false, true} {
		for _, perLearner := range []int{1, 4, 20, 100} {
			name := fmt.Sprintf("pairs_per_learner=%d", perLearner)
			if trim {
				name = "idle_trimmed/" + name
			}
			b.Run(name, func(b *testing.B) {
				for range b.N {
					memoryPerPair(b, perLearner, trim)
				}
			})
		}
	}
}

func memoryPerPair(b *testing.B, perLearner int, trim bool) {
	const pairs = 1_000_000
	e, err := New(DefaultConfig(), benchCatalog(b))
	if err != nil {
		b.Fatal(err)
	}
	names := make([]string, 2000)
	for i := range names {
		names[i] = fmt.Sprintf("https://example.org/items/%d", i)
	}
	keys := make([]string, pairs/perLearner)
	for i := range keys {
		keys[i] = fmt.Sprintf("%032x", i)
	}
	for _, n := range names { // intern tables are shared by every learner of a shard
		e.contentID(n)
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	ls := make([]*Learner, len(keys))
	var seq uint64
	for i := range ls {
		l := e.NewLearner(keys[i])
		for k := range 3 {
			for p := range perLearner {
				seq++
				ev := schema.Evidence{Kind: schema.KindAttempt, HasSuccess: true, Success: k > 0, Time: int64(seq) * 1e9,
					Content: names[(i+p*7)%2000]}
				ev.ID[0], ev.ID[1], ev.ID[2], ev.ID[3] = byte(seq), byte(seq>>8), byte(seq>>16), byte(seq>>24)
				e.Apply(l, &ev, Source{Partition: 0, Offset: int64(seq)})
			}
		}
		l.events, l.evBase = nil, 0 // a flush would have taken them
		l.engCh, l.engBase = nil, 0
		if trim {
			l.Trim() // what the shard does once the learner is idle
		}
		ls[i] = l
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	if got := len(ls) * ls[0].Pairs(); got != pairs {
		b.Fatalf("%d pairs, want %d", got, pairs)
	}
	b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/pairs, "bytes/pair")
	runtime.KeepAlive(ls)
}

// BenchmarkFlush measures the flush path per changed learner: each op
// applies k answers to one learner (20 items over 4 skills, so every
// answer re-decides 4 siblings) and then, in the flush case, hands out its
// changes (Learner.Changes), marshals it (AppendBinary into a reused
// buffer), reads its offsets (AppendOffsets) and cleans it. The apply_only
// case is the same stream without the flush: the difference is the flush.
func BenchmarkFlush(b *testing.B) {
	for _, k := range []int{1, 4} {
		for _, flush := range []bool{false, true} {
			name := fmt.Sprintf("answers=%d/apply_only", k)
			if flush {
				name = fmt.Sprintf("answers=%d/flush", k)
			}
			b.Run(name, func(b *testing.B) { benchFlush(b, k, flush) })
		}
	}
}

func benchFlush(b *testing.B, k int, flush bool) {
	e, err := New(DefaultConfig(), benchCatalog(b))
	if err != nil {
		b.Fatal(err)
	}
	const nLearners = 1000
	r := rand.New(rand.NewPCG(2, 2))
	ls := make([]*Learner, nLearners)
	items := make([][]string, nLearners)
	for i := range ls {
		ls[i] = e.NewLearner(fmt.Sprintf("%032x", i))
		base := (i * 7) % 100
		for j := range 20 { // items base+j%4 + 100*(j/4): 4 skills, 5 items each
			items[i] = append(items[i], fmt.Sprintf("https://example.org/items/%d", (base+j%4+100*(j/4))%2000))
		}
	}
	var seq uint64
	var ch Changes
	var state []byte
	var offs []Source
	decisions, skills := 0, 0
	op := func(li int) {
		l := ls[li]
		for range k {
			seq++
			ev := schema.Evidence{Kind: schema.KindAttempt, HasSuccess: true, Success: r.IntN(4) > 0,
				Time: int64(seq) * 1e9, Content: items[li][r.IntN(20)]}
			ev.ID[0], ev.ID[1], ev.ID[2], ev.ID[3], ev.ID[4] = byte(seq), byte(seq>>8), byte(seq>>16), byte(seq>>24), byte(seq>>32)
			e.Apply(l, &ev, Source{Partition: 0, Offset: int64(seq)})
		}
		if !flush {
			l.Clean(Mark{version: l.version, events: l.evBase + uint64(len(l.events)), eng: l.engBase + uint64(len(l.engCh))})
			return
		}
		clear(ch.Decisions)
		clear(ch.Events)
		clear(ch.Engagement)
		clear(ch.EngagementChanges)
		clear(ch.Skills)
		ch = Changes{Decisions: ch.Decisions[:0], Events: ch.Events[:0], Engagement: ch.Engagement[:0],
			EngagementChanges: ch.EngagementChanges[:0], Skills: ch.Skills[:0]}
		l.Changes(&ch)
		decisions += len(ch.Decisions)
		skills += len(ch.Skills)
		state, _ = l.AppendBinary(state[:0])
		offs = l.AppendOffsets(offs[:0])
		l.Clean(ch.Mark)
	}
	for i := range 20 * nLearners { // warm up: every learner's cells and window exist
		op(i % nLearners)
	}
	decisions, skills = 0, 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		op(int(uint32(i*2654435761) % nLearners))
	}
	if flush {
		b.ReportMetric(float64(decisions)/float64(b.N), "decisions/op")
		b.ReportMetric(float64(skills)/float64(b.N), "skills/op")
	}
}
