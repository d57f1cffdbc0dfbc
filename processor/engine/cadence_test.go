package engine

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/schema"
)

// cadence says when a flush happens and how it can go wrong.
type cadence struct {
	name  string
	every int     // flush every n steps (0: by probability p)
	p     float64 // chance of a flush after a step when every is 0
	fail  float64 // chance a flush's write fails after landing a random part of it (no Clean)
	race  float64 // chance evidence arrives between Changes and Clean
}

var cadences = []cadence{
	{name: "every_step", every: 1},
	{name: "every_3", every: 3},
	{name: "every_17", every: 17},
	{name: "random", p: 0.3},
	{name: "random_failing", p: 0.4, fail: 0.3},
	{name: "random_racing", p: 0.4, race: 0.5},
	{name: "failing_and_racing", p: 0.5, fail: 0.25, race: 0.4},
	{name: "only_at_end", every: 1 << 30},
}

// TestPublishedDecisionsIndependentOfFlushCadence: a random stream
// (answers, scores, completions, ratings, voids, overrides, review sweeps,
// two partitions) applied with flushes at random points, where a store
// ("published") takes the decisions each Changes hands out, ends with the
// store holding exactly every pair's current Decision, every field
// included, whatever the cadence, for every model. Failed flushes land a
// random part of their decisions and are not cleaned; racing ones get
// evidence between Changes and Clean.
func TestPublishedDecisionsIndependentOfFlushCadence(t *testing.T) {
	for _, model := range allModels {
		for _, cd := range cadences {
			t.Run(string(model)+"/"+cd.name, func(t *testing.T) {
				e := modelEngine(t, model)
				r := rand.New(rand.NewPCG(21, uint64(len(model)*100+len(cd.name))))
				detailOnly, handed := 0, 0
				for trial := range 30 {
					l := e.NewLearner(fmt.Sprintf("L%d", trial))
					published := map[string]decision.Decision{}
					var ids []schema.UUID
					var off [2]int64
					at := day0
					flush := func(final bool) {
						var ch Changes
						l.Changes(&ch)
						failed := !final && r.Float64() < cd.fail
						for _, d := range ch.Decisions {
							if failed && r.IntN(2) == 0 {
								continue // this part of the write did not land
							}
							if old, ok := published[d.Content]; ok && sameSuppression(old, d) && !reflect.DeepEqual(old, d) {
								detailOnly++
							}
							published[d.Content] = d
							handed++
						}
						if failed {
							return
						}
						if !final && r.Float64() < cd.race {
							at = randomLearnerStep(r, e, l, at, &ids, &off)
						}
						l.Clean(ch.Mark)
					}
					for step := range 40 + r.IntN(80) {
						at = randomLearnerStep(r, e, l, at, &ids, &off)
						if cd.every > 0 && (step+1)%cd.every == 0 || cd.every == 0 && r.Float64() < cd.p {
							flush(false)
						}
					}
					flush(true)
					want := map[string]decision.Decision{}
					for _, d := range l.Decisions(nil) {
						want[d.Content] = d
					}
					if !reflect.DeepEqual(published, want) {
						for c, d := range want {
							if !reflect.DeepEqual(published[c], d) {
								t.Errorf("trial %d: %s published\n %+v\nwant\n %+v", trial, c, published[c], d)
							}
						}
						t.Fatalf("trial %d: published decisions differ from the current ones (%d pairs)", trial, len(want))
					}
					var ch Changes
					l.Changes(&ch)
					if len(ch.Decisions) != 0 {
						t.Fatalf("trial %d: a Changes after a clean flush hands out %d decisions again", trial, len(ch.Decisions))
					}
				}
				if cd.every == 1 && detailOnly == 0 {
					t.Fatalf("no decision changed in its evidence alone (of %d handed out): the stream does not exercise the rule", handed)
				}
				t.Logf("%d decisions handed out, %d changed in evidence or explanation alone", handed, detailOnly)
			})
		}
	}
}

func sameSuppression(a, b decision.Decision) bool {
	return a.Suppressed == b.Suppressed && a.Reason == b.Reason && a.Since == b.Since && a.Until == b.Until
}

// TestUnchangedDecisionsAreNotHandedOutAgain: a statement that re-decides
// an item without changing its Decision (a duplicate id re-applied from
// another partition, an experience statement) writes no decision; a
// Changes without its Clean hands the same decisions out again.
func TestUnchangedDecisionsAreNotHandedOutAgain(t *testing.T) {
	e := modelEngine(t, ModelElo)
	l := e.NewLearner("L")
	f := func(what string, want int) Changes {
		t.Helper()
		var ch Changes
		l.Changes(&ch)
		if len(ch.Decisions) != want {
			t.Fatalf("%s: %d decisions handed out, want %d: %+v", what, len(ch.Decisions), want, ch.Decisions)
		}
		return ch
	}
	a := answer("a/mid", true, day0)
	e.Apply(l, &a, Source{Partition: 0, Offset: 1})
	stale := f("first answer", 1)
	ch := f("a Changes not cleaned", 1)
	l.Clean(stale.Mark)
	ch = f("after a Clean of an earlier Changes call", 1)
	l.Clean(ch.Mark)
	f("after Clean", 0)
	b := answer("a/easy", true, day0+1000)
	e.Apply(l, &b, Source{Partition: 0, Offset: 2})
	ch = f("an answer on a sibling: both re-decided, the sibling's evidence moved", 2)
	l.Clean(ch.Mark)
	x := schema.Evidence{ID: newID(), Learner: "L", Content: "a/mid", Kind: schema.KindExperience, Time: (day0 + 2000) * 1e6}
	e.Apply(l, &x, Source{Partition: 0, Offset: 3})
	if !l.Dirty() {
		t.Fatal("learner not dirty after a statement")
	}
	ch = f("an engagement-only statement", 0)
	l.Clean(ch.Mark)
}
