package engine

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/mastery"
	"github.com/unpair/unpair/schema"
)

var worked = mastery.BKT{L0: 0.827, T: 0.180, F: 0.0127, G: 0.266, S: 0.148}

const day0 = int64(1_760_000_000_000) // unix ms

func testCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	s, err := catalog.New(catalog.Defaults{},
		[]catalog.Skill{{ID: "fractions", BKT: &worked}, {ID: "decimals", BKT: &worked}, {ID: "cold"}},
		[]catalog.Item{
			{Content: "q/frac1", Skills: []string{"fractions"}},
			{Content: "q/frac2", Skills: []string{"fractions"}},
			{Content: "q/both", Skills: []string{"fractions", "decimals"}, Difficulty: 0.5},
			{Content: "q/cold", Skills: []string{"cold"}},
			{Content: "q/hard", Difficulty: 2},
			{Content: "q/easy", Skills: []string{"fractions"}, Difficulty: -1.5},
			{Content: "q/frac-hard", Skills: []string{"fractions"}, Difficulty: 1},
		})
	if err != nil {
		t.Fatal(err)
	}
	return catalog.NewCatalog(s)
}

func newEngine(t testing.TB, mod func(*Config)) *Engine {
	t.Helper()
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	e, err := New(cfg, testCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// bkt selects the bkt model before applying mod: the policy tests written
// for it keep testing it now that elo is the default.
func bkt(mod func(*Config)) func(*Config) {
	return func(c *Config) {
		c.Model = ModelBKT
		if mod != nil {
			mod(c)
		}
	}
}

var idSeq uint64

func newID() schema.UUID {
	idSeq++
	var id schema.UUID
	for i := 0; i < 8; i++ {
		id[i] = byte(idSeq >> (8 * i))
	}
	id[15] = 0xee
	return id
}

func answer(content string, correct bool, atMs int64) schema.Evidence {
	return schema.Evidence{ID: newID(), Learner: "L", Content: content, Kind: schema.KindAttempt,
		Time: atMs * 1e6, HasSuccess: true, Success: correct}
}

// step is one piece of a policy scenario.
type step struct {
	ev    schema.Evidence
	want  string // "suppressed:<reason>" or "shown:<reason>" for the decision of ev's content after the step; "" skips
	check string // content to check instead of ev's
}

func TestPolicy(t *testing.T) {
	rating := func(content string, scaled float64, at int64) schema.Evidence {
		return schema.Evidence{ID: newID(), Content: content, Kind: schema.KindRating, Time: at * 1e6, HasScore: true, Scaled: scaled}
	}
	completed := func(content string, success bool, at int64) schema.Evidence {
		return schema.Evidence{ID: newID(), Content: content, Kind: schema.KindCompletion, Time: at * 1e6,
			HasCompletion: true, Completion: true, HasSuccess: true, Success: success}
	}
	hour := int64(time.Hour / time.Millisecond)
	for _, tc := range []struct {
		name  string
		mod   func(*Config)
		steps []step
	}{
		{"bkt: two correct reach 0.971 >= 0.95", nil, []step{
			{answer("q/frac1", true, day0), "shown:", ""},
			{answer("q/frac1", true, day0+hour), "suppressed:mastered", ""},
		}},
		{"bkt strict 0.98: two correct are not enough", func(c *Config) { c.Threshold = StrictThreshold }, []step{
			{answer("q/frac1", true, day0), "shown:", ""},
			{answer("q/frac1", true, day0+hour), "shown:", ""},
		}},
		{"min attempts 3", func(c *Config) { c.MinAttempts = 3 }, []step{
			{answer("q/frac1", true, day0), "shown:", ""},
			{answer("q/frac1", true, day0+hour), "shown:", ""},
			{answer("q/frac1", true, day0+2*hour), "suppressed:mastered", ""},
		}},
		{"a wrong answer un-suppresses", nil, []step{
			{answer("q/frac1", true, day0), "", ""},
			{answer("q/frac1", true, day0+hour), "suppressed:mastered", ""},
			{answer("q/frac1", false, day0+2*hour), "shown:wrong_answer", ""},
		}},
		{"skill mastered through another content suppresses its sibling", nil, []step{
			{answer("q/frac2", false, day0), "shown:", ""},
			{answer("q/frac1", true, day0+hour), "shown:", ""},
			{answer("q/frac1", true, day0+2*hour), "shown:", ""}, // 0.941
			{answer("q/frac1", true, day0+3*hour), "suppressed:mastered", "q/frac2"},
		}},
		{"several skills: all must be mastered", nil, []step{
			{answer("q/frac1", true, day0), "", ""},
			{answer("q/frac1", true, day0+hour), "suppressed:mastered", ""},
			{answer("q/both", true, day0+2*hour), "shown:", ""}, // decimals has one attempt
			{answer("q/both", true, day0+3*hour), "suppressed:mastered", ""},
		}},
		{"cold-start skill uses the streak rule (3 in a row)", nil, []step{
			{answer("q/cold", true, day0), "shown:", ""},
			{answer("q/cold", true, day0+hour), "shown:", ""},
			{answer("q/cold", true, day0+2*hour), "suppressed:mastered", ""},
		}},
		{"streak model", func(c *Config) { c.Model = ModelStreak }, []step{
			{answer("q/frac1", true, day0), "", ""},
			{answer("q/frac1", true, day0+hour), "shown:", ""},
			{answer("q/frac1", true, day0+2*hour), "suppressed:mastered", ""},
		}},
		{"ewma model: partial scores", func(c *Config) { c.Model = ModelEWMA }, []step{
			{scored("q/frac1", 1, day0), "", ""},
			{scored("q/frac1", 0.9, day0+hour), "shown:", ""},              // 0.5*0.5+0.45 = 0.7
			{scored("q/frac1", 1, day0+2*hour), "shown:", ""},              // 0.85
			{scored("q/frac1", 1, day0+3*hour), "suppressed:mastered", ""}, // 0.925
		}},
		{"completed with success suppresses", nil, []step{
			{completed("video/1", true, day0), "suppressed:completed", ""},
		}},
		{"completed without success does not", nil, []step{
			{completed("video/1", false, day0), "shown:", ""},
		}},
		{"completed suppression can be switched off", func(c *Config) { c.SuppressCompleted = false }, []step{
			{completed("video/1", true, day0), "shown:", ""},
		}},
		{"low rating (2 of 5) is feedback", nil, []step{
			{rating("video/1", 0.25, day0), "suppressed:feedback", ""},
		}},
		{"rating 3 of 5 is not", nil, []step{
			{rating("video/1", 0.5, day0), "shown:", ""},
		}},
		{"dislike suppresses regardless of mastery", nil, []step{
			{answer("q/frac1", false, day0), "shown:", ""},
			{schema.Evidence{ID: newID(), Content: "q/frac1", Kind: schema.KindDislike, Time: (day0 + hour) * 1e6}, "suppressed:feedback", ""},
			{answer("q/frac1", false, day0+2*hour), "suppressed:feedback", ""},
		}},
		{"feedback outranks mastery", nil, []step{
			{answer("q/frac1", true, day0), "", ""},
			{answer("q/frac1", true, day0+hour), "suppressed:mastered", ""},
			{rating("q/frac1", 0, day0+2*hour), "suppressed:feedback", ""},
		}},
		{"a later high rating lifts feedback", nil, []step{
			{rating("video/1", 0.25, day0), "suppressed:feedback", ""},
			{rating("video/1", 1, day0+hour), "shown:expired", ""},
		}},
		{"feedback expires after its TTL", nil, []step{
			{rating("video/1", 0.25, day0), "suppressed:feedback", ""},
			{answer("video/1", false, day0+181*24*hour), "shown:expired", ""},
		}},
		{"mastery ends when review is due", nil, []step{
			{answer("q/frac1", true, day0), "", ""},
			{answer("q/frac1", true, day0+hour), "suppressed:mastered", ""},
			{rating("q/frac1", 0.8, day0+5*24*hour), "shown:review_due", ""}, // half-life of 2 right = 4 days
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runSteps(t, newEngine(t, bkt(tc.mod)), tc.steps)
		})
	}
}

// runSteps applies a scenario and checks the decisions it names.
func runSteps(t *testing.T, e *Engine, steps []step) {
	t.Helper()
	l := e.NewLearner("L")
	for i, s := range steps {
		if o := e.Apply(l, &s.ev, NoSource); o != Applied {
			t.Fatalf("step %d: outcome %v, want applied", i, o)
		}
		if s.want == "" {
			continue
		}
		c := s.ev.Content
		if s.check != "" {
			c = s.check
		}
		d, ok := l.Decision(c)
		if !ok {
			t.Fatalf("step %d: no decision for %s", i, c)
		}
		got := "shown:" + string(d.Reason)
		if d.Suppressed {
			got = "suppressed:" + string(d.Reason)
		}
		if got != s.want {
			t.Fatalf("step %d: %s = %s (%q, evidence %+v), want %s", i, c, got, d.Explanation, d.Evidence, s.want)
		}
	}
}

func TestDefaultIsEvaluatedElo(t *testing.T) {
	c := DefaultConfig()
	if c.Model != ModelElo || c.Elo != (mastery.Elo{K: 0.4, Threshold: 0.7}) || c.MinAttempts != 2 || c.Threshold != 0.95 {
		t.Fatalf("DefaultConfig() = %+v, want elo K 0.4 threshold 0.7, min attempts 2, bkt threshold 0.95", c)
	}
	hour := int64(time.Hour / time.Millisecond)
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"an easy item is mastered after two correct answers", []step{
			{answer("q/easy", true, day0), "shown:", ""},
			{answer("q/easy", true, day0+hour), "suppressed:mastered", ""},
		}},
		{"an average item from scratch needs six", []step{
			{answer("q/frac1", true, day0), "shown:", ""},
			{answer("q/frac1", true, day0+hour), "shown:", ""},
			{answer("q/frac1", true, day0+2*hour), "shown:", ""},
			{answer("q/frac1", true, day0+3*hour), "shown:", ""},
			{answer("q/frac1", true, day0+4*hour), "shown:", ""},
			{answer("q/frac1", true, day0+5*hour), "suppressed:mastered", ""},
		}},
		{"an answer on a hard item suppresses an easy sibling it does not master itself", []step{
			{answer("q/easy", false, day0), "shown:", ""},
			{answer("q/frac-hard", true, day0+hour), "shown:", ""},
			{answer("q/frac-hard", true, day0+hour), "suppressed:mastered", "q/easy"},
			{answer("q/frac-hard", false, day0+2*hour), "shown:wrong_answer", "q/easy"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { runSteps(t, newEngine(t, nil), tc.steps) })
	}
}

func TestExplanations(t *testing.T) {
	hour := int64(time.Hour / time.Millisecond)
	for _, tc := range []struct {
		mod     func(*Config)
		content string
		answers []bool
		want    string
	}{
		{nil, "q/easy", []bool{false, true, true},
			"Mastered: 80% chance you'd answer this right, after 2 of your 3 answers correct; review due 11 Oct 2025."},
		{nil, "q/easy", []bool{true},
			"Not mastered yet: 83% chance you'd answer this right, after your only answer correct."},
		{nil, "q/frac1", []bool{true, false},
			"Not mastered yet: 50% chance you'd answer this right, after 1 of your 2 answers correct."},
		{nil, "q/both", []bool{true, true, true, true, true, true, true, true},
			"Mastered: 72% chance you'd answer this right on the weakest of its 2 skills, after all 8 of your answers correct; review due 22 Jun 2026."},
		{bkt(nil), "q/frac1", []bool{true, true},
			"Mastered: 97% sure you know it, after both your answers correct; review due 13 Oct 2025."},
		{func(c *Config) { c.Model = ModelStreak }, "q/frac1", []bool{false, false},
			"Not mastered yet: 0 correct in a row (none of your 2 answers correct)."},
		{func(c *Config) { c.Model = ModelEWMA }, "q/frac1", []bool{true, true, true, true},
			"Mastered: recent accuracy 94%, after all 4 of your answers correct; review due 25 Oct 2025."},
	} {
		e := newEngine(t, tc.mod)
		l := e.NewLearner("L")
		for i, c := range tc.answers {
			ev := answer(tc.content, c, day0+int64(i)*hour)
			e.Apply(l, &ev, NoSource)
		}
		if d, _ := l.Decision(tc.content); d.Explanation != tc.want {
			t.Errorf("%s %v under %s:\n got %q\nwant %q", tc.content, tc.answers, e.cfg.Model, d.Explanation, tc.want)
		}
	}
}

// TestEloDifficulty: under elo, the number of correct answers needed follows
// the item's catalog difficulty, as mastery.Elo computes it.
func TestEloDifficulty(t *testing.T) {
	e := newEngine(t, func(c *Config) { c.Model = ModelElo; c.Elo.K = 1.5 })
	needed := func(content string) int {
		t.Helper()
		l := e.NewLearner("L")
		for n := 1; n <= 50; n++ {
			ev := answer(content, true, day0+int64(n))
			e.Apply(l, &ev, NoSource)
			if d, _ := l.Decision(content); d.Suppressed {
				return n
			}
		}
		t.Fatalf("%s never mastered", content)
		return 0
	}
	ref := func(difficulty float64) int {
		m := e.cfg.Elo
		var ability float32
		for n := 1; ; n++ {
			ability = float32(m.Update(float64(ability), difficulty, 1))
			if n >= e.cfg.MinAttempts && m.PCorrect(float64(ability), difficulty) >= m.Threshold {
				return n
			}
		}
	}
	easy, hard := needed("video/1"), needed("q/hard")
	if easy != ref(0) || hard != ref(2) || hard <= easy {
		t.Fatalf("answers needed: easy %d (want %d), hard %d (want %d)", easy, ref(0), hard, ref(2))
	}
}

func scored(content string, s float64, at int64) schema.Evidence {
	return schema.Evidence{ID: newID(), Content: content, Kind: schema.KindAttempt, Time: at * 1e6, HasScore: true, Scaled: s}
}

func TestDecisionContent(t *testing.T) {
	e := newEngine(t, bkt(nil))
	l := e.NewLearner("L")
	for i, c := range []bool{true, false, true, true} {
		ev := answer("q/frac1", c, day0+int64(i)*60_000)
		e.Apply(l, &ev, Source{Partition: 3, Offset: int64(10 + i)})
	}
	d, _ := l.Decision("q/frac1")
	if !d.Suppressed || d.Reason != decision.Mastered {
		t.Fatalf("decision %+v, want suppressed as mastered", d)
	}
	ev := d.Evidence
	if ev.Attempts != 4 || ev.Correct != 3 || ev.Model != "bkt" || ev.PKnown < 0.95 || ev.LastPractice != day0+180_000 ||
		len(ev.Skills) != 1 || ev.Skills[0] != "fractions" {
		t.Fatalf("evidence %+v", ev)
	}
	wantUntil := day0 + 180_000 + mastery.HalfLife(3, 1).Milliseconds()
	if d.Until != wantUntil || d.Since != day0+180_000 {
		t.Fatalf("since %d until %d, want %d and %d", d.Since, d.Until, day0+180_000, wantUntil)
	}
	if !strings.HasPrefix(d.Explanation, "Mastered: ") || !strings.Contains(d.Explanation, "3 of your 4 answers correct") ||
		!strings.Contains(d.Explanation, "review due") {
		t.Fatalf("explanation %q", d.Explanation)
	}
	var ch Changes
	l.Changes(&ch)
	if len(ch.Events) != 1 || ch.Events[0].Kind != decision.EventSuppressed || ch.Events[0].Learner != "L" ||
		ch.Events[0].At != day0+180_000 || !strings.HasSuffix(ch.Events[0].ID, "/3/13") {
		t.Fatalf("events %+v", ch.Events)
	}
	if len(ch.Decisions) != 1 || ch.Decisions[0].Content != "q/frac1" {
		t.Fatalf("changed decisions %+v", ch.Decisions)
	}
	l.Clean(ch.Mark)
	if l.Dirty() || l.PendingEvents() != 0 {
		t.Fatalf("after Clean: dirty %v, %d events", l.Dirty(), l.PendingEvents())
	}
	// Review due: the sweep ends the suppression at Until.
	if n := e.Due(l, wantUntil-1); n != 0 {
		t.Fatalf("Due before Until ended %d", n)
	}
	if n := e.Due(l, wantUntil); n != 1 {
		t.Fatalf("Due at Until ended %d, want 1", n)
	}
	ch = Changes{}
	l.Changes(&ch)
	if len(ch.Events) != 1 || ch.Events[0].Kind != decision.EventUnsuppressed || ch.Events[0].Decision.Reason != decision.ReviewDue {
		t.Fatalf("due events %+v", ch.Events)
	}
}

// TestOverride (times a second apart at least: the state keeps times to
// the second).
func TestOverride(t *testing.T) {
	e := newEngine(t, bkt(nil))
	l := e.NewLearner("L")
	for i := range 2 {
		ev := answer("q/frac1", true, day0+int64(i)*1000)
		e.Apply(l, &ev, NoSource)
	}
	e.Override(l, "q/frac1", false, 0, day0+10_000, NoSource)
	if d, _ := l.Decision("q/frac1"); d.Suppressed || d.Reason != decision.Override {
		t.Fatalf("after lift: %+v", d)
	}
	ev := answer("q/frac1", true, day0+20_000)
	e.Apply(l, &ev, NoSource)
	if d, _ := l.Decision("q/frac1"); !d.Suppressed || d.Reason != decision.Mastered {
		t.Fatalf("newer evidence after a lift: %+v", d)
	}
	e.Override(l, "video/9", true, day0+1_000_000, day0+30_000, NoSource)
	if d, _ := l.Decision("video/9"); !d.Suppressed || d.Reason != decision.Manual || d.Until != day0+1_000_000 {
		t.Fatalf("manual suppression: %+v", d)
	}
	e.Due(l, day0+1_000_000)
	if d, _ := l.Decision("video/9"); d.Suppressed || d.Reason != decision.Expired {
		t.Fatalf("manual suppression after its end: %+v", d)
	}
}

func TestOutOfOrder(t *testing.T) {
	e := newEngine(t, bkt(nil))
	l := e.NewLearner("L")
	a := answer("q/frac1", true, day0+10_000)
	b := answer("q/frac1", true, day0) // late: older timestamp, arrives second
	e.Apply(l, &a, NoSource)
	e.Apply(l, &b, NoSource)
	d, _ := l.Decision("q/frac1")
	if d.Evidence.Attempts != 2 {
		t.Fatalf("late statement not counted: %+v", d.Evidence)
	}
	if d.Evidence.LastPractice != day0+10_000 {
		t.Fatalf("last practice moved backwards to %d", d.Evidence.LastPractice)
	}
	if want := day0 + 10_000 + mastery.HalfLife(2, 0).Milliseconds(); d.Until != want {
		t.Fatalf("until %d, want %d (from the latest practice)", d.Until, want)
	}
}

func TestIdempotence(t *testing.T) {
	e := newEngine(t, nil)
	l := e.NewLearner("L")
	ev := answer("q/frac1", true, day0)
	if o := e.Apply(l, &ev, Source{Partition: 0, Offset: 5}); o != Applied {
		t.Fatal(o)
	}
	before := dump(l)
	if o := e.Apply(l, &ev, Source{Partition: 0, Offset: 6}); o != Duplicate {
		t.Fatalf("same id again: %v, want duplicate", o)
	}
	other := answer("q/frac1", false, day0+1)
	if o := e.Apply(l, &other, Source{Partition: 0, Offset: 6}); o != Stale {
		t.Fatalf("offset already applied: %v, want stale", o)
	}
	if o := e.Apply(l, &other, Source{Partition: 0, Offset: 3}); o != Stale {
		t.Fatalf("older offset: %v, want stale", o)
	}
	if got := dump(l); got != before {
		t.Fatalf("state changed:\n%s\nwant\n%s", got, before)
	}
	if o := e.Apply(l, &other, Source{Partition: 1, Offset: 3}); o != Applied {
		t.Fatalf("another partition's offset: %v, want applied", o)
	}
}

// dump renders the model state of a learner (cells with evidence), for
// comparing states that should be equal.
func dump(l *Learner) string {
	var b strings.Builder
	e := l.eng
	for _, i := range sortedItems(l) {
		it := &l.items[i]
		if it.st == (itemState{}) {
			continue
		}
		set := []string{}
		for _, s := range e.sets[it.st.set] {
			set = append(set, e.skills[s].name)
		}
		fmt.Fprintf(&b, "item %s %v %+v\n", e.contents[it.content].name, set, stateView(&it.st))
	}
	for _, i := range sortedSkills(l) {
		sc := &l.skills[i]
		if sc.m == (cell{}) {
			continue
		}
		fmt.Fprintf(&b, "skill %s %+v\n", e.skills[sc.skill].name, cellView(&sc.m))
	}
	return b.String()
}

// cellShown and stateShown print a cell and an item state as %+v printed
// them when P(known) was a float64 field (the version 3 fixture's dump).
type cellShown struct {
	pk                        float64
	last, lastWrong           uint32
	ewma, ability             float32
	attempts, correct, streak uint16
	flags                     uint8
}

type stateShown struct {
	m                            cellShown
	set, completedAt, feedbackAt uint32
	rating                       float32
	g                            eng
}

func cellView(c *cell) cellShown {
	return cellShown{c.pKnown(), c.last, c.lastWrong, c.ewma, c.ability, c.attempts, c.correct, c.streak, c.flags}
}

func stateView(st *itemState) stateShown {
	return stateShown{cellView(&st.m), st.set, st.completedAt, st.feedbackAt, st.rating, st.g}
}

func sortedItems(l *Learner) []int {
	idx := make([]int, len(l.items))
	for i := range idx {
		idx[i] = i
	}
	for i := 1; i < len(idx); i++ {
		for j := i; j > 0 && l.eng.contents[l.items[idx[j]].content].name < l.eng.contents[l.items[idx[j-1]].content].name; j-- {
			idx[j], idx[j-1] = idx[j-1], idx[j]
		}
	}
	return idx
}

func sortedSkills(l *Learner) []int {
	idx := make([]int, len(l.skills))
	for i := range idx {
		idx[i] = i
	}
	for i := 1; i < len(idx); i++ {
		for j := i; j > 0 && l.eng.skills[l.skills[idx[j]].skill].name < l.eng.skills[l.skills[idx[j-1]].skill].name; j-- {
			idx[j], idx[j-1] = idx[j-1], idx[j]
		}
	}
	return idx
}

var contents = []string{"q/frac1", "q/frac2", "q/both", "q/cold", "q/hard", "video/1", "free/1"}

// stream makes n random statements for one learner.
func stream(r *rand.Rand, learner string, n int, t0 int64) []schema.Evidence {
	out := make([]schema.Evidence, n)
	for i := range out {
		c := contents[r.IntN(len(contents))]
		at := (t0 + int64(i)*int64(r.IntN(3_600_000)+1)) * 1e6
		if r.IntN(10) == 0 {
			at -= 2 * 3_600_000 * 1e6 // late statement
		}
		ev := schema.Evidence{ID: newID(), Learner: learner, Content: c, Time: at}
		switch k := r.IntN(25); {
		case k < 12:
			ev.Kind, ev.HasSuccess, ev.Success = schema.KindAttempt, true, r.IntN(3) > 0
		case k < 15:
			ev.Kind, ev.HasScore, ev.Scaled = schema.KindAttempt, true, r.Float64()
		case k < 16:
			ev.Kind, ev.HasCompletion, ev.Completion, ev.HasSuccess, ev.Success = schema.KindCompletion, true, true, true, r.IntN(2) == 0
		case k < 17:
			ev.Kind, ev.HasScore, ev.Scaled = schema.KindRating, true, float64(r.IntN(5))/4
		case k < 18:
			ev.Kind = schema.KindDislike
		case k < 20:
			ev.Kind, ev.Duration = schema.KindExperience, int64(r.IntN(600))*1e9
		case k < 21:
			ev.Kind, ev.Verb = schema.KindLaunch, "http://adlnet.gov/expapi/verbs/launched"
		case k < 23:
			ev.Kind, ev.HasProgress, ev.Progress, ev.Duration = schema.KindProgress, true, r.Float64(), int64(r.IntN(90_000))*1e6
			ev.Verb = "http://adlnet.gov/expapi/verbs/progressed"
		case k < 24:
			ev.Kind, ev.Verb = schema.KindOther, "http://adlnet.gov/expapi/verbs/commented"
		default:
			ev.Kind, ev.HasCompletion, ev.Completion = schema.KindCompletion, true, r.IntN(2) == 0
		}
		if c == "free/1" {
			ev.Skills = []string{"stmt-skill", "fractions"}
		}
		out[i] = ev
	}
	return out
}

func TestVoidingIsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		e := newEngine(t, func(c *Config) { c.Window = 4 + trial%8 })
		evs := stream(r, "L", 5+r.IntN(40), day0)
		// Void a statement among the last Window ones (always inside the window).
		w := e.cfg.Window
		j := len(evs) - 1 - r.IntN(min(w, len(evs)))
		void := schema.Evidence{ID: newID(), Learner: "L", Kind: schema.KindVoid, Voids: evs[j].ID, Time: evs[len(evs)-1].Time}

		withVoid := e.NewLearner("L")
		if trial%3 == 0 { // the 16-bit epoch wraps while the window fills
			withVoid.epoch = math.MaxUint16 - uint16(r.IntN(3))
		}
		for i := range evs {
			e.Apply(withVoid, &evs[i], NoSource)
		}
		if o := e.Apply(withVoid, &void, NoSource); o != Applied {
			t.Fatalf("trial %d: void outcome %v", trial, o)
		}
		clean := e.NewLearner("L2")
		for i := range evs {
			if i != j {
				e.Apply(clean, &evs[i], NoSource)
			}
		}
		if a, b := dump(withVoid), dump(clean); a != b {
			t.Fatalf("trial %d (window %d, voided #%d of %d, kind %v): state after void\n%s\nwant (never arrived)\n%s",
				trial, w, j, len(evs), evs[j].Kind, a, b)
		}
		// Decisions agree too, as readers see them at the void's time (a
		// suppression whose Until passed counts as none), except for the
		// reason a suppression ended.
		now := void.Time / 1e6
		effective := func(d decision.Decision) bool { return d.Suppressed && (d.Until == 0 || d.Until > now) }
		for _, c := range contents {
			d1, ok1 := withVoid.Decision(c)
			d2, ok2 := clean.Decision(c)
			if ok2 && (!ok1 || effective(d1) != effective(d2) || effective(d1) && d1.Until != d2.Until) {
				t.Fatalf("trial %d: %s after void %+v, never arrived %+v", trial, c, d1, d2)
			}
		}
		// The voided statement arriving again is a duplicate: every
		// statement about a content is kept in the window (engagement).
		if o := e.Apply(withVoid, &evs[j], NoSource); o != Duplicate {
			t.Fatalf("trial %d: voided statement again: %v, want duplicate", trial, o)
		}
	}
}

