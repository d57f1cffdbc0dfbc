package eval

import (
	"bytes"
	"encoding/xml"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unpair/unpair/processor/fit"
	"github.com/unpair/unpair/processor/mastery"
	"github.com/unpair/unpair/processor/replay"
)

// sharedData returns a path under ../shared/data: it fails when missing and
// UNPAIR_TEST_REQUIRE=1, else skips loudly.
func sharedData(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", "data", rel)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("UNPAIR_TEST_REQUIRE") == "1" {
			t.Fatalf("shared data missing: %v", err)
		}
		t.Skipf("NOT RUN: shared data missing (%v); set UNPAIR_TEST_REQUIRE=1 to fail instead", err)
	}
	return p
}

// history builds one learner's attempts on items of problem set 1 (skill
// 0), one every gap, from a string of 1s and 0s.
func history(user int64, answers string, gap time.Duration) (*replay.Dataset, [][]replay.Attempt) {
	ds := &replay.Dataset{Name: "t", Files: []string{"f"}, Skills: map[int64][]int64{}}
	var h []replay.Attempt
	for i, c := range answers {
		item := int64(100 + i)
		ds.Skills[item] = []int64{0}
		h = append(h, replay.Attempt{User: user, Item: item, SkillSet: 1, Correct: c == '1', Index: i,
			Time: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * gap).UnixNano()})
	}
	ds.Attempts = h
	return ds, [][]replay.Attempt{h}
}

func TestStreakPolicyMetrics(t *testing.T) {
	for _, tc := range []struct {
		answers                string
		suppressed, ev1, ev3   int
		p1, p3, falseSup, save float64
		toN                    float64
	}{
		// Suppressed from the 4th attempt on: the next 3 are all correct.
		{"111111", 1, 1, 1, 1, 1, 0, 3, 3},
		// A wrong answer right after: precision@1 0, and the streak restarts.
		{"11101111", 1, 1, 1, 0, 0, 0.5, 2, 3},
		// Never 3 in a row: never suppressed.
		{"1101101", 0, 0, 0, 0, 0, 0, 0, 0},
		// Suppressed only after the last attempt: counted, not evaluable.
		{"0111", 1, 0, 0, 0, 0, 0, 0, 4},
	} {
		ds, hs := history(1, tc.answers, time.Minute)
		r, err := Evaluate(ds, hs, Policy{Model: Streak, MinAttempts: 1, Streak: mastery.Streak{N: 3}}, &Params{})
		if err != nil {
			t.Fatal(err)
		}
		got := []float64{float64(r.Suppressed), float64(r.Evaluable1), float64(r.Evaluable3), r.Precision1, r.Precision3, r.FalseSuppression, float64(r.SavedTotal), r.ToSuppressN}
		want := []float64{float64(tc.suppressed), float64(tc.ev1), float64(tc.ev3), tc.p1, tc.p3, tc.falseSup, tc.save, tc.toN}
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-9 {
				t.Errorf("%s: [suppressed ev1 ev3 p1 p3 false saved toN] = %v, want %v", tc.answers, got, want)
				break
			}
		}
	}
}

func TestRecallCountsEndOfDataSuppression(t *testing.T) {
	ds, hs := history(1, "0111", time.Minute)
	r, _ := Evaluate(ds, hs, Policy{Model: Streak, MinAttempts: 1, Streak: mastery.Streak{N: 3}}, &Params{})
	if r.Mastered != 1 || r.Recall != 1 {
		t.Fatalf("mastered %d recall %v, want 1 and 1", r.Mastered, r.Recall)
	}
	r, _ = Evaluate(ds, hs, Policy{Model: Streak, MinAttempts: 1, Streak: mastery.Streak{N: 4}}, &Params{})
	if r.Mastered != 1 || r.Recall != 0 {
		t.Fatalf("N=4: mastered %d recall %v, want 1 and 0", r.Mastered, r.Recall)
	}
}

func TestReviewDueEndsSuppression(t *testing.T) {
	// 3 right: half-life 8 days, 4 right: 16 days. Answers 20 days apart
	// come after every review is due.
	ds, hs := history(1, "11111", 20*24*time.Hour)
	p := Policy{Model: Streak, MinAttempts: 1, Streak: mastery.Streak{N: 3}}
	r, _ := Evaluate(ds, hs, p, &Params{})
	if r.SavedTotal != 0 {
		t.Errorf("with review due: saved %d, want 0 (every suppression expired before the next answer)", r.SavedTotal)
	}
	p.NoReview = true
	if r, _ = Evaluate(ds, hs, p, &Params{}); r.SavedTotal != 2 {
		t.Errorf("without review due: saved %d, want 2", r.SavedTotal)
	}
}

func TestCompletedOnceIsPerItem(t *testing.T) {
	ds, hs := history(1, "1", time.Minute)
	a := hs[0][0]
	b := a
	b.Time += int64(time.Minute)
	c := a
	c.Time += 2 * int64(time.Minute)
	c.Item = 999
	ds.Skills[999] = []int64{0}
	hs[0] = []replay.Attempt{a, b, c}
	r, _ := Evaluate(ds, hs, Policy{Model: Completed}, &Params{})
	if r.SavedTotal != 1 {
		t.Fatalf("completed-once saved %d attempts, want 1 (the repeat of the same item only)", r.SavedTotal)
	}
}

