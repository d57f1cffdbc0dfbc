package eval

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/unpair/unpair/processor/fit"
	"github.com/unpair/unpair/processor/mastery"
	"github.com/unpair/unpair/processor/replay"
)

// Family is one policy swept over its threshold: the points of an
// operating curve. Nominal indexes the point shown in the comparison table.
type Family struct {
	Name    string
	Points  []Policy
	Nominal int
}

// Config controls Run.
type Config struct {
	Seed      uint64  // of the learner split
	TestShare float64 // share of learners held out; default 0.2
	Fit       fit.Options
	Families  []Family // default DefaultFamilies()
	Baseline  string   // family the bar is measured against; default "3-in-a-row"
	Candidate string   // family proposed as the default; default DefaultCandidate
}

// DefaultCandidate is the family proposed as the engine's default policy.
const DefaultCandidate = "elo"

// MinEvaluable is the fewest evaluable pairs a baseline point needs to count
// in the bar: below it precision@3 is noise (a 95% interval wider than ±0.2).
const MinEvaluable = 30

func sweep(base Policy, name string, set func(*Policy, float64), values []float64, nominal float64) Family {
	f := Family{Name: name}
	for i, v := range values {
		p := base
		set(&p, v)
		p.Name = fmt.Sprintf("%s %g", name, v)
		f.Points = append(f.Points, p)
		if v == nominal {
			f.Nominal = i
		}
	}
	return f
}

// DefaultFamilies are the policies compared in docs/evaluation.md.
func DefaultFamilies() []Family {
	probs := []float64{0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.98, 0.99}
	setThr := func(p *Policy, v float64) { p.Threshold = v }
	setEWMA := func(p *Policy, v float64) { p.EWMA.Threshold = v }
	setElo := func(p *Policy, v float64) { p.Elo.Threshold = v }
	setN := func(p *Policy, v float64) { p.Streak.N = int(v) }
	ewma := mastery.EWMA{W: 0.5, Threshold: 0.875}
	elo := mastery.Elo{K: 0.4, Threshold: 0.7} // every point sets its own threshold
	return []Family{
		{Name: "completed-once", Points: []Policy{{Name: "completed-once", Model: Completed}}},
		sweep(Policy{Model: Streak, MinAttempts: 1}, "3-in-a-row", setN, []float64{1, 2, 3, 4, 5, 6, 8}, 3),
		sweep(Policy{Model: EWMA, EWMA: ewma}, "ewma", setEWMA, []float64{0.5, 0.6, 0.7, 0.75, 0.8, 0.875, 0.9, 0.95, 0.97}, 0.875),
		sweep(Policy{Model: BKT}, "bkt", setThr, probs, 0.95),
		sweep(Policy{Model: BKT, NoForget: true}, "bkt, no forgetting", setThr, probs, 0.95),
		sweep(Policy{Model: Elo, Elo: elo}, "elo", setElo, append([]float64{0.3, 0.4}, probs...), 0.7),
		sweep(Policy{Model: Elo, Elo: elo, MinAttempts: 3}, "elo, min 3 attempts", setElo, probs, 0.9),
		sweep(Policy{Model: BKT, AlsoStreak: 2}, "bkt + 2 in a row", setThr, probs, 0.95),
		sweep(Policy{Model: Elo, Elo: elo, AlsoStreak: 2}, "elo + 2 in a row", setElo, probs, 0.9),
	}
}

// IsTest reports whether a learner is held out, from a hash of seed and
// user id: deterministic and independent of the file order.
func IsTest(seed uint64, user int64, share float64) bool {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], seed)
	binary.LittleEndian.PutUint64(b[8:], uint64(user))
	return float64(xxhash.Sum64(b[:])>>11)/float64(1<<53) < share
}

// FamilyResult is a family's results, one per point.
type FamilyResult struct {
	Name    string   `json:"name"`
	Nominal int      `json:"nominal"`
	Results []Result `json:"results"`
}

// Report is the evaluation of one dataset.
type Report struct {
	Dataset        string         `json:"dataset"`
	TrainLearners  int            `json:"train_learners"`
	TestLearners   int            `json:"test_learners"`
	TrainAttempts  int            `json:"train_attempts"`
	TestAttempts   int            `json:"test_attempts"`
	SkillsFitted   int            `json:"skills_fitted"`
	SkillsCold     int            `json:"skills_cold_start"`
	Families       []FamilyResult `json:"families"`
	Bar            Bar            `json:"bar"`
	FitSeconds     float64        `json:"fit_seconds"`
	EvaluateSecond float64        `json:"evaluate_seconds"`
}

