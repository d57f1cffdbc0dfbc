package schema

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// normalizeErr normalizes raw and returns the *Error (nil when accepted).
func normalizeErr(t *testing.T, d *Decoder, raw []byte) (Evidence, *Error) {
	t.Helper()
	e, err := d.Normalize(raw, time.Unix(1, 0))
	if err == nil {
		return e, nil
	}
	var se *Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v of type %T, want *Error", err, err)
	}
	return e, se
}

// skillsExt is an object whose definition carries the skills extension.
func skillsExt(ids ...string) string {
	q := make([]string, len(ids))
	for i, s := range ids {
		q[i] = strconv.Quote(s)
	}
	return `{"id":"http://example.com/q","definition":{"extensions":{"` + ExtSkills + `":[` + strings.Join(q, ",") + `]}}}`
}

// categories is a context with one category activity per id.
func categories(ids ...string) string {
	q := make([]string, len(ids))
	for i, s := range ids {
		q[i] = `{"id":` + strconv.Quote(s) + `}`
	}
	return `"context":{"contextActivities":{"category":[` + strings.Join(q, ",") + `]}}`
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

// TestResourceLimits: content ids, skill ids and the skill count are
// bounded in both modes, with their own reasons, at the field's path.
func TestResourceLimits(t *testing.T) {
	longID := func(n int) string { return "http://example.com/" + strings.Repeat("a", n-len("http://example.com/")) }
	cases := []struct {
		name   string
		opt    Options
		raw    []byte
		reason Reason // "" = accepted
		path   string
		rule   string // part of the rule
	}{
		{"content id at the limit", Options{}, stmt(actAlice, VerbCompleted, `{"id":"`+longID(2048)+`"}`, ""), "", "", ""},
		{"content id over the limit", Options{}, stmt(actAlice, VerbCompleted, `{"id":"`+longID(2049)+`"}`, ""), ReasonIDTooLong, "object.id", "2049 bytes exceeds the limit of 2048"},
		{"content id over a set limit", Options{MaxActivityIDBytes: 30}, stmt(actAlice, VerbCompleted, `{"id":"`+longID(31)+`"}`, ""), ReasonIDTooLong, "object.id", "limit of 30"},
		{"content id not an IRI over the limit", Options{}, stmt(actAlice, VerbCompleted, `{"id":"`+strings.Repeat("b", 3000)+`"}`, ""), ReasonIDTooLong, "object.id", "3000 bytes"},
		{"32 skills", Options{}, stmt(actAlice, VerbCompleted, skillsExt(numbered("s", 32)...), ""), "", "", ""},
		{"33 skills", Options{}, stmt(actAlice, VerbCompleted, skillsExt(numbered("s", 33)...), ""), ReasonTooManySkills, "object.definition.extensions." + ExtSkills + "[32]", "more than 32 distinct skill ids"},
		{"32 skills repeated", Options{}, stmt(actAlice, VerbCompleted, skillsExt(append(numbered("s", 32), numbered("s", 32)...)...), ""), "", "", ""},
		{"20 categories and 13 extension skills", Options{}, stmt(actAlice, VerbCompleted, skillsExt(numbered("s", 13)...), categories(numbered("http://k.x/", 20)...)), ReasonTooManySkills, "object.definition.extensions." + ExtSkills + "[12]", "more than 32"},
		{"33 categories", Options{}, stmt(actAlice, VerbCompleted, objQuiz, categories(numbered("http://k.x/", 33)...)), ReasonTooManySkills, "context.contextActivities.category[32].id", "more than 32"},
		{"skipped categories do not count", Options{}, stmt(actAlice, VerbCompleted, objQuiz, categories(numbered("https://w3id.org/xapi/p", 40)...)), "", "", ""},
		{"3 skills over a set limit of 2", Options{MaxSkills: 2}, stmt(actAlice, VerbCompleted, skillsExt("a", "b", "a", "c"), ""), ReasonTooManySkills, "object.definition.extensions." + ExtSkills + "[3]", "more than 2"},
		{"skill id at the limit", Options{}, stmt(actAlice, VerbCompleted, skillsExt(strings.Repeat("k", 256)), ""), "", "", ""},
		{"skill id over the limit", Options{}, stmt(actAlice, VerbCompleted, skillsExt("a", strings.Repeat("k", 257)), ""), ReasonIDTooLong, "object.definition.extensions." + ExtSkills + "[1]", "a skill id of 257 bytes exceeds the limit of 256"},
		{"category id over the skill limit", Options{}, stmt(actAlice, VerbCompleted, objQuiz, `"context":{"contextActivities":{"category":{"id":"`+longID(300)+`"}}}`), ReasonIDTooLong, "context.contextActivities.category.id", "300 bytes"},
	}
	for _, c := range cases {
		modes := []Mode{Tolerant, Strict}
		if strings.Contains(c.name, "not an IRI") {
			modes = modes[:1] // strict rejects the non-IRI first
		}
		for _, mode := range modes {
			opt := c.opt
			opt.Mode = mode
			ev, err := normalizeErr(t, NewDecoder(opt), c.raw)
			switch {
			case c.reason == "" && err != nil:
				t.Errorf("%s (%v): rejected: %v", c.name, mode, err)
			case c.reason == "":
				if len(ev.Skills) > DefaultMaxSkills {
					t.Errorf("%s (%v): %d skills", c.name, mode, len(ev.Skills))
				}
			case err == nil:
				t.Errorf("%s (%v): accepted, want %s", c.name, mode, c.reason)
			case err.Reason != c.reason || err.Violations[0].Path != c.path || !strings.Contains(err.Violations[0].Rule, c.rule):
				t.Errorf("%s (%v): got %s at %q: %q; want %s at %q containing %q", c.name, mode, err.Reason, err.Violations[0].Path, err.Violations[0].Rule, c.reason, c.path, c.rule)
			}
		}
	}
}

// TestSkillsDistinctInOrder: skill ids are kept once each, in order, below
// and above the size where de-duplication switches to a hash index.
func TestSkillsDistinctInOrder(t *testing.T) {
	d := NewDecoder(Options{MaxSkills: 1000})
	for _, n := range []int{1, 15, 16, 17, 40, 500} {
		ids := numbered("s", n)
		var in []string
		for i := range ids { // each id twice, the repeat after the next id
			in = append(in, ids[i])
			if i > 0 {
				in = append(in, ids[i-1])
			}
		}
		in = append(in, "", ids[0])
		ev := mustNormalize(t, d, stmt(actAlice, VerbCompleted, skillsExt(in...), ""))
		if strings.Join(ev.Skills, ",") != strings.Join(ids, ",") {
			t.Errorf("%d ids: skills %v, want %v", n, ev.Skills, ids)
		}
	}
	mixed := mustNormalize(t, d, stmt(actAlice, VerbCompleted, skillsExt(numbered("http://k.x/", 20)...), categories(numbered("http://k.x/", 25)...)))
	if want := strings.Join(numbered("http://k.x/", 25), ","); strings.Join(mixed.Skills, ",") != want {
		t.Errorf("categories then extension: %v, want %s", mixed.Skills, want)
	}
}

// TestDuplicatesFoundInLargeLists: duplicate keys and component ids are
// reported at the repeating entry whether the list is short (pairwise
// comparison) or long (hash index), and only there.
func TestDuplicatesFoundInLargeLists(t *testing.T) {
	d := NewDecoder(Options{Mode: Strict})
	paths := func(raw []byte) []string {
		var out []string
		for _, v := range d.Validate(raw) {
			out = append(out, v.Path+": "+v.Rule)
		}
		return out
	}
	for _, n := range []int{3, 16, 17, 100} {
		// keys k0..k(n-1), then k1 and k(n-1) again
		var ext []string
		for i := range n {
			ext = append(ext, `"http://e.x/k`+strconv.Itoa(i)+`":0`)
		}
		ext = append(ext, `"http://e.x/k1":1`, `"http://e.x/k`+strconv.Itoa(n-1)+`":1`)
		got := paths(stmt(actAlice, VerbCompleted, objQuiz, `"result":{"extensions":{`+strings.Join(ext, ",")+`}}`))
		want := []string{
			"result.extensions.http://e.x/k1: duplicate key: a property may appear only once",
			"result.extensions.http://e.x/k" + strconv.Itoa(n-1) + ": duplicate key: a property may appear only once",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%d keys: violations\n%s\nwant\n%s", n, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		var comps []string
		for i := range n {
			comps = append(comps, `{"id":"c`+strconv.Itoa(i)+`"}`)
		}
		comps = append(comps, `{"id":"c0"}`)
		got = paths(stmt(actAlice, VerbCompleted, `{"id":"http://example.com/q","definition":{"interactionType":"choice","choices":[`+strings.Join(comps, ",")+`]}}`, ""))
		want = []string{`object.definition.choices[` + strconv.Itoa(n) + `].id: duplicate component id "c0": ids must be distinct`}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%d components: violations %q, want %q", n, got, want)
		}
	}
}

func TestDupIndexGrows(t *testing.T) {
	var p jparser
	src := []byte(`{"a":1}`)
	if p.parse(src, 8) < 0 {
		t.Fatal(p.err)
	}
	var x dupIndex
	x.reset(0) // sized for nothing: adding 100 spans must grow it
	for n := int32(0); n < int32(len(src)); n++ {
		for off := int32(0); off+n <= int32(len(src)); off++ {
			b := string(src[off : off+n])
			first := strings.Index(string(src), b) == int(off)
			if got := x.seen(&p, off, n, true); got == first {
				t.Fatalf("span %q at %d: seen %v, want %v", b, off, got, !first)
			}
		}
	}
}

// TestScoreNeverNaN: a score range wider than the largest float64 gives a
// finite scaled score instead of Inf or NaN.
func TestScoreNeverNaN(t *testing.T) {
	d := NewDecoder(Options{})
	cases := []struct {
		verb, score string
		want        float64
	}{
		{VerbAttempted, `{"raw":1.5e308,"min":-1.5e308,"max":1.5e308}`, 1},
		{VerbAttempted, `{"raw":0,"min":-1.5e308,"max":1.5e308}`, 0.5},
		{VerbAttempted, `{"raw":-1.5e308,"min":-1.5e308,"max":1.5e308}`, 0},
		{VerbAttempted, `{"raw":-1e308,"min":-1.7e308,"max":1.7e308}`, (1.7 - 1) / 3.4},
		{VerbAttempted, `{"raw":2,"min":1,"max":5}`, 0.25},
		{VerbRated, `{"raw":1.7e308,"min":-1.7e308,"max":1.7e308}`, 1},
	}
	for _, c := range cases {
		ev := mustNormalize(t, d, stmt(actAlice, c.verb, objQuiz, `"result":{"score":`+c.score+`}`))
		if !ev.HasScore || math.IsNaN(ev.Scaled) || math.Abs(ev.Scaled-c.want) > 1e-12 {
			t.Errorf("%s %s: scaled %v (has %v), want %v", c.verb, c.score, ev.Scaled, ev.HasScore, c.want)
		}
	}
}

// TestTimestampRange: instants whose unix nanoseconds do not fit in an
// int64 are rejected, naming the field, instead of wrapping around.
func TestTimestampRange(t *testing.T) {
	d := NewDecoder(Options{})
	f := func(field, ts string, want time.Time) {
		t.Helper()
		ev, err := normalizeErr(t, d, stmt(actAlice, VerbCompleted, objQuiz, `"`+field+`":"`+ts+`"`))
		if want.IsZero() {
			if err == nil {
				t.Errorf("%s %s: accepted as %v", field, ts, time.Unix(0, ev.Time).UTC())
				return
			}
			if err.Reason != ReasonInvalid || err.Violations[0].Path != field || !strings.Contains(err.Violations[0].Rule, "1678-2262") || !strings.Contains(err.Violations[0].Rule, ts) {
				t.Errorf("%s %s: %v", field, ts, err)
			}
			return
		}
		if err != nil {
			t.Errorf("%s %s: %v", field, ts, err)
		} else if ev.Time != want.UnixNano() {
			t.Errorf("%s %s: time %v, want %v", field, ts, time.Unix(0, ev.Time).UTC(), want)
		}
	}
	for _, field := range []string{"timestamp", "stored"} {
		f(field, "2300-01-01T00:00:00Z", time.Time{})
		f(field, "9999-12-31T23:59:59.999Z", time.Time{})
		f(field, "1600-01-01T00:00:00Z", time.Time{})
		f(field, "0000-01-01T00:00:00Z", time.Time{})
		f(field, "2262-04-11T23:47:16.854775808Z", time.Time{})
		f(field, "2262-04-11T23:47:17Z", time.Time{})
		f(field, "2262-04-12T01:00:00+02:00", time.Date(2262, 4, 11, 23, 0, 0, 0, time.UTC)) // the offset brings it in range
		f(field, "1677-09-21T00:12:43Z", time.Time{})
		f(field, "2262-04-11T23:47:16.854775807Z", time.Unix(0, math.MaxInt64))
		f(field, "1677-09-21T00:12:44Z", time.Unix(math.MinInt64/1_000_000_000, 0))
		f(field, "2262-04-11T23:47:16Z", time.Unix(math.MaxInt64/1_000_000_000, 0))
	}
	if got := time.Unix(math.MaxInt64/1_000_000_000, 0).UTC().Format(time.RFC3339); got != "2262-04-11T23:47:16Z" {
		t.Errorf("the documented upper bound is %s", got)
	}
	if got := time.Unix(math.MinInt64/1_000_000_000, 0).UTC().Format(time.RFC3339); got != "1677-09-21T00:12:44Z" {
		t.Errorf("the documented lower bound is %s", got)
	}
}

// TestIdentifierErrorsHideValues: a malformed mbox, mbox_sha1sum or openid
// (of the actor, a group member, an instructor or the authority) is
// rejected with a rule that says what is wrong without quoting the value,
// which would put personal data in dead-letter headers and logs.
func TestIdentifierErrorsHideValues(t *testing.T) {
	cases := []struct {
		agent, secret, path, hint string
	}{
		{`{"mbox":"alice.secret@example.com"}`, "alice.secret", "actor.mbox", `does not start with "mailto:"`},
		{`{"mbox":"mailto:alice.secret.example.com"}`, "alice.secret", "actor.mbox", "exactly one @, got 0"},
		{`{"mbox":"mailto:alice.secret@a@example.com"}`, "alice.secret", "actor.mbox", "exactly one @, got 2"},
		{`{"mbox":"mailto:alice secret@example.com"}`, "alice secret", "actor.mbox", "white space"},
		{`{"mbox":"mailto:alicesecret@"}`, "alicesecret", "actor.mbox", "before and after the @"},
		{`{"mbox":""}`, `""`, "actor.mbox", "it is empty"},
		{`{"mbox_sha1sum":"0123456789abcdef0123456789abcdefsecret"}`, "secret", "actor.mbox_sha1sum", "it has 38 characters"},
		{`{"mbox_sha1sum":"0123456789abcdef0123456789abcdef0secretz"}`, "secret", "actor.mbox_sha1sum", "not a hex digit"},
		{`{"openid":"alice.secret.example.org"}`, "alice.secret", "actor.openid", "must be a URI"},
		{`{"objectType":"Group","name":"g","member":[{"mbox":"alice.secret@example.com"}]}`, "alice.secret", "actor.member[0].mbox", "mailto:"},
	}
	for _, c := range cases {
		raw := stmt(c.agent, VerbCompleted, objQuiz, "")
		for _, mode := range []Mode{Tolerant, Strict} {
			d := NewDecoder(Options{Mode: mode})
			_, err := normalizeErr(t, d, raw)
			if err == nil {
				t.Errorf("%s: accepted", c.agent)
				continue
			}
			texts := []string{err.Error(), err.Detail()}
			for _, v := range d.Validate(raw) {
				texts = append(texts, v.String())
			}
			for _, s := range texts {
				if strings.Contains(s, c.secret) {
					t.Errorf("%s (%v): %q echoes the identifier", c.agent, mode, s)
				}
			}
			if v := err.Violations[0]; v.Path != c.path || !strings.Contains(v.Rule, c.hint) {
				t.Errorf("%s (%v): %v, want %s with %q", c.agent, mode, v, c.path, c.hint)
			}
		}
	}
	// the same rules hold wherever an agent appears
	for _, extra := range []string{
		`"context":{"instructor":{"mbox":"alice.secret@example.com"}}`,
		`"authority":{"mbox":"alice.secret@example.com"}`,
	} {
		_, err := normalizeErr(t, NewDecoder(Options{}), stmt(actAlice, VerbCompleted, objQuiz, extra))
		if err == nil || strings.Contains(err.Detail(), "alice.secret") || !strings.Contains(err.Detail(), "mbox: must be a mailto IRI") {
			t.Errorf("%s: %v", extra, err)
		}
	}
}