func TestEloUsesItemDifficulty(t *testing.T) {
	ds, hs := history(1, "1111", time.Minute)
	easy := &Params{Difficulty: map[int64]float64{}}
	hard := &Params{Difficulty: map[int64]float64{}}
	for _, a := range hs[0] {
		easy.Difficulty[a.Item] = -3
		hard.Difficulty[a.Item] = 3
	}
	p := Policy{Model: Elo, Elo: mastery.Elo{K: 0.4, Threshold: 0.9}}
	re, _ := Evaluate(ds, hs, p, easy)
	rh, _ := Evaluate(ds, hs, p, hard)
	if !(re.SavedTotal > 0 && rh.SavedTotal == 0) {
		t.Fatalf("saved on easy items %d, on hard %d; want some and none", re.SavedTotal, rh.SavedTotal)
	}
}

func TestBKTFallsBackToStreakWithoutParams(t *testing.T) {
	ds, hs := history(1, "1111", time.Minute)
	p := Policy{Model: BKT, Threshold: 0.95}
	cold, _ := Evaluate(ds, hs, p, &Params{})
	st, _ := Evaluate(ds, hs, Policy{Model: Streak}, &Params{})
	if cold.SavedTotal != st.SavedTotal {
		t.Fatalf("bkt without parameters saved %d, streak %d; want equal", cold.SavedTotal, st.SavedTotal)
	}
	par := &Params{Forget: map[int64]fit.BKTFit{0: {Status: fit.Fitted, Params: mastery.BKT{L0: 0.9, T: 0.3, G: 0.1, S: 0.05}}}}
	if r, _ := Evaluate(ds, hs, p, par); r.SavedTotal <= st.SavedTotal {
		t.Fatalf("bkt with a high prior saved %d, want more than streak's %d", r.SavedTotal, st.SavedTotal)
	}
}

func TestIsTestSplit(t *testing.T) {
	n := 0
	for u := int64(0); u < 20000; u++ {
		if IsTest(1, u, 0.2) {
			n++
		}
		if IsTest(1, u, 0.2) != IsTest(1, u, 0.2) {
			t.Fatal("not deterministic")
		}
	}
	if n < 3700 || n > 4300 {
		t.Fatalf("%d of 20000 held out, want about 4000", n)
	}
	same := 0
	for u := int64(0); u < 1000; u++ {
		if IsTest(1, u, 0.2) == IsTest(2, u, 0.2) {
			same++
		}
	}
	if same == 1000 {
		t.Fatal("the seed does not change the split")
	}
}

func TestBarComparesEnvelopes(t *testing.T) {
	res := func(pts ...float64) []Result {
		var rs []Result
		for i := 0; i < len(pts); i += 2 {
			rs = append(rs, Result{Name: "p", SavedShare: pts[i], Precision3: pts[i+1], Evaluable3: 100})
		}
		return rs
	}
	for _, tc := range []struct {
		name      string
		cand      []Result
		wantAbove bool
	}{
		{"above", res(0.1, 0.9, 0.3, 0.7, 0.5, 0.6), true},
		{"below at one point", res(0.1, 0.9, 0.3, 0.45, 0.5, 0.4), false},
	} {
		r := &Report{Families: []FamilyResult{{Name: "base", Results: res(0.05, 0.8, 0.2, 0.6, 0.4, 0.5, 0.9, 0.3)}, {Name: "cand", Results: tc.cand}}}
		b := r.compare("cand", "base")
		if b.Above != tc.wantAbove {
			t.Errorf("%s: above = %v, want %v (%+v)", tc.name, b.Above, tc.wantAbove, b.Margins)
		}
		if last := b.Margins[len(b.Margins)-1]; last.InRange || last.Counted {
			t.Errorf("%s: a baseline point saving more than the candidate ever does must be out of range", tc.name)
		}
	}
}

func TestWilson(t *testing.T) {
	if w := Wilson(0.5, 100); math.Abs(w-0.0961) > 0.001 {
		t.Fatalf("Wilson(0.5, 100) = %v, want about 0.096", w)
	}
}

func TestRunOnRealSample(t *testing.T) {
	dir := sharedData(t, "assistments-2017-challenge")
	ds, err := replay.Load("assistments-2017-challenge", []string{filepath.Join(dir, "preprocessed_data_test.csv")},
		filepath.Join(dir, "q_matrix_item_skill.tsv"), replay.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ds = FirstLearners(ds, 60)
	cfg := Config{Seed: 1}
	cfg.Fit = fit.DefaultOptions()
	cfg.Fit.BKT.Restarts = 2
	rep, err := Run(ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.TestLearners == 0 || rep.TrainLearners+rep.TestLearners != 60 {
		t.Fatalf("split %d/%d, want 60 learners in all", rep.TrainLearners, rep.TestLearners)
	}
	for _, f := range rep.Families {
		for _, r := range f.Results {
			for _, v := range []float64{r.Precision1, r.Precision3, r.Recall, r.SavedShare, r.FalseSuppression} {
				if !(v >= 0 && v <= 1) {
					t.Fatalf("%s: a share out of [0, 1]: %+v", r.Name, r)
				}
			}
			if r.Attempts != rep.TestAttempts {
				t.Fatalf("%s scored %d attempts, want %d", r.Name, r.Attempts, rep.TestAttempts)
			}
		}
	}
	var table, svg bytes.Buffer
	rep.WriteTable(&table, true)
	if !strings.Contains(table.String(), "| 3-in-a-row 3 |") {
		t.Errorf("table lacks the 3-in-a-row row:\n%s", table.String())
	}
	if err := rep.WriteSVG(&svg); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&svg)
	polylines := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			polylines++
		}
	}
	if polylines != len(rep.Families) {
		t.Fatalf("SVG has %d curves, want %d", polylines, len(rep.Families))
	}
}