func TestVoidBeforeStatementAndOutsideWindow(t *testing.T) {
	e := newEngine(t, func(c *Config) { c.Window = 2 })
	l := e.NewLearner("L")
	a := answer("q/frac1", true, day0)
	v := schema.Evidence{ID: newID(), Kind: schema.KindVoid, Voids: a.ID, Time: day0 * 1e6}
	if o := e.Apply(l, &v, NoSource); o != VoidUnmatched {
		t.Fatalf("void before its statement: %v", o)
	}
	if o := e.Apply(l, &a, NoSource); o != Voided {
		t.Fatalf("statement after its void: %v, want voided", o)
	}
	if d, ok := l.Decision("q/frac1"); ok && d.Evidence.Attempts != 0 {
		t.Fatalf("voided statement counted: %+v", d)
	}
	old := answer("q/frac2", true, day0)
	e.Apply(l, &old, NoSource)
	for i := range 6 {
		ev := answer("q/hard", true, day0+int64(i))
		e.Apply(l, &ev, NoSource)
	}
	v2 := schema.Evidence{ID: newID(), Kind: schema.KindVoid, Voids: old.ID, Time: day0 * 1e6}
	if o := e.Apply(l, &v2, NoSource); o != VoidUnmatched {
		t.Fatalf("void of a statement older than the window: %v, want void_unmatched", o)
	}
	if d, _ := l.Decision("q/frac2"); d.Evidence.Attempts != 1 {
		t.Fatalf("out-of-window void changed state: %+v", d.Evidence)
	}
}

