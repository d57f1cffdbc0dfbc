package simulate

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/unpair/unpair/processor/catalog"
)

func cohort(t *testing.T, cfg Config) ([]Message, *Catalog, Stats) {
	t.Helper()
	msgs, cat, st, err := Cohort(cfg)
	if err != nil {
		t.Fatalf("Cohort: %v", err)
	}
	if len(msgs) == 0 {
		t.Fatal("Cohort produced no messages")
	}
	return msgs, cat, st
}

// stmt is the part of a statement the tests look at.
type stmt struct {
	ID    string `json:"id"`
	Actor struct {
		Mbox    string `json:"mbox"`
		Account struct {
			HomePage string `json:"homePage"`
			Name     string `json:"name"`
		} `json:"account"`
	} `json:"actor"`
	Verb   struct{ ID string } `json:"verb"`
	Object struct {
		ObjectType string `json:"objectType"`
		ID         string `json:"id"`
	} `json:"object"`
	Result *struct {
		Success *bool `json:"success"`
		Score   *struct {
			Scaled *float64 `json:"scaled"`
			Raw    *float64 `json:"raw"`
		} `json:"score"`
		Extensions map[string]float64 `json:"extensions"`
	} `json:"result"`
	Context struct {
		ContextActivities struct {
			Category []struct{ ID string } `json:"category"`
		} `json:"contextActivities"`
	} `json:"context"`
	Timestamp time.Time `json:"timestamp"`
}

func decode(t *testing.T, m Message) stmt {
	t.Helper()
	var s stmt
	if err := json.Unmarshal(m.Value, &s); err != nil {
		t.Fatalf("valid message does not decode: %v\n%s", err, m.Value)
	}
	return s
}

func TestSameSeedSameBytes(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Learners, cfg.Sessions = 30, 120
	a, _, sa := cohort(t, cfg)
	b, _, sb := cohort(t, cfg)
	if len(a) != len(b) || sa != sb {
		t.Fatalf("same seed: %d vs %d messages, stats %+v vs %+v", len(a), len(b), sa, sb)
	}
	for i := range a {
		if !bytes.Equal(a[i].Value, b[i].Value) || !bytes.Equal(a[i].Key, b[i].Key) || !a[i].Time.Equal(b[i].Time) {
			t.Fatalf("same seed: message %d differs:\n%s\n%s", i, a[i].Value, b[i].Value)
		}
	}
	cfg.Seed++
	c, _, _ := cohort(t, cfg)
	if len(c) == len(a) && bytes.Equal(c[0].Value, a[0].Value) {
		t.Fatal("a different seed gave the same cohort")
	}
}

func TestEveryStatementIsValidUnlessDefective(t *testing.T) {
	cfg := DefaultConfig()
	cfg.InvalidShare = 0.05 // enough of each defect
	msgs, _, st := cohort(t, cfg)
	seen := map[Defect]int{}
	for i, m := range msgs {
		err := checkStatement(m.Value)
		if m.Defect == "" && err != nil {
			t.Fatalf("message %d is meant valid but %v:\n%s", i, err, m.Value)
		}
		if m.Defect != "" {
			if err == nil {
				t.Fatalf("message %d has defect %q but passes the check:\n%s", i, m.Defect, m.Value)
			}
			seen[m.Defect]++
		}
	}
	for _, d := range Defects {
		if seen[d] == 0 {
			t.Errorf("defect %q never produced in %d messages", d, len(msgs))
		}
	}
	if st.Invalid != sum(seen) {
		t.Errorf("Stats.Invalid = %d, messages with a defect = %d", st.Invalid, sum(seen))
	}
}

