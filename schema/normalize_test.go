package schema

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

// stmt builds a statement from an actor, verb, object and extra members.
func stmt(actor, verb, object, extra string) []byte {
	s := `{"actor":` + actor + `,"verb":{"id":"` + verb + `"},"object":` + object
	if extra != "" {
		s += "," + extra
	}
	return []byte(s + "}")
}

const (
	actAlice = `{"mbox":"mailto:alice@example.com"}`
	objQuiz  = `{"id":"http://example.com/quiz/1"}`
)

func mustNormalize(t *testing.T, d *Decoder, raw []byte) Evidence {
	t.Helper()
	e, err := d.Normalize(raw, time.Unix(100, 0))
	if err != nil {
		t.Fatalf("Normalize(%s): %v", raw, err)
	}
	return e
}

func TestLearnerKeyOneKeyPerPerson(t *testing.T) {
	keyer := NewLearnerKeyer([]byte("secret"))
	d := NewDecoder(Options{Keyer: keyer})
	sum := sha1.Sum([]byte("mailto:alice@example.com"))
	sha := hex.EncodeToString(sum[:])
	want, err := keyer.KeyIFI("mailto:alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, actor := range []string{
		actAlice,
		`{"objectType":"Agent","mbox":"mailto:Alice@Example.COM","name":"Alice"}`,
		`{"mbox_sha1sum":"` + sha + `"}`,
		`{"mbox_sha1sum":"` + strings.ToUpper(sha) + `"}`,
		`{"objectType":"Group","mbox":"mailto:alice@example.com"}`,
	} {
		if got := mustNormalize(t, d, stmt(actor, VerbCompleted, objQuiz, "")).Learner; got != want {
			t.Errorf("actor %s: key %s, want %s", actor, got, want)
		}
	}
	acct, _ := keyer.KeyIFI("account:https://lms.example.org|user-1")
	for _, actor := range []string{
		`{"account":{"homePage":"https://lms.example.org","name":"user-1"}}`,
		`{"account":{"homePage":"https://lms.example.org/","name":"user-1"}}`,
	} {
		if got := mustNormalize(t, d, stmt(actor, VerbCompleted, objQuiz, "")).Learner; got != acct {
			t.Errorf("actor %s: key %s, want %s", actor, got, acct)
		}
	}
	other := mustNormalize(t, d, stmt(`{"account":{"homePage":"https://lms.example.org","name":"User-1"}}`, VerbCompleted, objQuiz, "")).Learner
	if other == acct {
		t.Error("account names are case-sensitive, got one key for user-1 and User-1")
	}
	open, _ := keyer.KeyIFI("openid:http://openid.example.org/1")
	if got := mustNormalize(t, d, stmt(`{"openid":"http://openid.example.org/1"}`, VerbCompleted, objQuiz, "")).Learner; got != open {
		t.Errorf("openid key %s, want %s", got, open)
	}
	if plain := mustNormalize(t, NewDecoder(Options{}), stmt(actAlice, VerbCompleted, objQuiz, "")).Learner; plain == want {
		t.Error("the secret does not change the key")
	}
}

