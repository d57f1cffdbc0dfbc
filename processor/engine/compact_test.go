package engine

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/schema"
)

// compactRun is one side of the exactness test: an engine, its catalog and
// its held learners.
type compactRun struct {
	e   *Engine
	cat *catalog.Catalog
	ls  map[string]*Learner
}

// churnCatalog is catalog version v: contents c/0..c/39 with skills that
// move from version to version, so that items change sets and old sets
// (and their skills) fall out of use.
func churnCatalog(t testing.TB, v int) *catalog.Snapshot {
	t.Helper()
	var items []catalog.Item
	for i := range 40 {
		it := catalog.Item{Content: fmt.Sprintf("c/%d", i), Difficulty: float64((i+v)%5) - 2}
		if (i+v)%4 != 0 {
			it.Skills = []string{fmt.Sprintf("k/%d", (i+v)%9)}
			if b := fmt.Sprintf("k/%d", 9+(i*v+1)%5); i%3 != 0 {
				it.Skills = append(it.Skills, b)
			}
		}
		items = append(items, it)
	}
	skills := []catalog.Skill{{ID: "k/1", BKT: &worked}, {ID: "k/2", BKT: &worked}, {ID: fmt.Sprintf("k/%d", 9+v%5)}}
	s, err := catalog.New(catalog.Defaults{}, skills, items)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// canonicalChanges renders a Changes for comparison. The order of a
// learner's pairs follows engine-local ids, which compaction renumbers (a
// content dropped and seen again gets a new, larger id) as a reload does:
// decisions and engagement are sorted by content, skills by name, and
// events and engagement changes stably by time or source, then content
// (the fan-out re-decides the siblings of an answer in content id order).
// Everything else, and the order of each pair's own events and changes,
// must be equal.
func canonicalChanges(ch *Changes) string {
	skills := slices.Clone(ch.Skills)
	slices.SortStableFunc(skills, func(a, b SkillState) int { return cmp.Compare(a.Name, b.Name) })
	decs, evs := slices.Clone(ch.Decisions), slices.Clone(ch.Events)
	eng, engCh := slices.Clone(ch.Engagement), slices.Clone(ch.EngagementChanges)
	slices.SortStableFunc(decs, func(a, b decision.Decision) int { return cmp.Compare(a.Content, b.Content) })
	slices.SortStableFunc(evs, func(a, b decision.Event) int {
		return cmp.Or(cmp.Compare(a.At, b.At), cmp.Compare(a.Decision.Content, b.Decision.Content))
	})
	slices.SortStableFunc(eng, func(a, b PairEngagement) int { return cmp.Compare(a.Content, b.Content) })
	slices.SortStableFunc(engCh, func(a, b EngagementChange) int {
		return cmp.Or(cmp.Compare(a.Source.Partition, b.Source.Partition), cmp.Compare(a.Source.Offset, b.Source.Offset),
			cmp.Compare(a.Source.Index, b.Source.Index), cmp.Compare(a.Content, b.Content))
	})
	return fmt.Sprintf("decisions %+v\nevents %+v\nengagement %+v\nchanges %+v\nskills %+v", decs, evs, eng, engCh, skills)
}

// TestCompactionIsExact applies one random stream (answers, engagement
// statements, voids, overrides, review sweeps, flushes with and without
// their Clean, catalog changes, evictions and reloads of learners) to two
// engines, one of which compacts its intern tables at random points, and
// requires every output to be equal: each Changes call's decisions,
// events (ids, explanations), engagement, engagement changes and skills,
// and at the end every learner's MarshalBinary, Decisions and Changes.
func TestCompactionIsExact(t *testing.T) {
	for mi, model := range []Model{ModelElo, ModelBKT, ModelStreak, ModelEWMA} {
		t.Run(string(model), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(mi)+1, 77))
			mk := func() *compactRun {
				cat := catalog.NewCatalog(churnCatalog(t, 0))
				cfg := DefaultConfig()
				cfg.Model, cfg.Window = model, 4+mi
				e, err := New(cfg, cat)
				if err != nil {
					t.Fatal(err)
				}
				return &compactRun{e: e, cat: cat, ls: map[string]*Learner{}}
			}
			ref, cmpd := mk(), mk()
			runs := []*compactRun{ref, cmpd}
			stored := map[string][]byte{}
			recent := map[string][]schema.UUID{}
			offsets := map[string]int64{}
			now := day0
			compactions, dropped := 0, 0
			compare := func(step int, key string) {
				t.Helper()
				var outs [2]string
				var states [2][]byte
				var marks [2]Mark
				for k, run := range runs {
					l := run.ls[key]
					var ch Changes
					l.Changes(&ch)
					marks[k] = ch.Mark
					outs[k] = canonicalChanges(&ch)
					states[k], _ = l.MarshalBinary()
				}
				if outs[0] != outs[1] {
					t.Fatalf("step %d, learner %s: changes after compaction differ: %s", step, key, firstDiff(outs[1], outs[0]))
				}
				if !bytes.Equal(states[0], states[1]) {
					t.Fatalf("step %d, learner %s: state differs after compaction", step, key)
				}
				if r.IntN(4) != 0 { // sometimes the flush fails: no Clean
					for k, run := range runs {
						run.ls[key].Clean(marks[k])
					}
				}
			}
			evict := func(key string) {
				stored[key], _ = ref.ls[key].MarshalBinary()
				for _, run := range runs {
					delete(run.ls, key)
				}
			}
			for step := range 4000 {
				// Learners retire as the stream moves on (evicted, never
				// seen again), so that the ids only they held can go.
				era := step / 400
				for _, key := range slices.Sorted(maps.Keys(ref.ls)) {
					if n, _ := strconv.Atoi(key[1:]); n < era {
						compare(step, key)
						evict(key)
					}
				}
				key := fmt.Sprintf("L%d", era+r.IntN(5))
				if ref.ls[key] == nil {
					for _, run := range runs {
						if data, ok := stored[key]; ok {
							l, err := run.e.LoadLearner(key, data)
							if err != nil {
								t.Fatal(err)
							}
							run.ls[key] = l
						} else {
							run.ls[key] = run.e.NewLearner(key)
						}
					}
				}
				now += int64(r.IntN(3_600_000))
				switch op := r.IntN(100); {
				case op < 70: // a statement, on catalog content or on churning content with its own skills
					var ev schema.Evidence
					if r.IntN(2) == 0 {
						ev = answer(fmt.Sprintf("c/%d", r.IntN(40)), r.IntN(3) > 0, now)
					} else {
						ev = answer(fmt.Sprintf("x/%d", step/50+r.IntN(8)), r.IntN(3) > 0, now)
						ev.Skills = []string{fmt.Sprintf("t/%d", step/80+r.IntN(3)), fmt.Sprintf("t/%d", r.IntN(4))}
					}
					ev.Learner = key
					switch r.IntN(8) {
					case 0:
						ev.Kind, ev.HasSuccess, ev.HasProgress, ev.Progress = schema.KindProgress, false, true, r.Float64()
					case 1:
						ev.Kind, ev.HasSuccess, ev.HasScore, ev.Scaled = schema.KindRating, false, true, float64(r.IntN(5))/4
					case 2:
						ev.Kind, ev.HasCompletion, ev.Completion = schema.KindCompletion, true, true
					case 3:
						ev.Kind, ev.HasSuccess, ev.Verb = schema.KindLaunch, false, "http://adlnet.gov/expapi/verbs/launched"
					}
					recent[key] = append(recent[key], ev.ID)
					offsets[key]++
					for _, run := range runs {
						run.e.Apply(run.ls[key], &ev, Source{Partition: int32(len(key)), Offset: offsets[key]})
					}
				case op < 76: // a void of a recent statement (or of one not yet seen)
					ids := recent[key]
					if len(ids) == 0 {
						continue
					}
					void := schema.Evidence{ID: newID(), Learner: key, Kind: schema.KindVoid, Voids: ids[len(ids)-1-r.IntN(min(len(ids), 10))], Time: now * 1e6}
					if r.IntN(5) == 0 {
						void.Voids = newID()
					}
					offsets[key]++
					for _, run := range runs {
						run.e.Apply(run.ls[key], &void, Source{Partition: int32(len(key)), Offset: offsets[key]})
					}
				case op < 79:
					c := fmt.Sprintf("c/%d", r.IntN(40))
					suppress := r.IntN(2) == 0
					for _, run := range runs {
						run.e.Override(run.ls[key], c, suppress, now+86_400_000, now, NoSource)
					}
				case op < 82:
					at := now + int64(r.IntN(30))*86_400_000
					for _, run := range runs {
						run.e.Due(run.ls[key], at)
					}
				case op < 90:
					compare(step, key)
				case op < 92:
					v := 1 + r.IntN(6)
					for _, run := range runs {
						run.cat.Store(churnCatalog(t, v))
					}
				case op < 95: // evict: the learner's state goes to the store
					compare(step, key)
					evict(key)
				default:
					if err := cmpd.e.Compact(maps.Values(cmpd.ls)); err != nil {
						t.Fatal(err)
					}
					compactions++
					st := cmpd.e.LastCompaction()
					dropped += st.DroppedContents + st.DroppedSkills + st.DroppedSets
				}
			}
			for _, key := range slices.Sorted(maps.Keys(ref.ls)) {
				compare(-1, key)
				a, b := ref.ls[key].Decisions(nil), cmpd.ls[key].Decisions(nil)
				for _, d := range [][]decision.Decision{a, b} {
					slices.SortFunc(d, func(x, y decision.Decision) int { return cmp.Compare(x.Content, y.Content) })
				}
				if fmt.Sprintf("%+v", a) != fmt.Sprintf("%+v", b) {
					t.Fatalf("learner %s: decisions after compaction\n%+v\nwant\n%+v", key, b, a)
				}
			}
			rc, _, _ := ref.e.Interned()
			cc, _, _ := cmpd.e.Interned()
			t.Logf("%d compactions dropped %d entries; contents interned: %d never compacted, %d compacted", compactions, dropped, rc, cc)
			if compactions == 0 || dropped == 0 || cc >= rc {
				t.Fatalf("the stream exercised nothing: %d compactions, %d entries dropped, contents %d vs %d", compactions, dropped, cc, rc)
			}
		})
	}
}

