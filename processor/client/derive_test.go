package client

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/mastery"
	"github.com/unpair/unpair/processor/store"
)

const day = int64(24 * time.Hour / time.Millisecond)

// skillFixture is a learner with stored skill states, a few stored
// decisions, and a catalog over them; now is env.now (1_700_000_000_000).
type skillFixture struct {
	e   *env
	rdb redis.UniversalClient
	key string
	cat *catalog.Catalog
}

func testCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	snap, err := catalog.New(catalog.Defaults{}, nil, []catalog.Item{
		{Content: "frac-1", Skills: []string{"fractions"}},
		{Content: "frac-2", Skills: []string{"fractions"}},
		{Content: "frac-dec", Skills: []string{"fractions", "decimals"}},
		{Content: "frac-geo", Skills: []string{"fractions", "geometry"}},
		{Content: "geo-1", Skills: []string{"geometry"}},
		{Content: "old-1", Skills: []string{"oldskill"}},
		{Content: "eager-1", Skills: []string{"eager"}},
		{Content: "elo-easy", Skills: []string{"algebra"}, Difficulty: -2},
		{Content: "elo-hard", Skills: []string{"algebra"}, Difficulty: 3},
		{Content: "streak-1", Skills: []string{"counting"}},
		{Content: "no-skills"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return catalog.NewCatalog(snap)
}

// testSkills are the learner's skill states, relative to now (unix ms).
func testSkills(now int64) map[string]mastery.Skill {
	sec := func(ms int64) int64 { return ms / 1000 * 1000 }
	return map[string]mastery.Skill{
		// review due: last + 2^4 days = now + 15 days
		"fractions": {Model: "bkt", Threshold: 0.95, Eligible: true, Value: 0.97, Attempts: 4, Correct: 4, Streak: 4, Last: sec(now - day)},
		// review due: last + 2^(5-1) days = now + 14 days
		"decimals": {Model: "bkt", Threshold: 0.95, Eligible: true, Value: 0.99, Attempts: 6, Correct: 5, Streak: 3, Last: sec(now - 2*day), LastWrong: sec(now - 5*day)},
		// review due: last + 2 days = 8 days ago
		"oldskill": {Model: "bkt", Threshold: 0.95, Eligible: true, Value: 0.99, Attempts: 1, Correct: 1, Streak: 1, Last: sec(now - 10*day)},
		// estimate over the bar, but too few attempts
		"eager": {Model: "bkt", Threshold: 0.95, Eligible: false, Value: 0.99, Attempts: 1, Correct: 1, Streak: 1, Last: sec(now - day)},
		// ability 1: P(correct) 0.95 at difficulty -2, 0.12 at 3
		"algebra":  {Model: "elo", Threshold: 0.8, Eligible: true, Value: 1, Attempts: 5, Correct: 5, Streak: 5, Last: sec(now - day)},
		"counting": {Model: "streak", Threshold: 3, Eligible: true, Value: 3, Attempts: 3, Correct: 3, Streak: 3, Last: sec(now - day)},
	}
}

func newSkillFixture(t testing.TB, rdb redis.UniversalClient, prefix string, withCatalog bool) *skillFixture {
	t.Helper()
	f := &skillFixture{e: newEnv(t, rdb, prefix), rdb: rdb, cat: testCatalog(t)}
	now := f.e.now.UnixMilli()
	if withCatalog {
		c, err := New(rdb, Options{Secret: secret, Prefix: prefix, Now: func() time.Time { return f.e.now }, Catalog: f.cat})
		if err != nil {
			t.Fatal(err)
		}
		f.e.c = c
	}
	key, err := f.e.c.Key(alice)
	if err != nil {
		t.Fatal(err)
	}
	f.key = key
	var skills []store.Field
	for name, s := range testSkills(now) {
		skills = append(skills, store.Field{Name: name, Value: string(mastery.AppendSkill(nil, &s))})
	}
	_, err = f.e.st.WriteBatch(context.Background(), []store.LearnerWrite{{Learner: key, Offset: 1, Skills: skills, Decisions: []decision.Decision{
		// touched: a wrong answer lifted it although the skill is mastered now
		{Content: "frac-2", Reason: decision.WrongAnswer, Explanation: "you missed one"},
		// touched: completed, although its skill is unknown
		sup("geo-1", decision.Completed, now+day),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestDerivedDecisions(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	derivedSuite(t, rdb, "dtest")
}

// derivedSuite runs the read-time rule against one Redis deployment.
func derivedSuite(t *testing.T, rdb redis.UniversalClient, prefix string) {
	ctx := context.Background()
	f := newSkillFixture(t, rdb, prefix, true)
	plain := newSkillFixture(t, rdb, prefix+"-plain", false)
	now := f.e.now.UnixMilli()

	type want struct {
		active, derived bool
		decision        bool   // a decision is returned
		reason          string // of the decision
	}
	for _, tc := range []struct {
		name, content string
		c             *Client
		want          want
	}{
		{"untouched content of a mastered skill is suppressed", "frac-1", f.e.c, want{true, true, true, "mastered"}},
		{"all skills mastered", "frac-dec", f.e.c, want{true, true, true, "mastered"}},
		{"touched decision wins over mastered skills", "frac-2", f.e.c, want{false, false, true, "wrong_answer"}},
		{"touched decision wins over unknown skills", "geo-1", f.e.c, want{true, false, true, "completed"}},
		{"one skill unknown", "frac-geo", f.e.c, want{false, false, false, ""}},
		{"review due passed", "old-1", f.e.c, want{false, true, true, "mastered"}},
		{"not eligible", "eager-1", f.e.c, want{false, false, false, ""}},
		{"elo: easy item", "elo-easy", f.e.c, want{true, true, true, "mastered"}},
		{"elo: difficulty too high", "elo-hard", f.e.c, want{false, false, false, ""}},
		{"streak model", "streak-1", f.e.c, want{true, true, true, "mastered"}},
		{"catalog item without skills", "no-skills", f.e.c, want{false, false, false, ""}},
		{"content not in catalog", "unknown", f.e.c, want{false, false, false, ""}},
		{"without Catalog option", "frac-1", plain.e.c, want{false, false, false, ""}},
		{"without Catalog option, stored decision", "geo-1", plain.e.c, want{true, false, true, "completed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, err := tc.c.Explain(ctx, alice, tc.content)
			if err != nil {
				t.Fatal(err)
			}
			got := want{x.Active, x.Derived, x.Decision != nil, ""}
			if x.Decision != nil {
				got.reason = string(x.Decision.Reason)
			}
			if got != tc.want || x.Found != (x.Decision != nil && !x.Derived) {
				t.Fatalf("Explain(%s) = %+v (found %v), want %+v", tc.content, got, x.Found, tc.want)
			}
			ok, d, err := tc.c.Suppressed(ctx, alice, tc.content)
			if err != nil || ok != tc.want.active || (d != nil) != tc.want.decision {
				t.Fatalf("Suppressed(%s) = %v, %+v, %v; want %v", tc.content, ok, d, err, tc.want.active)
			}
			allowed, suppressed, err := tc.c.Filter(ctx, alice, []string{tc.content})
			if err != nil || len(allowed)+len(suppressed) != 1 || (len(suppressed) == 1) != tc.want.active {
				t.Fatalf("Filter(%s) = %v, %+v, %v", tc.content, allowed, suppressed, err)
			}
			if len(suppressed) == 1 && suppressed[0].Derived != tc.want.derived {
				t.Fatalf("Filter(%s): derived %v, want %v", tc.content, suppressed[0].Derived, tc.want.derived)
			}
		})
	}

	t.Run("derived decision content", func(t *testing.T) {
		sk := testSkills(now)
		x, err := f.e.c.Explain(ctx, alice, "frac-dec")
		if err != nil {
			t.Fatal(err)
		}
		d := x.Decision
		// The weakest is fractions (0.97 < 0.99); the earliest review
		// decimals' (now + 14 days); the latest practice fractions'.
		fr, de := sk["fractions"], sk["decimals"]
		if d.Content != "frac-dec" || !d.Suppressed || d.Since != fr.Last || d.Until != de.ReviewDue() || d.Until != de.Last+16*day {
			t.Fatalf("decision = %+v", d)
		}
		ev := d.Evidence
		if ev.Attempts != 4 || ev.Correct != 4 || ev.Streak != 4 || ev.PKnown != 0.97 || ev.Model != "bkt" ||
			strings.Join(ev.Skills, ",") != "fractions,decimals" || ev.LastPractice != fr.Last {
			t.Fatalf("evidence = %+v", ev)
		}
		if want := "Mastered its skills: 97% sure you know fractions (the weakest of its 2 skills), after all 4 of your answers correct; review due 28 Nov 2023."; d.Explanation != want {
			t.Fatalf("explanation = %q, want %q", d.Explanation, want)
		}
		x, _ = f.e.c.Explain(ctx, alice, "elo-easy")
		if want := "Mastered its skills: 95% chance you'd answer this right, after all 5 of your answers correct on algebra; review due "; !strings.HasPrefix(x.Decision.Explanation, want) {
			t.Fatalf("elo explanation = %q, want prefix %q", x.Decision.Explanation, want)
		}
		x, _ = f.e.c.Explain(ctx, alice, "streak-1")
		if ev := x.Decision.Evidence; ev.PKnown != 0 || ev.Streak != 3 || ev.Model != "streak" ||
			!strings.HasPrefix(x.Decision.Explanation, "Mastered its skills: 3 correct in a row, after all 3 of your answers correct on counting;") {
			t.Fatalf("streak decision = %+v", x.Decision)
		}
		// The evidence does not share the catalog's slice.
		d.Evidence.Skills[0] = "changed"
		if it, _ := f.cat.Snapshot().Item("frac-dec"); it.Skills[0] != "fractions" {
			t.Fatal("derived decision shares the catalog's skills slice")
		}
	})

	t.Run("review falls due as time passes", func(t *testing.T) {
		saved := f.e.now
		defer func() { f.e.now = saved }()
		fr := testSkills(now)["fractions"]
		until := fr.ReviewDue()
		f.e.now = time.UnixMilli(until - 1)
		if ok, _, err := f.e.c.Suppressed(ctx, alice, "frac-1"); err != nil || !ok {
			t.Fatalf("1 ms before review due: %v, %v", ok, err)
		}
		f.e.now = time.UnixMilli(until)
		if ok, d, err := f.e.c.Suppressed(ctx, alice, "frac-1"); err != nil || ok || d == nil || d.Until != until {
			t.Fatalf("at review due: %v, %+v, %v", ok, d, err)
		}
	})

	t.Run("catalog changes apply at once", func(t *testing.T) {
		cat := testCatalog(t)
		c, err := New(rdb, Options{Secret: secret, Prefix: prefix, Now: func() time.Time { return f.e.now }, Catalog: cat})
		if err != nil {
			t.Fatal(err)
		}
		if ok, _, _ := c.Suppressed(ctx, alice, "frac-1"); !ok {
			t.Fatal("frac-1 not suppressed")
		}
		if err := cat.Apply(catalog.Update{Kind: catalog.UpdateItem, Key: "frac-1", Item: catalog.Item{Content: "frac-1", Skills: []string{"fractions", "geometry"}}}); err != nil {
			t.Fatal(err)
		}
		if ok, _, _ := c.Suppressed(ctx, alice, "frac-1"); ok {
			t.Fatal("frac-1 still suppressed after gaining an unknown skill")
		}
	})

	t.Run("Filter: order, derived marks, one round trip", func(t *testing.T) {
		contents := []string{"unknown", "frac-1", "frac-2", "geo-1", "frac-geo", "old-1", "elo-easy", "elo-hard", "frac-dec", "no-skills"}
		before := f.e.calls.Load()
		allowed, suppressed, err := f.e.c.Filter(ctx, alice, contents)
		if err != nil {
			t.Fatal(err)
		}
		if n := f.e.calls.Load() - before; n != 1 {
			t.Fatalf("Filter sent %d round trips, want 1", n)
		}
		if got := strings.Join(allowed, ","); got != "unknown,frac-2,frac-geo,old-1,elo-hard,no-skills" {
			t.Fatalf("allowed = %s", got)
		}
		var got []string
		for _, s := range suppressed {
			m := s.Content + "/" + string(s.Reason)
			if s.Derived {
				m += "/derived"
			}
			got = append(got, m)
		}
		if strings.Join(got, ",") != "frac-1/mastered/derived,geo-1/completed,elo-easy/mastered/derived,frac-dec/mastered/derived" {
			t.Fatalf("suppressed = %v", got)
		}
	})

	t.Run("one round trip each", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			call func() error
		}{
			{"Suppressed", func() error { _, _, err := f.e.c.Suppressed(ctx, alice, "frac-dec"); return err }},
			{"Explain", func() error { _, err := f.e.c.Explain(ctx, alice, "frac-dec"); return err }},
			{"Filter", func() error { _, _, err := f.e.c.Filter(ctx, alice, []string{"frac-dec", "elo-easy", "x"}); return err }},
			{"Suppressed without catalog", func() error { _, _, err := plain.e.c.Suppressed(ctx, alice, "frac-dec"); return err }},
			{"Explain without catalog", func() error { _, err := plain.e.c.Explain(ctx, alice, "frac-dec"); return err }},
		} {
			e := f.e
			if strings.HasSuffix(tc.name, "without catalog") {
				e = plain.e
			}
			before := e.calls.Load()
			if err := tc.call(); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if n := e.calls.Load() - before; n != 1 {
				t.Fatalf("%s sent %d round trips, want 1", tc.name, n)
			}
		}
	})

	t.Run("unreadable skill counts as never practised, and is counted", func(t *testing.T) {
		bad := newSkillFixture(t, rdb, prefix+"-bad", true)
		for i, v := range []string{"1|bkt|0.95|1|nan|1|1|1|0|0", "2|elo|0.7|1|3|5|5|5|1000|0|new-field"} {
			if err := rdb.HSet(ctx, bad.e.c.schema.Keys(bad.key).Skills, "decimals", v).Err(); err != nil {
				t.Fatal(err)
			}
			allowed, sup, err := bad.e.c.Filter(ctx, alice, []string{"frac-dec"})
			if err != nil || len(sup) != 0 || len(allowed) != 1 {
				t.Fatalf("value %q: Filter = %v allowed, %v suppressed, %v; want frac-dec allowed", v, allowed, sup, err)
			}
			if n := bad.e.c.UnreadableSkills(); n != uint64(i+1) {
				t.Fatalf("value %q: UnreadableSkills = %d, want %d", v, n, i+1)
			}
		}
		// Contents that do not need the skill are still answered.
		if ok, _, err := bad.e.c.Suppressed(ctx, alice, "frac-1"); err != nil || !ok {
			t.Fatalf("Suppressed(frac-1) = %v, %v", ok, err)
		}
	})
}

func TestSkillLabel(t *testing.T) {
	for id, want := range map[string]string{
		"fractions": "fractions",
		"https://lms.example.edu/competencies/addition-and-subtraction-of-integers": "addition and subtraction of integers",
		"https://lms.example.edu/competencies/adding_fractions/":                    "adding fractions",
		"https://ex.org/skills/ratios%20and%20rates":                                "ratios and rates",
		"https://ex.org/": "https://ex.org/",
		"urn:skill:42":    "urn:skill:42",
	} {
		if got := skillLabel(id); got != want {
			t.Errorf("skillLabel(%q) = %q, want %q", id, got, want)
		}
	}
}