func TestNormalizeFields(t *testing.T) {
	d := NewDecoder(Options{})
	ts := time.Date(2024, 3, 1, 10, 0, 0, 123e6, time.UTC).UnixNano()
	cases := []struct {
		name  string
		raw   []byte
		check func(e Evidence) bool
	}{
		{"passed with raw score", stmt(actAlice, VerbPassed, objQuiz, `"result":{"success":true,"score":{"raw":8,"min":0,"max":10}}`),
			func(e Evidence) bool {
				return e.Kind == KindCompletion && e.HasSuccess && e.Success && e.HasScore && e.Scaled == 0.8 && e.Scored() && e.Correct(0.9)
			}},
		{"scaled wins over raw", stmt(actAlice, "http://adlnet.gov/expapi/verbs/answered", objQuiz, `"result":{"score":{"scaled":0.3,"raw":8,"min":0,"max":10}}`),
			func(e Evidence) bool { return e.Kind == KindAttempt && e.Scaled == 0.3 && !e.Correct(0.5) }},
		{"moodle symmetric scaled", stmt(actAlice, "http://adlnet.gov/expapi/verbs/answered", objQuiz, `"result":{"score":{"scaled":0.5,"raw":75,"min":0,"max":100}}`),
			func(e Evidence) bool {
				return e.Scaled == 0.75 && e.Deviations.Has(DevScaledSymmetric) && len(e.Notes) == 2
			}},
		{"attempted without result is a launch", stmt(actAlice, VerbAttempted, objQuiz, ""),
			func(e Evidence) bool { return e.Kind == KindLaunch }},
		{"attempted with result", stmt(actAlice, VerbAttempted, objQuiz, `"result":{"success":false}`),
			func(e Evidence) bool { return e.Kind == KindAttempt && e.Scored() && !e.Correct(0) }},
		{"progressed scaled", stmt(actAlice, VerbProgressed, objQuiz, `"result":{"score":{"scaled":0.4}}`),
			func(e Evidence) bool { return e.Kind == KindProgress && e.HasProgress && e.Progress == 0.4 }},
		{"cmi5 progress extension", stmt(actAlice, VerbProgressed, objQuiz, `"result":{"extensions":{"`+ExtCmi5Progress+`":50}}`),
			func(e Evidence) bool { return e.HasProgress && e.Progress == 0.5 }},
		{"progress extension out of range ignored", stmt(actAlice, VerbProgressed, objQuiz, `"result":{"extensions":{"`+ExtCmi5Progress+`":150}}`),
			func(e Evidence) bool { return !e.HasProgress }},
		{"rated 2 of 1..5", stmt(actAlice, VerbRated, objQuiz, `"result":{"score":{"raw":2,"min":1,"max":5}}`),
			func(e Evidence) bool { return e.Kind == KindRating && e.HasScore && e.Scaled == 0.25 }},
		{"liked (Activity Streams)", stmt(actAlice, "http://activitystrea.ms/schema/1.0/like", objQuiz, ""),
			func(e Evidence) bool { return e.Kind == KindRating }},
		{"disliked", stmt(actAlice, "https://w3id.org/xapi/acrossx/verbs/disliked", objQuiz, ""),
			func(e Evidence) bool { return e.Kind == KindDislike }},
		{"voided", stmt(actAlice, VerbVoided, `{"objectType":"StatementRef","id":"E05AA883-ACAF-40AD-BF54-02C8CE485FB0"}`, ""),
			func(e Evidence) bool {
				return e.Kind == KindVoid && e.Voids.String() == "e05aa883-acaf-40ad-bf54-02c8ce485fb0" && e.Content == ""
			}},
		{"unknown verb", stmt(actAlice, "http://example.com/verbs/juggled", objQuiz, ""),
			func(e Evidence) bool { return e.Kind == KindOther && e.Verb == "http://example.com/verbs/juggled" }},
		{"completion and duration", stmt(actAlice, VerbCompleted, objQuiz, `"result":{"completion":true,"duration":"PT1H2M3.5S"}`),
			func(e Evidence) bool {
				return e.HasCompletion && e.Completion && e.Duration == int64(time.Hour+2*time.Minute+3500*time.Millisecond)
			}},
		{"skills from category and extension", stmt(actAlice, VerbCompleted,
			`{"id":"http://example.com/q","definition":{"extensions":{"`+ExtSkills+`":["skill:fractions","skill:ratio"]}}}`,
			`"context":{"contextActivities":{"category":[{"id":"https://w3id.org/xapi/cmi5/context/categories/cmi5"},{"id":"http://example.com/skills/fractions"},{"id":"http://moodle.example/","definition":{"type":"http://id.tincanapi.com/activitytype/lms"}}]}}`),
			func(e Evidence) bool {
				return strings.Join(e.Skills, " ") == "http://example.com/skills/fractions skill:fractions skill:ratio"
			}},
		{"id and timestamp", stmt(actAlice, VerbCompleted, objQuiz, `"id":"FD41C918-B88B-4B20-A0A5-A4C32391AAA0","timestamp":"2024-03-01T11:00:00.123+01:00","stored":"2025-01-01T00:00:00Z"`),
			func(e Evidence) bool {
				return e.ID.String() == "fd41c918-b88b-4b20-a0a5-a4c32391aaa0" && e.Time == ts && e.TimeFrom == TimeFromTimestamp && e.Notes == nil
			}},
		{"stored when no timestamp", stmt(actAlice, VerbCompleted, objQuiz, `"stored":"2024-03-01T10:00:00.123Z"`),
			func(e Evidence) bool { return e.Time == ts && e.TimeFrom == TimeFromStored }},
		{"received when neither", stmt(actAlice, VerbCompleted, objQuiz, ""),
			func(e Evidence) bool {
				return e.Time == 100e9 && e.TimeFrom == TimeFromReceived && e.Deviations.Has(DevDerivedID) && e.ID != UUID{}
			}},
		{"content is the activity id", stmt(actAlice, VerbCompleted, `{"objectType":"Activity","id":"urn:uuid:1"}`, ""),
			func(e Evidence) bool { return e.Content == "urn:uuid:1" && e.Verb == VerbCompleted }},
	}
	for _, c := range cases {
		e, err := d.Normalize(c.raw, time.Unix(100, 0))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !c.check(e) {
			t.Errorf("%s: unexpected evidence %+v", c.name, e)
		}
	}
}