func TestMarshalResumeEqualsCleanPass(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 100 {
		evs := stream(r, "L", 10+r.IntN(60), day0)
		if r.IntN(2) == 0 { // some voids
			k := len(evs) / 2
			evs = append(evs[:k+1], evs[k:]...)
			evs[k] = schema.Evidence{ID: newID(), Learner: "L", Kind: schema.KindVoid, Voids: evs[k-1-r.IntN(3)].ID, Time: evs[k].Time}
		}
		src := func(i int) Source { return Source{Partition: 2, Offset: int64(100 + i)} }
		e1 := newEngine(t, nil)
		clean := e1.NewLearner("L")
		for i := range evs {
			e1.Apply(clean, &evs[i], src(i))
		}
		want, _ := clean.MarshalBinary()

		e2 := newEngine(t, nil)
		l := e2.NewLearner("L")
		cut := r.IntN(len(evs))
		for i := range evs[:cut] {
			e2.Apply(l, &evs[i], src(i))
		}
		data, err := l.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		e3 := newEngine(t, nil) // a fresh process: different intern tables
		for _, c := range []string{"zzz", "q/cold", "video/1"} {
			e3.contentID(c)
		}
		l2, err := e3.LoadLearner("L", data)
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		again, _ := l2.MarshalBinary()
		if string(again) != string(data) {
			t.Fatalf("trial %d: round trip changed the encoding", trial)
		}
		// Redelivery from an earlier offset.
		from := max(0, cut-r.IntN(10))
		for i := from; i < len(evs); i++ {
			e3.Apply(l2, &evs[i], src(i))
		}
		got, _ := l2.MarshalBinary()
		if string(got) != string(want) {
			t.Fatalf("trial %d (cut %d, resumed from %d): state differs from a clean pass\n%s\nwant\n%s", trial, cut, from, dump(l2), dump(clean))
		}
	}
}