// Run splits the learners, fits on the training learners and scores every
// family's points on the test learners.
func Run(ds *replay.Dataset, cfg Config) (*Report, error) {
	if cfg.TestShare <= 0 || cfg.TestShare >= 1 {
		cfg.TestShare = 0.2
	}
	if cfg.Families == nil {
		cfg.Families = DefaultFamilies()
	}
	if cfg.Fit.BKT.Restarts == 0 {
		cfg.Fit = fit.DefaultOptions()
	}
	if cfg.Baseline == "" {
		cfg.Baseline = "3-in-a-row"
	}
	if cfg.Candidate == "" {
		cfg.Candidate = DefaultCandidate
	}
	train := func(u int64) bool { return !IsTest(cfg.Seed, u, cfg.TestShare) }
	rep := &Report{Dataset: ds.Name}
	var test [][]replay.Attempt
	for _, h := range ds.ByLearner() {
		if train(h[0].User) {
			rep.TrainLearners++
			rep.TrainAttempts += len(h)
		} else {
			rep.TestLearners++
			rep.TestAttempts += len(h)
			test = append(test, h)
		}
	}
	if rep.TrainLearners == 0 || rep.TestLearners == 0 {
		return nil, fmt.Errorf("eval: %s: the split left %d training and %d test learners; need both", ds.Name, rep.TrainLearners, rep.TestLearners)
	}
	t0 := time.Now()
	withF := fit.Fit(ds, train, cfg.Fit)
	nf := cfg.Fit
	nf.BKT.Forget = false
	noF := fit.Fit(ds, train, nf)
	par := &Params{Forget: withF.Skills, NoForget: noF.Skills, Difficulty: withF.Difficulty}
	for _, f := range withF.Skills {
		if f.Status == fit.Fitted {
			rep.SkillsFitted++
		} else {
			rep.SkillsCold++
		}
	}
	rep.FitSeconds = time.Since(t0).Seconds()
	t1 := time.Now()
	for _, fam := range cfg.Families {
		fr := FamilyResult{Name: fam.Name, Nominal: fam.Nominal}
		for _, p := range fam.Points {
			r, err := Evaluate(ds, test, p, par)
			if err != nil {
				return nil, err
			}
			fr.Results = append(fr.Results, r)
		}
		rep.Families = append(rep.Families, fr)
	}
	rep.EvaluateSecond = time.Since(t1).Seconds()
	rep.Bar = rep.compare(cfg.Candidate, cfg.Baseline)
	return rep, nil
}

// Family returns a family's results by name.
func (r *Report) Family(name string) *FamilyResult {
	for i := range r.Families {
		if r.Families[i].Name == name {
			return &r.Families[i]
		}
	}
	return nil
}

// Bar compares a candidate's operating curve with the baseline's.
type Bar struct {
	Candidate string   `json:"candidate"`
	Baseline  string   `json:"baseline"`
	Above     bool     `json:"above"` // the candidate is above at every baseline point within its range
	Margins   []Margin `json:"margins"`
}

// Margin is the candidate's precision@3 minus the baseline's at one
// baseline point's attempts saved.
type Margin struct {
	Point     string  `json:"point"`
	Saved     float64 `json:"saved_share"`
	Baseline  float64 `json:"baseline_precision_3"`
	Candidate float64 `json:"candidate_precision_3"` // on the candidate's upper envelope
	InRange   bool    `json:"in_range"`              // the candidate saves at least as much somewhere
	Evaluable int     `json:"evaluable"`             // the baseline point's evaluable pairs
	Counted   bool    `json:"counted"`               // in range and with at least MinEvaluable evaluable pairs
}

// curve is a family's upper envelope: (saved share, precision@3) points,
// sorted by saved share, each more precise than every point saving more.
func curve(rs []Result) [][2]float64 {
	var pts [][2]float64
	for _, r := range rs {
		if r.Evaluable3 > 0 {
			pts = append(pts, [2]float64{r.SavedShare, r.Precision3})
		}
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i][0] < pts[j][0] })
	var env [][2]float64
	for i := len(pts) - 1; i >= 0; i-- {
		if len(env) == 0 || pts[i][1] > env[len(env)-1][1] {
			env = append(env, pts[i])
		}
	}
	for i, j := 0, len(env)-1; i < j; i, j = i+1, j-1 {
		env[i], env[j] = env[j], env[i]
	}
	return env
}

// at returns the envelope's precision at saved share x: the best precision
// among points saving at least x (a step function), ok=false beyond them.
func at(env [][2]float64, x float64) (float64, bool) {
	for _, p := range env {
		if p[0] >= x {
			return p[1], true
		}
	}
	return 0, false
}

