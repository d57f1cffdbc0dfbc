package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/mastery"
	"github.com/unpair/unpair/schema"
)

// siblingCatalog has several items per skill of varied difficulty, an item
// with two skills, a cold-start skill and content outside the catalog.
func siblingCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	s, err := catalog.New(catalog.Defaults{},
		[]catalog.Skill{{ID: "A", BKT: &worked}, {ID: "B", BKT: &mastery.BKT{L0: 0.3, T: 0.2, G: 0.2, S: 0.1, F: 0.01}}, {ID: "C"}},
		[]catalog.Item{
			{Content: "a/easy", Skills: []string{"A"}, Difficulty: -1.5},
			{Content: "a/mid", Skills: []string{"A"}},
			{Content: "a/hard", Skills: []string{"A"}, Difficulty: 1.5},
			{Content: "b/easy", Skills: []string{"B"}, Difficulty: -1},
			{Content: "b/hard", Skills: []string{"B"}, Difficulty: 1},
			{Content: "ab", Skills: []string{"A", "B"}, Difficulty: 0.5},
			{Content: "c/1", Skills: []string{"C"}, Difficulty: -0.5},
			{Content: "c/2", Skills: []string{"C"}, Difficulty: 0.5},
		})
	if err != nil {
		t.Fatal(err)
	}
	return catalog.NewCatalog(s)
}

var siblingContents = []string{"a/easy", "a/mid", "a/hard", "b/easy", "b/hard", "ab", "c/1", "c/2", "free/x"}

// TestEveryDecisionIsFresh: after every piece of evidence (and the review
// sweep at its time), every pair's published decision equals a decision
// made from scratch from the learner's current state, for every model: an
// answer that moves a skill re-decides every item sharing it, whatever its
// difficulty. Times never go backwards in these streams (with late
// statements "from scratch at the evidence time" is not defined).
func TestEveryDecisionIsFresh(t *testing.T) {
	for _, model := range []Model{ModelBKT, ModelStreak, ModelEWMA, ModelElo} {
		t.Run(string(model), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Model = model
			cfg.Elo = mastery.Elo{K: 0.4, Threshold: 0.7}
			e, err := New(cfg, siblingCatalog(t))
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(11, uint64(len(model))))
			siblingChanges, suppressedChecks := 0, 0
			for trial := range 150 {
				l := e.NewLearner("L")
				at := day0
				var ids []schema.UUID
				for step := range 20 + r.IntN(60) {
					at += int64(r.IntN(4*3600)+1) * 1000
					if r.IntN(15) == 0 {
						at += int64(r.IntN(10)) * 24 * 3600 * 1000 // a break: reviews fall due
					}
					ev := siblingEvidence(r, at, ids)
					if ev.Kind != schema.KindVoid {
						ids = append(ids, ev.ID)
					}
					before := publishedOf(l)
					e.Apply(l, &ev, Source{Partition: 0, Offset: int64(step)})
					for c, p := range publishedOf(l) {
						if q, ok := before[c]; ok && q != p && c != ev.Content {
							siblingChanges++
						}
					}
					e.Due(l, at)
					links := append([]link(nil), l.links...)
					l.relink()
					if fmt.Sprint(links) != fmt.Sprint(l.links) {
						t.Fatalf("trial %d step %d: skill index %v, rebuilt %v", trial, step, links, l.links)
					}
					snap := e.cat.Snapshot()
					for i := range l.items {
						it := &l.items[i]
						v := e.judge(l, it, at, snap)
						p := it.pub()
						vUntil := int64(0)
						if v.until != 0 {
							vUntil = ms(v.until)
						}
						shown := !p.suppressed || p.until != 0 && p.until <= at
						name := e.contents[it.content].name
						if shown == v.suppressed || v.suppressed && (p.reason != v.reason || p.until != vUntil) {
							t.Fatalf("trial %d step %d (%+v): %s published suppressed=%v reason %s until %d; from scratch suppressed=%v reason %s until %d",
								trial, step, ev, name, p.suppressed, reasons[p.reason], p.until, v.suppressed, reasons[v.reason], vUntil)
						}
						if v.suppressed {
							suppressedChecks++
						}
					}
				}
			}
			if siblingChanges < 50 || suppressedChecks < 500 {
				t.Fatalf("only %d sibling decision changes and %d suppressed checks: the streams do not exercise fan-out", siblingChanges, suppressedChecks)
			}
			t.Logf("%s: %d sibling decision changes, %d suppressed pairs checked", model, siblingChanges, suppressedChecks)
		})
	}
}

func publishedOf(l *Learner) map[string]published {
	m := make(map[string]published, len(l.items))
	for i := range l.items {
		m[l.eng.contents[l.items[i].content].name] = l.items[i].pub()
	}
	return m
}

// siblingEvidence makes one random statement at time at (unix ms): mostly
// answers, biased to correct, some scores, completions, ratings, dislikes
// and voids of recent statements.
func siblingEvidence(r *rand.Rand, at int64, ids []schema.UUID) schema.Evidence {
	ev := schema.Evidence{ID: newID(), Learner: "L", Content: siblingContents[r.IntN(len(siblingContents))], Time: at * 1e6}
	if ev.Content == "free/x" {
		ev.Skills = []string{"A"} // outside the catalog: skills from the statement
	}
	switch k := r.IntN(40); {
	case k < 28:
		ev.Kind, ev.HasSuccess, ev.Success = schema.KindAttempt, true, r.IntN(5) > 0
	case k < 32:
		ev.Kind, ev.HasScore, ev.Scaled = schema.KindAttempt, true, r.Float64()
	case k < 34:
		ev.Kind, ev.HasCompletion, ev.Completion, ev.HasSuccess, ev.Success = schema.KindCompletion, true, true, true, r.IntN(2) == 0
	case k < 36:
		ev.Kind, ev.HasScore, ev.Scaled = schema.KindRating, true, float64(r.IntN(5))/4
	case k < 37:
		ev.Kind = schema.KindDislike
	default:
		if len(ids) == 0 {
			ev.Kind = schema.KindExperience
			break
		}
		ev = schema.Evidence{ID: newID(), Learner: "L", Kind: schema.KindVoid, Voids: ids[len(ids)-1-r.IntN(min(len(ids), 6))], Time: at * 1e6}
	}
	return ev
}

func TestSiblingStreamsAreVaried(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	kinds := map[string]int{}
	for range 2000 {
		ev := siblingEvidence(r, day0, []schema.UUID{{1}})
		kinds[fmt.Sprint(ev.Kind, ev.HasScore)]++
	}
	if len(kinds) < 6 {
		t.Fatalf("kinds %v", kinds)
	}
}
