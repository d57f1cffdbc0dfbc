package engine

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/mastery"
	"github.com/unpair/unpair/schema"
)

// A panic inside an engine call that the caller recovers (the shard does,
// and rebuilds the learner) must leave nothing half-set in the engine
// that a later call on another learner would read: the catalog caches
// (resolve, skillParams) and the recording scratch. Each case makes one
// call panic inside a cache refresh after a catalog change, then checks
// that another learner's outputs equal those of an engine that never
// panicked.
func TestEngineScratchAfterRecoveredPanic(t *testing.T) {
	other := mastery.BKT{L0: 0.2, T: 0.05, F: 0.1, G: 0.3, S: 0.2}
	snaps := func(t *testing.T) (*catalog.Snapshot, *catalog.Snapshot) {
		t.Helper()
		s1, err := catalog.New(catalog.Defaults{}, []catalog.Skill{{ID: "a", BKT: &worked}},
			[]catalog.Item{{Content: "q/x", Skills: []string{"a"}}, {Content: "q/y", Skills: []string{"a"}}})
		if err != nil {
			t.Fatal(err)
		}
		s2, err := catalog.New(catalog.Defaults{}, []catalog.Skill{{ID: "a", BKT: &other}},
			[]catalog.Item{{Content: "q/x", Skills: []string{"a"}, Difficulty: 2}, {Content: "q/y", Skills: []string{"a"}, Difficulty: -1}})
		if err != nil {
			t.Fatal(err)
		}
		return s1, s2
	}
	calls := map[string]func(e *Engine, l *Learner){
		"apply": func(e *Engine, l *Learner) {
			ev := answer("q/x", true, day0+5*3_600_000)
			ev.ID = schema.UUID{0xff, 1}
			e.Apply(l, &ev, Source{Partition: 0, Offset: 100})
		},
		"changes":  func(e *Engine, l *Learner) { var ch Changes; l.Changes(&ch) },
		"override": func(e *Engine, l *Learner) { e.Override(l, "q/y", false, 0, day0+5*3_600_000, NoSource) },
		"due":      func(e *Engine, l *Learner) { e.Due(l, day0+400*86_400_000) },
		"marshal":  func(e *Engine, l *Learner) { l.AppendBinary(nil) },
	}
	for _, model := range []Model{ModelElo, ModelBKT} {
		for _, where := range []string{"resolve", "skill", "marshal"} {
			for name, call := range calls {
				if (where == "marshal") != (name == "marshal") {
					continue // AppendBinary refreshes no cache; the others do not marshal
				}
				t.Run(fmt.Sprintf("%s/%s/%s", model, where, name), func(t *testing.T) {
					s1, s2 := snaps(t)
					mk := func() (*Engine, *catalog.Catalog) {
						cat := catalog.NewCatalog(s1)
						e, err := New(func() Config { c := DefaultConfig(); c.Model = model; return c }(), cat)
						if err != nil {
							t.Fatal(err)
						}
						return e, cat
					}
					e, cat := mk()
					ref, refCat := mk()
					history := func(e *Engine, key string) *Learner {
						l := e.NewLearner(key)
						for i, c := range []string{"q/x", "q/y", "q/x", "q/y", "q/x"} {
							ev := answer(c, i != 1, day0+int64(i)*3_600_000)
							ev.ID = schema.UUID{byte(i + 1)}
							e.Apply(l, &ev, Source{Partition: 0, Offset: int64(i)})
						}
						e.Override(l, "q/y", true, day0+86_400_000, day0+4*3_600_000, NoSource)
						return l
					}
					victim := history(e, "V")
					b, bRef := history(e, "B"), history(ref, "B")
					cat.Store(s2)
					refCat.Store(s2)
					fired := false
					e.hook = func(w string) {
						if w == where && !fired {
							fired = true
							panic("injected in " + w)
						}
					}
					func() {
						defer func() { recover() }()
						call(e, victim)
					}()
					e.hook = nil
					if !fired {
						t.Fatalf("the %s hook never ran in %s: the case tests nothing", where, name)
					}
					call(e, b)
					call(ref, bRef)
					var ch, chRef Changes
					b.Changes(&ch)
					bRef.Changes(&chRef)
					ch.Mark, chRef.Mark = Mark{}, Mark{}
					if got, want := fmt.Sprintf("%+v", ch), fmt.Sprintf("%+v", chRef); got != want {
						t.Fatalf("changes after a recovered panic:\n%s\nwant\n%s", got, want)
					}
					s, _ := b.MarshalBinary()
					sRef, _ := bRef.MarshalBinary()
					if !bytes.Equal(s, sRef) {
						t.Fatal("state after a recovered panic differs from a clean engine's")
					}
				})
			}
		}
	}
}
