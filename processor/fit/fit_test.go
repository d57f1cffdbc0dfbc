package fit

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/mastery"
	"github.com/unpair/unpair/processor/replay"
)

// simulate draws n sequences of length T from the BKT generative model.
func simulate(p mastery.BKT, n, T int, seed uint64) [][]bool {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([][]bool, n)
	for i := range out {
		known := r.Float64() < p.L0
		s := make([]bool, T)
		for t := range s {
			if known {
				s[t] = r.Float64() >= p.S
			} else {
				s[t] = r.Float64() < p.G
			}
			if known {
				known = r.Float64() >= p.F
			} else {
				known = r.Float64() < p.T
			}
		}
		out[i] = s
	}
	return out
}

func TestEMRecoversParameters(t *testing.T) {
	for _, tc := range []struct {
		name   string
		truth  mastery.BKT
		forget bool
	}{
		{"with forgetting", mastery.BKT{L0: 0.3, T: 0.15, F: 0.03, G: 0.2, S: 0.1}, true},
		{"without forgetting", mastery.BKT{L0: 0.4, T: 0.2, G: 0.25, S: 0.08}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seqs := simulate(tc.truth, 3000, 15, 42)
			o := DefaultBKTOptions()
			o.Forget = tc.forget
			f := FitBKT(seqs, o)
			if f.Status != Fitted {
				t.Fatalf("status %s, want fitted", f.Status)
			}
			got, want := f.Params, tc.truth
			for _, c := range []struct {
				name string
				g, w float64
			}{{"l0", got.L0, want.L0}, {"t", got.T, want.T}, {"f", got.F, want.F}, {"g", got.G, want.G}, {"s", got.S, want.S}} {
				if math.Abs(c.g-c.w) > 0.04 {
					t.Errorf("%s = %.3f, want %.3f ± 0.04 (fit %+v)", c.name, c.g, c.w, got)
				}
			}
			if !tc.forget && got.F != 0 {
				t.Errorf("f = %v with forgetting off, want 0", got.F)
			}
			if ll := LogLikelihood(tc.truth, seqs); f.LogLik < ll-1 {
				t.Errorf("fitted log-likelihood %.1f is below the truth's %.1f", f.LogLik, ll)
			}
		})
	}
}

func TestEMNeverDecreasesLikelihood(t *testing.T) {
	seqs := simulate(mastery.BKT{L0: 0.2, T: 0.1, F: 0.05, G: 0.3, S: 0.2}, 300, 12, 3)
	p := mastery.BKT{L0: 0.5, T: 0.3, F: 0.1, G: 0.1, S: 0.3}
	prev := LogLikelihood(p, seqs)
	for i := 0; i < 30; i++ {
		p, _, _ = EM(p, seqs, true, 1, 0)
		var s []float64
		n := estep(p, seqs, &s)
		p = mstep(n, true)
		ll := LogLikelihood(p, seqs)
		if ll < prev-1e-9 {
			t.Fatalf("iteration %d: log-likelihood fell from %.6f to %.6f", i, prev, ll)
		}
		prev = ll
	}
}

func TestPredictAndLikelihoodAgree(t *testing.T) {
	p := mastery.BKT{L0: 0.827, T: 0.180, F: 0.0127, G: 0.266, S: 0.148}
	seq := []bool{true, false, true, true}
	pc, pk := Predict(p, seq)
	if pk[0] != p.L0 || math.Abs(pk[1]-p.Update(p.L0, true)) > 0 {
		t.Fatalf("known = %v", pk)
	}
	ll := 0.0
	for i, c := range seq {
		if c {
			ll += math.Log(pc[i])
		} else {
			ll += math.Log(1 - pc[i])
		}
	}
	if got := LogLikelihood(p, [][]bool{seq}); math.Abs(got-ll) > 1e-12 {
		t.Fatalf("LogLikelihood = %v, sum of predicted = %v", got, ll)
	}
	// The E step's likelihood is the same forward pass.
	var s []float64
	if n := estep(p, [][]bool{seq}, &s); math.Abs(n.loglik-ll) > 1e-12 {
		t.Fatalf("estep loglik = %v, want %v", n.loglik, ll)
	}
}

