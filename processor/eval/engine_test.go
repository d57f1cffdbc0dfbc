package eval

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/client"
	"github.com/unpair/unpair/processor/engine"
	"github.com/unpair/unpair/processor/fit"
	"github.com/unpair/unpair/processor/mastery"
	"github.com/unpair/unpair/processor/replay"
	"github.com/unpair/unpair/processor/store"
	"github.com/unpair/unpair/schema"
)

// TestEngineAgreesWithEvaluator replays a sample of real learners through
// the real system and through the evaluator with the same policy and
// catalog, and checks that before every attempt, touched content or not,
// what a recommendation service reads equals the evaluator's verdict. The
// system is the engine, its changes written after every statement with
// store.WriteBatch into Redis (miniredis), and client.Suppressed with the
// catalog at the attempt's time: a stored decision for content the learner
// touched before, else one derived at read time from the learner's ":k"
// skill states (mastery.Judge). So the evaluation measures the real system,
// including the skill-level suppression of content never touched (see
// doc.go). The test logs how many verdicts came from stored decisions and
// how many were derived.
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
	keyer := schema.NewLearnerKeyer([]byte("eval-agreement"))
	// Every attempt costs round trips to Redis: the fit and the catalog
	// use all 40 learners, the comparison the first ones up to a budget of
	// attempts (2,500; UNPAIR_AGREEMENT_ATTEMPTS sets another), so that the
	// test stays well under a minute under -race.
	budget := 2500
	if v := os.Getenv("UNPAIR_AGREEMENT_ATTEMPTS"); v != "" {
		if budget, err = strconv.Atoi(v); err != nil || budget < 1 {
			t.Fatalf("UNPAIR_AGREEMENT_ATTEMPTS %q: want a positive integer", v)
		}
	}
	var learners [][]replay.Attempt
	for n, all := 0, ds.ByLearner(); len(learners) < len(all); {
		h := all[len(learners)]
		if n += len(h); n > budget && len(learners) > 0 {
			break
		}
		learners = append(learners, h)
	}
	for _, tc := range []struct {
		model engine.Model
		pol   Policy
	}{
		{engine.ModelBKT, Policy{Model: BKT, Threshold: 0.95}},
		{engine.ModelStreak, Policy{Model: Streak}},
		{engine.ModelEWMA, Policy{Model: EWMA, EWMA: mastery.EWMA{W: 0.5, Threshold: 0.875}}},
		// elo runs engine.DefaultConfig() as shipped: the evaluator's "elo 0.7" row.
		{engine.ModelElo, Policy{Model: Elo, Elo: engine.DefaultConfig().Elo}},
	} {
		t.Run(string(tc.model), func(t *testing.T) {
			t.Parallel() // most of the time is spent waiting on Redis round trips
			// The default config otherwise (MinAttempts 2, as the evaluator);
			// answers carry no completion, so SuppressCompleted never applies.
			cfg := engine.DefaultConfig()
			cfg.Model = tc.model
			e, err := engine.New(cfg, cat)
			if err != nil {
				t.Fatal(err)
			}
			p := tc.pol
			if err := p.validate(); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
			t.Cleanup(func() { _ = rdb.Close() })
			const prefix = "evalagree"
			st, err := store.New(rdb, store.Options{Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			var now int64 // the attempt's time, unix ms
			cl, err := client.New(rdb, client.Options{Prefix: prefix, Catalog: cat,
				Now: func() time.Time { return time.UnixMilli(now) }})
			if err != nil {
				t.Fatal(err)
			}
			s := &sim{p: p, par: par, ds: ds}
			var n agreeCounts
			var ch engine.Changes
			for _, hist := range learners {
				key := keyer.Key(schema.CanonicalAccount(home, itoa64(hist[0].User)))
				l := e.NewLearner(key)
				sl := newLearner()
				for i := range hist {
					a := &hist[i]
					now = a.Time / 1e6
					content := replay.ContentID(home, a.Item)
					want := s.suppressed(sl, a.Item, a.SkillSet, now)
					_, stored := l.Decision(content) // touched before: the engine stored a decision
					got, d, err := cl.Suppressed(ctx, client.Learner(key), content)
					if err != nil {
						t.Fatalf("learner %d attempt %d: %v", a.User, a.Index, err)
					}
					if stored && d == nil {
						t.Fatalf("learner %d attempt %d (item %d): the engine holds a decision the store does not", a.User, a.Index, a.Item)
					}
					if got != want {
						t.Fatalf("learner %d attempt %d (item %d, stored=%v): system suppressed=%v (%+v), evaluator %v",
							a.User, a.Index, a.Item, stored, got, d, want)
					}
					n.add(stored, got)
					ev := schema.Evidence{
						ID: replay.NameUUID([]byte(content + "#" + itoa64(int64(a.Line)))), Learner: key, Content: content,
						Verb: replay.VerbAnswered, Kind: schema.KindAttempt, Time: a.Time,
						HasSuccess: true, Success: a.Correct, HasScore: true, Scaled: b2f(a.Correct),
					}
					for _, sk := range fit.ItemSkills(ds, a.Item, a.SkillSet) {
						ev.Skills = append(ev.Skills, fit.SkillID(home, sk))
					}
					if out := e.Apply(l, &ev, engine.Source{Partition: 0, Offset: int64(i)}); out != engine.Applied {
						t.Fatalf("engine outcome %v", out)
					}
					s.apply(sl, a)
					if err := writeChanges(ctx, st, l, &ch, int64(i)); err != nil {
						t.Fatal(err)
					}
				}
			}
			t.Logf("%s: %d learners, %d verdicts equal: %d from stored decisions (%d suppressed), %d derived from skills (%d suppressed)",
				tc.model, len(learners), n.stored+n.derived, n.stored, n.storedSup, n.derived, n.derivedSup)
			if n.stored+n.derived < 200 || n.storedSup == 0 || n.derivedSup == 0 {
				t.Fatalf("%+v: too few compared verdicts, or no suppression of either kind, to mean anything", n)
			}
		})
	}
}

// agreeCounts counts the compared verdicts by where the system's answer
// came from.
type agreeCounts struct {
	stored, storedSup, derived, derivedSup int
}

func (n *agreeCounts) add(stored, suppressed bool) {
	switch {
	case stored:
		n.stored++
		if suppressed {
			n.storedSup++
		}
	default:
		n.derived++
		if suppressed {
			n.derivedSup++
		}
	}
}

// writeChanges makes the learner's changes durable as the pipeline does:
// one WriteBatch of its state, decisions and skill states at offset, then
// Clean.
func writeChanges(ctx context.Context, st *store.Store, l *engine.Learner, ch *engine.Changes, offset int64) error {
	*ch = engine.Changes{Decisions: ch.Decisions[:0], Skills: ch.Skills[:0]}
	l.Changes(ch)
	state, err := l.MarshalBinary()
	if err != nil {
		return fmt.Errorf("cannot encode learner state: %w", err)
	}
	w := store.LearnerWrite{Learner: l.Key(), Partition: 0, Offset: offset, State: state, Decisions: ch.Decisions}
	for _, sk := range ch.Skills {
		w.Skills = append(w.Skills, store.Field{Name: sk.Name, Value: string(mastery.AppendSkill(nil, &sk.Skill))})
	}
	res, err := st.WriteBatch(ctx, []store.LearnerWrite{w})
	if err != nil {
		return fmt.Errorf("cannot write learner at offset %d: %w", offset, err)
	}
	if res.Applied != 1 {
		return fmt.Errorf("write at offset %d not applied: %+v", offset, res)
	}
	l.Clean(ch.Mark)
	return nil
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