func TestCompactRefusesForeignAndRepeatedLearners(t *testing.T) {
	e, other := newEngine(t, nil), newEngine(t, nil)
	l := e.NewLearner("L")
	ev := answer("q/frac1", true, day0)
	e.Apply(l, &ev, NoSource)
	before, _ := l.MarshalBinary()
	for name, ls := range map[string][]*Learner{
		"foreign": {l, other.NewLearner("M")},
		"twice":   {l, l},
		"nil":     {nil},
	} {
		if err := e.Compact(slices.Values(ls)); err == nil {
			t.Errorf("%s: no error", name)
		}
		if after, _ := l.MarshalBinary(); !bytes.Equal(before, after) {
			t.Fatalf("%s: the learner changed on a refused compaction", name)
		}
		if c, _, _ := e.Interned(); c != 1 {
			t.Fatalf("%s: tables changed on a refused compaction", name)
		}
	}
}

func TestCompactDue(t *testing.T) {
	e := newEngine(t, nil)
	l := e.NewLearner("L")
	f := func(n int, floor int, want bool) {
		t.Helper()
		for i := range n {
			ev := answer(fmt.Sprintf("n/%d", i), true, day0)
			e.Apply(l, &ev, NoSource)
		}
		if got := e.CompactDue(floor); got != want {
			c, s, sets := e.Interned()
			t.Fatalf("CompactDue(%d) = %v with %d contents, %d skills, %d sets; want %v", floor, got, c, s, sets, want)
		}
	}
	f(10, 20, false)
	f(20, 20, true) // 30 > max(2 x 0, 20)
	if err := e.Compact(slices.Values([]*Learner{})); err != nil {
		t.Fatal(err)
	}
	if c, _, _ := e.Interned(); c != 0 {
		t.Fatalf("%d contents left with no learner held", c)
	}
	l = e.NewLearner("L")
	f(25, 20, true) // 26 entries (index 0 included) > max(2 x 1, 20)
	if err := e.Compact(slices.Values([]*Learner{l})); err != nil {
		t.Fatal(err)
	}
	f(0, 20, false) // 26 <= max(2 x 26, 20)
}

// firstDiff shows where two renderings part, with some context.
func firstDiff(got, want string) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	from := max(0, i-300)
	return fmt.Sprintf("\n got ...%s\nwant ...%s", got[from:min(len(got), i+200)], want[from:min(len(want), i+200)])
}