func TestFitBKTGuards(t *testing.T) {
	o := DefaultBKTOptions()
	f := FitBKT([][]bool{{true, true}, {false}}, o)
	if f.Status != ColdStart {
		t.Errorf("3 answers: status %s, want cold_start", f.Status)
	}
	// Learners who start right and end wrong: every fit that explains this
	// reads a correct answer as not knowing (degenerate) or is rejected.
	var seqs [][]bool
	for i := 0; i < 400; i++ {
		seqs = append(seqs, []bool{true, true, true, true, false, false, false, false})
	}
	f = FitBKT(seqs, o)
	if f.Status == Fitted {
		if err := f.Params.Validate(); err != nil {
			t.Fatalf("chose a degenerate fit: %v", err)
		}
	}
	if f.Degenerate == 0 && f.Status == ColdStart {
		t.Errorf("cold start without degenerate starts or too little data: %+v", f)
	}
	// Without forgetting, only a degenerate model explains right-then-wrong.
	o.Forget = false
	f = FitBKT(seqs, o)
	if f.Status != ColdStart || f.Degenerate != o.Restarts {
		t.Errorf("right-then-wrong without forgetting: %+v, want cold_start with every start degenerate", f)
	}
}

func TestFitBKTDeterministic(t *testing.T) {
	seqs := simulate(mastery.BKT{L0: 0.3, T: 0.1, F: 0.02, G: 0.2, S: 0.1}, 200, 10, 9)
	a, b := FitBKT(seqs, DefaultBKTOptions()), FitBKT(seqs, DefaultBKTOptions())
	if a != b {
		t.Fatalf("two fits with one seed differ: %+v vs %+v", a, b)
	}
}

func tinyDataset(t *testing.T) *replay.Dataset {
	t.Helper()
	dir := t.TempDir()
	// Item 1 is easy (always right), item 2 hard (always wrong), both skill 5.
	log := "user_id\titem_id\ttimestamp\tcorrect\tskill_id\n"
	for u := 0; u < 40; u++ {
		for k := 0; k < 3; k++ {
			log += itoa(u) + "\t1\t0\t1\t9\n" + itoa(u) + "\t2\t0\t0\t9\n"
		}
	}
	os.WriteFile(filepath.Join(dir, "log.csv"), []byte(log), 0o644)
	os.WriteFile(filepath.Join(dir, "q.tsv"), []byte("item_id\tskill_index\n1\t5\n2\t5\n3\t5\n"), 0o644)
	ds, err := replay.Load("tiny", []string{filepath.Join(dir, "log.csv")}, filepath.Join(dir, "q.tsv"), replay.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestFitEloOrdersItems(t *testing.T) {
	ds := tinyDataset(t)
	d, n := FitElo(ds, nil, mastery.Elo{K: 0.4})
	if !(d[1] < 0 && d[2] > 0) {
		t.Fatalf("difficulties easy=%.2f hard=%.2f, want easy < 0 < hard", d[1], d[2])
	}
	if n[1] != 120 || n[3] != 0 {
		t.Errorf("answer counts = %v, want 120 for item 1 and none for item 3", n)
	}
	if math.Abs(d[3]-(d[1]+d[2])/2) > 1e-9 {
		t.Errorf("unanswered item 3 = %.3f, want the skill mean %.3f", d[3], (d[1]+d[2])/2)
	}
	only := func(u int64) bool { return u < 10 }
	if d2, _ := FitElo(ds, only, mastery.Elo{K: 0.4}); d2[1] == d[1] {
		t.Error("include filter had no effect")
	}
}

func TestCatalogLoadsInEngineCatalog(t *testing.T) {
	ds := tinyDataset(t)
	m := Fit(ds, nil, DefaultOptions())
	f, err := m.Catalog(ds, "")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(f); err != nil {
		t.Fatal(err)
	}
	snap, err := catalog.ReadJSON(&buf)
	if err != nil {
		t.Fatalf("catalog.ReadJSON rejects fit's output: %v", err)
	}
	home := replay.DefaultHomePage("tiny")
	it, ok := snap.Item(replay.ContentID(home, 2))
	if !ok || len(it.Skills) != 1 || it.Skills[0] != replay.SkillID(home, 5) || it.Difficulty <= 0 {
		t.Fatalf("item 2 = %+v, %v", it, ok)
	}
	if items, skills := snap.Len(); items != 3 || skills != 1 {
		t.Errorf("catalog has %d items, %d skills; want 3 and 1", items, skills)
	}
}