func TestDerivedIDIsDeterministic(t *testing.T) {
	d := NewDecoder(Options{})
	a := stmt(actAlice, VerbCompleted, objQuiz, "")
	b := stmt(actAlice, VerbCompleted, `{"id":"http://example.com/quiz/2"}`, "")
	e1, e2, e3 := mustNormalize(t, d, a), mustNormalize(t, d, a), mustNormalize(t, d, b)
	if e1.ID != e2.ID || e1.ID == e3.ID {
		t.Errorf("derived ids %v %v %v: want equal for equal bytes, different otherwise", e1.ID, e2.ID, e3.ID)
	}
	if v := e1.ID[6] >> 4; v != 5 {
		t.Errorf("derived id version %d, want 5", v)
	}
}

func TestNormalizeRejects(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	cases := []struct {
		name   string
		opt    Options
		raw    string
		reason Reason
		path   string
	}{
		{"anonymous group", Options{}, string(stmt(`{"objectType":"Group","member":[{"mbox":"mailto:a@b.c"}]}`, VerbCompleted, objQuiz, "")), ReasonAnonymousGrp, "actor"},
		{"agent object", Options{}, string(stmt(actAlice, VerbCompleted, `{"objectType":"Agent","mbox":"mailto:b@b.c"}`, "")), ReasonNotActivity, "object"},
		{"no content", Options{}, string(stmt(actAlice, VerbCompleted, `{"definition":{"type":"http://x.y/z"}}`, "")), ReasonNoContent, "object.id"},
		{"passed but failed", Options{}, string(stmt(actAlice, VerbPassed, objQuiz, `"result":{"success":false}`)), ReasonContradictory, "result.success"},
		{"completed but not", Options{}, string(stmt(actAlice, VerbCompleted, objQuiz, `"result":{"completion":false}`)), ReasonContradictory, "result.completion"},
		{"scaled out of range", Options{}, string(stmt(actAlice, VerbPassed, objQuiz, `"result":{"score":{"scaled":1.5}}`)), ReasonInvalid, "result.score.scaled"},
		{"not json", Options{}, `{"actor":`, ReasonMalformed, ""},
		{"invalid utf-8", Options{}, "{\"a\":\"\xff\"}", ReasonMalformed, ""},
		{"too large", Options{MaxBytes: 100}, string(stmt(actAlice, VerbCompleted, objQuiz, `"context":{"platform":"`+strings.Repeat("x", 100)+`"}`)), ReasonTooLarge, ""},
		{"too deep", Options{}, deep, ReasonTooDeep, ""},
		{"strict: id not an IRI", Options{Mode: Strict}, string(stmt(actAlice, VerbCompleted, `{"id":"438AD672-DE2C-4F0B-8876-35444E7DD746"}`, "")), ReasonInvalid, "object.id"},
		{"duplicate key", Options{}, `{"actor":` + actAlice + `,"actor":` + actAlice + `,"verb":{"id":"http://a.b/c"},"object":` + objQuiz + `}`, ReasonInvalid, "actor"},
		{"batch of two via Normalize", Options{}, "[" + string(stmt(actAlice, VerbCompleted, objQuiz, "")) + "," + string(stmt(actAlice, VerbCompleted, objQuiz, "")) + "]", ReasonInvalid, ""},
	}
	for _, c := range cases {
		_, err := NewDecoder(c.opt).Normalize([]byte(c.raw), time.Unix(1, 0))
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: error %v, want *Error", c.name, err)
			continue
		}
		if e.Reason != c.reason || len(e.Violations) == 0 || e.Violations[0].Path != c.path {
			t.Errorf("%s: got %v (path %q), want reason %s at %q", c.name, e, e.Violations[0].Path, c.reason, c.path)
		}
	}
}