func TestDeterminismAcrossInterleavings(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	perLearner := map[string][]schema.Evidence{}
	var keys []string
	for i := range 20 {
		k := fmt.Sprintf("learner%02d", i)
		keys = append(keys, k)
		perLearner[k] = stream(r, k, 30+r.IntN(30), day0)
	}
	run := func(seed uint64) map[string]string {
		rr := rand.New(rand.NewPCG(seed, seed))
		e := newEngine(t, nil)
		ls := map[string]*Learner{}
		pos := map[string]int{}
		var order []string
		for _, k := range keys {
			for range perLearner[k] {
				order = append(order, k)
			}
		}
		rr.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, k := range order {
			if ls[k] == nil {
				ls[k] = e.NewLearner(k)
			}
			e.Apply(ls[k], &perLearner[k][pos[k]], NoSource)
			pos[k]++
		}
		out := map[string]string{}
		for k, l := range ls {
			b, _ := l.MarshalBinary()
			out[k] = string(b)
		}
		return out
	}
	want := run(1)
	for seed := uint64(2); seed < 6; seed++ {
		got := run(seed)
		for _, k := range keys {
			if got[k] != want[k] {
				t.Fatalf("interleaving %d: learner %s differs", seed, k)
			}
		}
	}
}

func TestApplyOddInput(t *testing.T) {
	e := newEngine(t, nil)
	l := e.NewLearner("L")
	for _, ev := range []schema.Evidence{
		{Kind: schema.KindAttempt, HasScore: true, Scaled: math.NaN(), Content: "x"},
		{Kind: schema.KindAttempt, HasScore: true, Scaled: math.Inf(1), Content: "x"},
		{Kind: schema.KindAttempt, HasScore: true, Scaled: -5, Content: "x", Time: math.MinInt64},
		{Kind: schema.Kind(200), Content: "x"},
		{Kind: schema.KindVoid},
		{Kind: schema.KindAttempt, HasSuccess: true, Content: ""},
		{Kind: schema.KindAttempt, HasSuccess: true, Content: "y", Skills: []string{"", "a", "a"}},
	} {
		e.Apply(l, &ev, NoSource)
	}
	if _, err := l.MarshalBinary(); err != nil {
		t.Fatal(err)
	}
}