func sum(m map[Defect]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func TestSizesAreThoseOfARealLMS(t *testing.T) {
	msgs, _, _ := cohort(t, DefaultConfig())
	var lo, hi int = 1 << 30, 0
	for _, m := range msgs {
		if m.Defect != "" {
			continue
		}
		n := len(m.Value)
		lo, hi = min(lo, n), max(hi, n)
		if n < 1024 || n > 2048 {
			s := decode(t, m)
			t.Errorf("%s statement is %d bytes, want 1-2 KB", s.Verb.ID, n)
		}
	}
	t.Logf("valid statement sizes: %d..%d bytes", lo, hi)
}

func TestInvalidShareHonored(t *testing.T) {
	for _, share := range []float64{0, 0.02, 0.2} {
		cfg := DefaultConfig()
		cfg.InvalidShare = share
		msgs, _, _ := cohort(t, cfg)
		bad, primary := 0, 0
		for _, m := range msgs {
			if m.Duplicate {
				continue // duplicates repeat a valid statement
			}
			primary++
			if m.Defect != "" {
				bad++
			}
		}
		got := float64(bad) / float64(primary)
		if !within(got, share, primary, 4) {
			t.Errorf("InvalidShare %v: got %.4f of %d statements invalid", share, got, primary)
		}
	}
}

func TestTimeOrderDuplicatesAndVoids(t *testing.T) {
	cfg := DefaultConfig()
	cfg.VoidShare, cfg.DuplicateShare = 0.2, 0.05
	msgs, _, st := cohort(t, cfg)
	type prior struct {
		learner string
		value   []byte
	}
	byID := map[string]prior{}
	dups, voids := 0, 0
	for i, m := range msgs {
		if i > 0 && m.Time.Before(msgs[i-1].Time) {
			t.Fatalf("message %d at %v comes before message %d at %v", i, m.Time, i-1, msgs[i-1].Time)
		}
		if m.Defect != "" {
			continue
		}
		s := decode(t, m)
		if m.Duplicate {
			dups++
			p, ok := byID[s.ID]
			if !ok || !bytes.Equal(p.value, m.Value) {
				t.Fatalf("duplicate %d does not repeat an earlier statement byte for byte", i)
			}
			if !m.Time.After(s.Timestamp) {
				t.Errorf("duplicate %d sent at %v, not after its timestamp %v", i, m.Time, s.Timestamp)
			}
			continue
		}
		if _, ok := byID[s.ID]; ok {
			t.Fatalf("statement id %s reused by a message that is not a duplicate", s.ID)
		}
		if !m.Time.Equal(s.Timestamp) {
			t.Errorf("message %d: Time %v, timestamp %v", i, m.Time, s.Timestamp)
		}
		if s.Verb.ID == verbVoided.id {
			voids++
			p, ok := byID[s.Object.ID]
			if s.Object.ObjectType != "StatementRef" || !ok {
				t.Fatalf("void %d refers to %s %s, not an earlier statement", i, s.Object.ObjectType, s.Object.ID)
			}
			if p.learner != m.Learner {
				t.Errorf("void %d by %s voids a statement of %s", i, m.Learner, p.learner)
			}
		}
		byID[s.ID] = prior{m.Learner, m.Value}
	}
	if dups == 0 || voids == 0 || dups != st.Duplicates || voids != st.Voids {
		t.Errorf("duplicates %d (stats %d), voids %d (stats %d): want both > 0 and equal to Stats", dups, st.Duplicates, voids, st.Voids)
	}
}

func TestKeyModes(t *testing.T) {
	for _, mode := range []KeyMode{KeyLearner, KeyRandom, KeyNone} {
		cfg := DefaultConfig()
		cfg.Learners, cfg.Sessions, cfg.Keys = 20, 60, mode
		msgs, _, _ := cohort(t, cfg)
		distinct := map[string]bool{}
		for _, m := range msgs {
			distinct[string(m.Key)] = true
			switch mode {
			case KeyLearner:
				if string(m.Key) != m.Learner {
					t.Fatalf("learner key %q, learner %q", m.Key, m.Learner)
				}
				if !strings.HasPrefix(m.Learner, "account:https://lms.example.edu|u") && !strings.HasPrefix(m.Learner, "sha1:") {
					t.Fatalf("learner key %q is not a canonical account or mbox IFI", m.Key)
				}
			case KeyRandom:
				if len(m.Key) != 16 {
					t.Fatalf("random key %q, want 16 characters", m.Key)
				}
			case KeyNone:
				if m.Key != nil {
					t.Fatalf("key mode none gave key %q", m.Key)
				}
			}
		}
		switch {
		case mode == KeyLearner && len(distinct) > cfg.Learners:
			t.Errorf("learner keys: %d distinct for %d learners", len(distinct), cfg.Learners)
		case mode == KeyRandom && len(distinct) < len(msgs)*9/10:
			t.Errorf("random keys: only %d distinct in %d messages", len(distinct), len(msgs))
		}
	}
}

func TestZipfConcentratesActivity(t *testing.T) {
	top := func(dist Distribution) float64 {
		cfg := DefaultConfig()
		cfg.Learners, cfg.Sessions, cfg.Distribution = 1000, 3000, dist
		g, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		per := map[string]int{}
		n := 0
		for m, ok := g.Next(); ok; m, ok = g.Next() {
			per[m.Learner]++
			n++
		}
		counts := make([]int, 0, len(per))
		for _, c := range per {
			counts = append(counts, c)
		}
		slices.Sort(counts)
		slices.Reverse(counts)
		busiest := 0
		for _, c := range counts[:min(10, len(counts))] {
			busiest += c
		}
		return float64(busiest) / float64(n) // share of the 10 busiest learners
	}
	u, z := top(Uniform), top(Zipf)
	if u > 0.05 || z < 0.3 {
		t.Errorf("share of the 10 busiest of 1000 learners: uniform %.3f (want < 0.05), zipf %.3f (want > 0.3)", u, z)
	}
}

// TestLearnersLearnAndForget checks the latent model shows in the data: a
// learner's later answers on a skill are right more often than the first
// ones, and a short forgetting half-life lowers the share right.
func TestLearnersLearnAndForget(t *testing.T) {
	rates := func(halfLife time.Duration) (first, later, all float64) {
		cfg := DefaultConfig()
		cfg.Learners, cfg.Sessions, cfg.InvalidShare, cfg.DuplicateShare = 200, 2000, 0, 0
		cfg.ForgetHalfLife = halfLife
		msgs, cat, _ := cohort(t, cfg)
		skillOf := map[string]string{}
		for _, c := range cat.Content {
			skillOf[c.ID] = c.Skills[0]
		}
		n := map[string]int{}
		var f, fr, l, lr, a, ar int
		for _, m := range msgs {
			s := decode(t, m)
			if s.Verb.ID != verbAnswered.id {
				continue
			}
			k := m.Learner + " " + skillOf[s.Object.ID]
			n[k]++
			right := *s.Result.Success
			a++
			if right {
				ar++
			}
			switch {
			case n[k] <= 2:
				f++
				if right {
					fr++
				}
			case n[k] > 12:
				l++
				if right {
					lr++
				}
			}
		}
		if f == 0 || l == 0 {
			t.Fatalf("no first (%d) or later (%d) answers", f, l)
		}
		return float64(fr) / float64(f), float64(lr) / float64(l), float64(ar) / float64(a)
	}
	first, later, keep := rates(10000 * 24 * time.Hour)
	if later < first+0.25 {
		t.Errorf("share right: first answers %.2f, after 12 answers %.2f: want a clear rise", first, later)
	}
	_, _, forget := rates(time.Hour)
	if forget > keep-0.05 {
		t.Errorf("share right with 1h half-life %.2f, with no forgetting %.2f: want forgetting to show", forget, keep)
	}
}

func TestContentAndSkillsComeFromTheCatalog(t *testing.T) {
	msgs, cat, _ := cohort(t, DefaultConfig())
	skills := cat.SkillMap()
	if len(skills) != 8+160 {
		t.Fatalf("catalog has %d content items, want 8 lessons + 160 items", len(skills))
	}
	used := map[string]bool{}
	for _, m := range msgs {
		if m.Defect != "" {
			continue
		}
		s := decode(t, m)
		if s.Object.ObjectType == "StatementRef" {
			continue
		}
		want, ok := skills[s.Object.ID]
		if !ok {
			t.Fatalf("object %s is not in the catalog", s.Object.ID)
		}
		used[s.Object.ID] = true
		var got []string
		for _, c := range s.Context.ContextActivities.Category {
			got = append(got, c.ID)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("object %s carries skills %v, catalog says %v", s.Object.ID, got, want)
		}
	}
	if len(used) < len(skills)*3/4 {
		t.Errorf("only %d of %d content items used", len(used), len(skills))
	}
}

// TestCatalogLoadsIntoTheEngine: the file and the topic records are read
// back by processor/catalog with every item's skills intact.
func TestCatalogLoadsIntoTheEngine(t *testing.T) {
	_, cat, _ := cohort(t, DefaultConfig())
	check := func(how string, snap *catalog.Snapshot) {
		t.Helper()
		items, skills := snap.Len()
		if items != len(cat.Content) || skills != len(cat.Skills) {
			t.Fatalf("%s: %d items and %d skills, want %d and %d", how, items, skills, len(cat.Content), len(cat.Skills))
		}
		for _, c := range cat.Content {
			it, ok := snap.Item(c.ID)
			if !ok || !slices.Equal(it.Skills, c.Skills) || it.Difficulty != c.Difficulty {
				t.Fatalf("%s: item %s = %+v, want skills %v difficulty %v", how, c.ID, it, c.Skills, c.Difficulty)
			}
		}
	}
	var buf bytes.Buffer
	if err := cat.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	snap, err := catalog.ReadJSON(&buf)
	if err != nil {
		t.Fatalf("the engine rejects the catalog file: %v", err)
	}
	check("file", snap)

	recs, err := cat.Records()
	if err != nil {
		t.Fatal(err)
	}
	var ups []catalog.Update
	for _, r := range recs {
		u, err := catalog.ParseUpdate(r.Key, r.Value)
		if err != nil {
			t.Fatalf("record %s: %v", r.Key, err)
		}
		ups = append(ups, u)
	}
	snap, err = (*catalog.Snapshot)(nil).Apply(ups...)
	if err != nil {
		t.Fatalf("applying the topic records: %v", err)
	}
	check("topic records", snap)
}

func TestSessionShape(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Learners, cfg.Sessions, cfg.InvalidShare, cfg.DuplicateShare, cfg.AbandonShare = 10, 40, 0, 0, 0
	cfg.RatingShare, cfg.DislikeShare, cfg.VoidShare = 1, 1, 0
	msgs, _, st := cohort(t, cfg)
	// Each learner's verbs, in order, must follow the session grammar.
	per := map[string][]string{}
	for _, m := range msgs {
		s := decode(t, m)
		v := s.Verb.ID[strings.LastIndexByte(s.Verb.ID, '/')+1:]
		per[m.Learner] = append(per[m.Learner], v)
		if v == "progressed" {
			p, ok := s.Result.Extensions[extProgress]
			if !ok || p <= 0 || p >= 100 {
				t.Fatalf("progressed without a progress in (0, 100): %v", s.Result.Extensions)
			}
		}
		if v == "rated" && (s.Result == nil || s.Result.Score == nil || *s.Result.Score.Raw < 1 || *s.Result.Score.Raw > 5) {
			t.Fatalf("rated without a raw score in 1..5: %s", m.Value)
		}
	}
	session := `launched initialized (answered (progressed )?)+(passed|failed) completed rated disliked terminated `
	re := "^(" + strings.ReplaceAll(session, " ", ",") + ")+$"
	for l, verbs := range per {
		seq := strings.Join(verbs, ",") + ","
		if !regexpMatch(re, seq) {
			t.Errorf("learner %s: verbs do not follow the session grammar:\n%s", l, seq)
		}
	}
	if st.Sessions != 40 || st.Ratings != 40 || st.Dislikes != 40 {
		t.Errorf("stats %+v: want 40 sessions, each rated and disliked", st)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	cases := []struct {
		field string
		edit  func(*Config)
	}{
		{"Learners", func(c *Config) { c.Learners = 0 }},
		{"Items", func(c *Config) { c.Items = c.Skills - 1 }},
		{"Sessions", func(c *Config) { c.Sessions = -1 }},
		{"Span", func(c *Config) { c.Span = 0 }},
		{"Start", func(c *Config) { c.Start = time.Time{} }},
		{"Distribution", func(c *Config) { c.Distribution = "pareto" }},
		{"ZipfS", func(c *Config) { c.Distribution, c.ZipfS = Zipf, 1 }},
		{"Keys", func(c *Config) { c.Keys = "ifi" }},
		{"QuestionsMin", func(c *Config) { c.QuestionsMin, c.QuestionsMax = 5, 4 }},
		{"InvalidShare", func(c *Config) { c.InvalidShare = 1.5 }},
		{"LearnRate", func(c *Config) { c.LearnRate = -0.1 }},
		{"Guess + Slip", func(c *Config) { c.Guess, c.Slip = 0.6, 0.5 }},
		{"HomePage", func(c *Config) { c.HomePage = "lms.example.edu" }},
		{"ForgetHalfLife", func(c *Config) { c.ForgetHalfLife = 0 }},
	}
	for _, tc := range cases {
		cfg := DefaultConfig()
		tc.edit(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: Validate() = %v, want an error naming the field", tc.field, err)
		}
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted an invalid config", tc.field)
		}
	}
	if err := (&Config{}).Validate(); err == nil {
		t.Error("the zero Config validates; want errors")
	}
	def := DefaultConfig()
	if err := def.Validate(); err != nil {
		t.Errorf("DefaultConfig does not validate: %v", err)
	}
}

func TestTinyAndOddConfigsDoNotPanic(t *testing.T) {
	for _, edit := range []func(*Config){
		func(c *Config) { c.Learners, c.Skills, c.Items, c.Sessions = 1, 1, 1, 3 },
		func(c *Config) { c.Learners, c.Distribution, c.Sessions = 1, Zipf, 5 },
		func(c *Config) { c.Skills, c.Items, c.QuestionsMin, c.QuestionsMax = 40, 40, 1, 1 },
		func(c *Config) { c.InvalidShare, c.DuplicateShare, c.VoidShare, c.AbandonShare = 1, 1, 1, 1 },
		func(c *Config) { c.Span = time.Millisecond; c.Sessions = 50 },
	} {
		cfg := DefaultConfig()
		edit(&cfg)
		msgs, _, _ := cohort(t, cfg)
		for i := 1; i < len(msgs); i++ {
			if msgs[i].Time.Before(msgs[i-1].Time) {
				t.Fatalf("config %+v: out of time order at %d", cfg, i)
			}
		}
	}
}

// TestAppendNextYieldsTheSameMessages: the hot-loop form gives the bytes
// Next gives, with Values that stay intact while the buffer grows.
func TestAppendNextYieldsTheSameMessages(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Learners, cfg.Sessions, cfg.DuplicateShare = 20, 80, 0.2
	want, _, _ := cohort(t, cfg)
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf []byte
	var got []Message
	for {
		if len(buf) > 8<<10 {
			buf = nil // a fresh batch; earlier Values keep their own storage
		}
		m, out, ok := g.AppendNext(buf)
		if !ok {
			break
		}
		if !bytes.Equal(out[len(out)-len(m.Value):], m.Value) || len(out) != len(buf)+len(m.Value) {
			t.Fatal("AppendNext: the returned buffer does not end with the message's value")
		}
		buf = out
		got = append(got, m)
	}
	if len(got) != len(want) {
		t.Fatalf("AppendNext gave %d messages, Next %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].Value, want[i].Value) || !bytes.Equal(got[i].Key, want[i].Key) || got[i].Duplicate != want[i].Duplicate {
			t.Fatalf("message %d differs:\n%s\n%s", i, got[i].Value, want[i].Value)
		}
	}
}