func TestTolerantAcceptsWhatStrictRejects(t *testing.T) {
	raw := stmt(`{"account":{"name":"u1","mbox":"mailto:u1@example.org"}}`, VerbCompleted,
		`{"objectType":"GroupActivity","id":"undefined?x=1","extensions":{"http://e.x/a":1}}`,
		`"result":{"score":{"min":0,"max":0,"raw":0}},"context":{"contextActivities":{"parent":[{"objectType":"Activity"}]}},"inProgress":true`)
	if _, err := NewDecoder(Options{Mode: Strict}).Normalize(raw, time.Unix(1, 0)); err == nil {
		t.Fatal("strict mode accepted a deviating statement")
	}
	e := mustNormalize(t, NewDecoder(Options{}), raw)
	want := []Deviation{DevActivityIDNotIRI, DevActivityMissingID, DevGroupActivity, DevAccountUnknownProperty,
		DevAccountMissingHomePage, DevExtensionsOutsideDef, DevScoreMinEqualsMax, DevUnknownProperty, DevDerivedID}
	for _, d := range want {
		if !e.Deviations.Has(d) {
			t.Errorf("deviation %s not recorded; notes %q", d, e.Notes)
		}
	}
	if e.HasScore {
		t.Error("min == max turned into a score")
	}
	if e.Content != "undefined?x=1" || len(e.Notes) < len(want) {
		t.Errorf("content %q notes %q", e.Content, e.Notes)
	}
	if len(Deviations()) != int(numDeviations)-1 || DevGroupActivity.String() != "group_activity" {
		t.Error("deviation names changed")
	}
}

func TestAllViolationsReportedAndCapped(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 30; i++ {
		b.WriteString(`,"bad` + itoa(i) + `":1`)
	}
	raw := stmt(actAlice, VerbCompleted, objQuiz, `"result":{"score":{"scaled":2,"min":5,"max":1}}`+b.String())
	_, err := NewDecoder(Options{Mode: Strict, MaxErrors: 20}).Normalize(raw, time.Unix(1, 0))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err %v", err)
	}
	if len(e.Violations) != 20 || e.Omitted != 12 {
		t.Errorf("%d violations, %d omitted; want 20 and 12", len(e.Violations), e.Omitted)
	}
	if !strings.Contains(e.Error(), "(and 31 more)") || !strings.Contains(e.Detail(), "12 more not shown") {
		t.Errorf("Error() = %q", e.Error())
	}
	vs := NewDecoder(Options{Mode: Strict}).Validate(stmt(actAlice, VerbCompleted, objQuiz, `"result":{"score":{"scaled":2,"min":5,"max":1}}`))
	if len(vs) != 2 || vs[0].String() != "result.score.scaled: must be within [-1, 1], got 2" || vs[1].Path != "result.score.min" {
		t.Errorf("violations %v", vs)
	}
}

func TestNormalizeAll(t *testing.T) {
	d := NewDecoder(Options{})
	good := string(stmt(actAlice, VerbCompleted, objQuiz, ""))
	bad := string(stmt(`{"name":"nobody"}`, VerbCompleted, objQuiz, ""))
	f := func(raw string, want string) {
		t.Helper()
		var got []string
		d.NormalizeAll([]byte(raw), time.Unix(1, 0), func(i int, e Evidence, err error) {
			if err != nil {
				got = append(got, itoa(i)+":"+string(err.(*Error).Reason))
			} else {
				got = append(got, itoa(i)+":ok")
			}
		})
		if strings.Join(got, " ") != want {
			t.Errorf("NormalizeAll(%.40s...) = %q, want %q", raw, got, want)
		}
	}
	f(good, "0:ok")
	f("["+good+","+bad+","+good+"]", "0:ok 1:invalid_statement 2:ok")
	f("[]", "-1:empty_batch")
	f("[1,", "-1:malformed_json")
}