func FuzzUnmarshal(f *testing.F) {
	e := newEngine(f, nil)
	l := e.NewLearner("L")
	r := rand.New(rand.NewPCG(7, 8))
	for i, ev := range stream(r, "L", 40, day0) {
		e.Apply(l, &ev, Source{Partition: 1, Offset: int64(i)})
	}
	good, _ := l.MarshalBinary()
	f.Add(good)
	f.Add([]byte("UP\x02"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := e.NewLearner("L")
		if err := n.UnmarshalBinary(data); err != nil {
			return
		}
		ev := answer("q/frac1", true, day0)
		e.Apply(n, &ev, Source{Partition: 1, Offset: math.MaxInt64})
		void := schema.Evidence{ID: newID(), Kind: schema.KindVoid, Voids: ev.ID}
		e.Apply(n, &void, NoSource)
		e.Due(n, math.MaxInt64)
		var ch Changes
		n.Changes(&ch)
		if _, err := n.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestUnmarshalRejectsCorruption(t *testing.T) {
	e := newEngine(t, nil)
	l := e.NewLearner("L")
	r := rand.New(rand.NewPCG(9, 9))
	for i, ev := range stream(r, "L", 30, day0) {
		e.Apply(l, &ev, Source{Partition: 1, Offset: int64(i)})
	}
	good, _ := l.MarshalBinary()
	for _, bad := range [][]byte{nil, []byte("XX\x02"), []byte("UP\x01"), []byte("UP\x03"), good[:len(good)-1], append(append([]byte{}, good...), 0)} {
		if err := e.NewLearner("L").UnmarshalBinary(bad); err == nil || !strings.Contains(err.Error(), "corrupt learner state") {
			t.Errorf("%d bytes: err %v, want corrupt learner state", len(bad), err)
		}
	}
	if _, err := e.LoadLearner("other", good); err == nil {
		t.Error("state of another learner key accepted")
	}
}

func TestOffsetsAndOverridesSurviveMarshal(t *testing.T) {
	e := newEngine(t, nil)
	l := e.NewLearner("L")
	for i, p := range []int32{3, 1, 3, 7, -2} {
		ev := answer("q/frac1", i%2 == 0, day0+int64(i)*60_000)
		if o := e.Apply(l, &ev, Source{Partition: p, Offset: int64(10 * (i + 1))}); o != Applied {
			t.Fatalf("partition %d: %v", p, o)
		}
	}
	e.Override(l, "video/1", true, day0+86_400_000, day0+600_000, NoSource)
	e.Override(l, "q/frac1", false, 0, day0+600_000, NoSource)
	want := []Source{{Partition: 3, Offset: 30}, {Partition: 1, Offset: 20}, {Partition: 7, Offset: 40}, {Partition: -2, Offset: 50}}
	data, _ := l.MarshalBinary()
	l2, err := newEngine(t, nil).LoadLearner("L", data)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []*Learner{l, l2} {
		if got := x.Offsets(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("offsets %v, want %v", got, want)
		}
		for _, c := range []string{"video/1", "q/frac1"} {
			d1, _ := l.Decision(c)
			d2, _ := x.Decision(c)
			if fmt.Sprint(d1) != fmt.Sprint(d2) {
				t.Fatalf("%s: %+v after load, want %+v", c, d2, d1)
			}
		}
		ev := answer("q/frac2", true, day0)
		if o := x.eng.Apply(x, &ev, Source{Partition: 1, Offset: 20}); o != Stale {
			t.Fatalf("replayed offset: %v, want stale", o)
		}
	}
	if d, _ := l2.Decision("video/1"); !d.Suppressed || d.Reason != decision.Manual || d.Until != day0+86_400_000 {
		t.Fatalf("manual suppression after load: %+v", d)
	}
	id := l2.eng.contentIDs["q/frac1"]
	i, _ := l2.findItem(id)
	if m := l2.manualOf(id); m == nil || l2.items[i].bits&iManualLift == 0 || m.at != secs(day0+600_000) {
		t.Fatalf("lift after load: %+v", m)
	}
}

func TestNewerFormatIsNotCorrupt(t *testing.T) {
	e := newEngine(t, nil)
	l := e.NewLearner("L")
	ev := answer("q/frac1", true, day0)
	e.Apply(l, &ev, Source{Partition: 1, Offset: 1})
	good, _ := l.MarshalBinary()
	f := func(version byte, wantNewer bool) {
		t.Helper()
		data := append([]byte(nil), good...)
		data[2] = version
		_, err := e.LoadLearner("L", data)
		if got := errors.Is(err, ErrNewerFormat); got != wantNewer {
			t.Errorf("version %d: err %v, ErrNewerFormat %v, want %v", version, err, got, wantNewer)
		}
		if wantNewer && strings.Contains(fmt.Sprint(err), "corrupt") {
			t.Errorf("version %d: %v reads as corrupt", version, err)
		}
		target := e.NewLearner("L")
		before, _ := target.MarshalBinary()
		if err := target.UnmarshalBinary(data); wantNewer && !errors.Is(err, ErrNewerFormat) {
			t.Errorf("version %d: UnmarshalBinary err %v, want ErrNewerFormat", version, err)
		}
		if after, _ := target.MarshalBinary(); wantNewer && !bytes.Equal(before, after) {
			t.Errorf("version %d: the learner changed on a refused state", version)
		}
	}
	f(codecVersion, false)
	f(codecVersion+1, true)
	f(255, true)
	f(2, false) // older, never deployed: corrupt, not newer
}