func (r *Report) compare(candidate, baseline string) Bar {
	b := Bar{Candidate: candidate, Baseline: baseline}
	c, base := r.Family(candidate), r.Family(baseline)
	if c == nil || base == nil {
		return b
	}
	env := curve(c.Results)
	b.Above = true
	for _, br := range base.Results {
		if br.Evaluable3 == 0 {
			continue
		}
		m := Margin{Point: br.Name, Saved: br.SavedShare, Baseline: br.Precision3, Evaluable: br.Evaluable3}
		m.Candidate, m.InRange = at(env, br.SavedShare)
		m.Counted = m.InRange && m.Evaluable >= MinEvaluable
		if m.Counted && m.Candidate <= m.Baseline {
			b.Above = false
		}
		b.Margins = append(b.Margins, m)
	}
	return b
}

// WriteTable writes the comparison table (each family's nominal point) in
// Markdown, then every point of every family.
func (r *Report) WriteTable(w io.Writer, all bool) {
	fmt.Fprintf(w, "### %s\n\n", r.Dataset)
	fmt.Fprintf(w, "Learners: %d train / %d test (%d / %d attempts). Skills: %d fitted, %d cold start. Fit %.1fs, evaluation %.1fs.\n\n",
		r.TrainLearners, r.TestLearners, r.TrainAttempts, r.TestAttempts, r.SkillsFitted, r.SkillsCold, r.FitSeconds, r.EvaluateSecond)
	head := "| policy | suppressed pairs | precision@1 | precision@3 ± 95% (evaluable n, share) | false-suppr.@1 | recall | saved total (share) | saved median | to suppress: attempts / time |\n|---|---|---|---|---|---|---|---|---|\n"
	row := func(x Result) {
		fmt.Fprintf(w, "| %s | %d | %.3f | %.3f ± %.3f (%d, %.0f%%) | %.3f | %.3f | %d (%.1f%%) | %g | %g / %s |\n",
			x.Name, x.Suppressed, x.Precision1, x.Precision3, Wilson(x.Precision3, x.Evaluable3), x.Evaluable3, 100*x.Evaluable3Share(),
			x.FalseSuppression, x.Recall, x.SavedTotal, 100*x.SavedShare, x.SavedMedian, x.ToSuppressN, Duration(x.ToSuppressT))
	}
	fmt.Fprint(w, head)
	for _, f := range r.Families {
		row(f.Results[f.Nominal])
	}
	fmt.Fprintf(w, "\nBar: the %s curve lies above the %s curve at every counted point: %v\n\n", r.Bar.Candidate, r.Bar.Baseline, r.Bar.Above)
	for _, m := range r.Bar.Margins {
		c := "out of the candidate's range (not counted)"
		switch {
		case m.InRange && !m.Counted:
			c = fmt.Sprintf("%.3f (%+.3f; not counted: %d evaluable pairs)", m.Candidate, m.Candidate-m.Baseline, m.Evaluable)
		case m.InRange:
			c = fmt.Sprintf("%.3f (%+.3f)", m.Candidate, m.Candidate-m.Baseline)
		}
		fmt.Fprintf(w, "- at %s (saves %.1f%%, %d evaluable): baseline %.3f, candidate %s\n", m.Point, 100*m.Saved, m.Evaluable, m.Baseline, c)
	}
	if !all {
		return
	}
	fmt.Fprintf(w, "\nEvery point of every sweep:\n\n")
	fmt.Fprint(w, head)
	for _, f := range r.Families {
		for _, x := range f.Results {
			row(x)
		}
	}
	fmt.Fprintln(w)
}

// Slug turns a name into a file name part.
func Slug(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteRune(c)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

// FirstLearners returns a copy of ds holding only the n learners with the
// smallest user ids: a quick, deterministic sample.
func FirstLearners(ds *replay.Dataset, n int) *replay.Dataset {
	users := map[int64]bool{}
	for _, h := range ds.ByLearner() {
		if len(users) >= n {
			break
		}
		users[h[0].User] = true
	}
	cp := *ds
	cp.Attempts = nil
	for _, a := range ds.Attempts {
		if users[a.User] {
			cp.Attempts = append(cp.Attempts, a)
		}
	}
	return &cp
}

// Wilson returns the half-width of the 95% Wilson score interval of a
// share p of n.
func Wilson(p float64, n int) float64 {
	if n == 0 {
		return 0
	}
	const z = 1.96
	N := float64(n)
	return z / (1 + z*z/N) * math.Sqrt(p*(1-p)/N+z*z/(4*N*N))
}
