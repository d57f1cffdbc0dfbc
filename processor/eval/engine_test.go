package eval

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/engine"
	"github.com/unpair/unpair/processor/fit"
	"github.com/unpair/unpair/processor/mastery"
	"github.com/unpair/unpair/processor/replay"
	"github.com/unpair/unpair/schema"
)

// TestEngineAgreesWithEvaluator replays a sample of real learners through
// the engine and through the evaluator with the same policy and catalog,
// and checks that before every attempt the engine's published decision of
// the attempted content equals the evaluator's, whenever the engine has a
// decision for it (content the learner touched before). Every such item is
// compared, for every model: the engine re-decides every touched sibling
// sharing a changed skill, so no published decision is stale. So the
// evaluation measures the real engine. Content never touched has no decision in the
// engine; the evaluator still counts skill-level suppression of it (see
// doc.go); the test reports how often that happens.
func TestEngineAgreesWithEvaluator(t *testing.T) {
	dir := sharedData(t, "assistments-2017-challenge")
	ds, err := replay.Load("assistments-2017-challenge", []string{filepath.Join(dir, "preprocessed_data_test.csv")},
		filepath.Join(dir, "q_matrix_item_skill.tsv"), replay.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ds = FirstLearners(ds, 40)
	opt := fit.DefaultOptions()
	opt.BKT.Restarts = 2
	m := fit.Fit(ds, nil, opt)
	home := replay.DefaultHomePage(ds.Name)
	file, err := m.Catalog(ds, home)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := catalog.New(file.Defaults, file.Skills, file.Items)
	if err != nil {
		t.Fatal(err)
	}
	cat := catalog.NewCatalog(snap)
	// The evaluator reads the difficulties as the catalog holds them.
	par := &Params{Forget: m.Skills, Difficulty: map[int64]float64{}}
	for item, d := range m.Difficulty {
		par.Difficulty[item] = math.Round(d*1e6) / 1e6
	}
	for _, tc := range []struct {
		model engine.Model
		pol   Policy
	}{
		{engine.ModelBKT, Policy{Model: BKT, Threshold: 0.95}},
		{engine.ModelStreak, Policy{Model: Streak}},
		{engine.ModelEWMA, Policy{Model: EWMA, EWMA: mastery.EWMA{W: 0.5, Threshold: 0.875}}},
		{engine.ModelElo, Policy{Model: Elo, Elo: mastery.Elo{K: 0.4, Threshold: 0.7}}},
	} {
		t.Run(string(tc.model), func(t *testing.T) {
			cfg := engine.DefaultConfig()
			cfg.Model = tc.model
			cfg.SuppressCompleted = false
			cfg.Elo = mastery.Elo{K: 0.4, Threshold: 0.7}
			e, err := engine.New(cfg, cat)
			if err != nil {
				t.Fatal(err)
			}
			p := tc.pol
			if err := p.validate(); err != nil {
				t.Fatal(err)
			}
			s := &sim{p: p, par: par, ds: ds}
			compared, suppressed, untouched := 0, 0, 0
			for _, hist := range ds.ByLearner() {
				l := e.NewLearner("k")
				st := newLearner()
				for i := range hist {
					a := &hist[i]
					at := a.Time / 1e6
					content := replay.ContentID(home, a.Item)
					want := s.suppressed(st, a.Item, a.SkillSet, at)
					if d, ok := l.Decision(content); ok {
						got := d.Suppressed && (d.Until == 0 || at < d.Until)
						if got != want {
							t.Fatalf("learner %d attempt %d (item %d): engine suppressed=%v (%+v), evaluator %v",
								a.User, a.Index, a.Item, got, d, want)
						}
						compared++
						if got {
							suppressed++
						}
					} else if want {
						untouched++
					}
					ev := schema.Evidence{
						ID: replay.NameUUID([]byte(content + "#" + itoa64(int64(a.Line)))), Learner: "k", Content: content,
						Verb: replay.VerbAnswered, Kind: schema.KindAttempt, Time: a.Time,
						HasSuccess: true, Success: a.Correct, HasScore: true, Scaled: b2f(a.Correct),
					}
					for _, sk := range fit.ItemSkills(ds, a.Item, a.SkillSet) {
						ev.Skills = append(ev.Skills, fit.SkillID(home, sk))
					}
					if out := e.Apply(l, &ev, engine.Source{Partition: 0, Offset: int64(i)}); out != engine.Applied {
						t.Fatalf("engine outcome %v", out)
					}
					s.apply(st, a)
				}
			}
			if compared < 200 || suppressed == 0 {
				t.Fatalf("compared %d decisions (%d suppressed): too few to mean anything", compared, suppressed)
			}
			t.Logf("%s: %d decisions equal (%d suppressed); %d attempts on untouched content the evaluator counts as suppressed",
				tc.model, compared, suppressed, untouched)
		})
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func itoa64(n int64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
