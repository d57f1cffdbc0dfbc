package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/mastery"
	"github.com/unpair/unpair/processor/store"
	"github.com/unpair/unpair/schema"
)

func TestQuery(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	st, err := store.New(rdb, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key := schema.NewLearnerKeyer([]byte("sec")).Key(schema.CanonicalMbox("mailto:alice@example.com"))
	future := time.Now().Add(24 * time.Hour).UnixMilli()
	_, err = st.WriteBatch(context.Background(), []store.LearnerWrite{{Learner: key, Offset: 1, Decisions: []decision.Decision{
		{Content: "q1", Suppressed: true, Reason: decision.Mastered, Explanation: "You answered 4 in a row.", Until: future},
		{Content: "q2", Suppressed: false, Reason: decision.WrongAnswer, Explanation: "You missed one."},
		{Content: "q4", Suppressed: true, Reason: decision.Feedback, Until: 1000},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string, string) {
		t.Helper()
		t.Setenv("UNPAIR_REDIS", "")
		t.Setenv("UNPAIR_LEARNER_SECRET", "")
		t.Setenv("UNPAIR_CATALOG", "")
		var out, errb bytes.Buffer
		code := dispatch(append([]string{"query"}, args...), strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}

	code, out, errs := run("--redis", mr.Addr(), "--secret", "sec", "mailto:alice@example.com", "q1", "q2", "q3", "q4")
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	until := time.UnixMilli(future).UTC().Format(time.RFC3339)
	want := "learner " + key + "\n" +
		"suppressed  q1  reason=mastered until=" + until + "  You answered 4 in a row.\n" +
		"allowed     q2  (no longer suppressed: wrong_answer; You missed one.)\n" +
		"allowed     q3  (no decision)\n" +
		"allowed     q4  (suppression for feedback ended 1970-01-01T00:00:01Z)\n"
	if out != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out, want)
	}
	if strings.Contains(out, "alice") {
		t.Fatal("output echoes the raw identity")
	}

	// Flags after positionals, a learner key, the environment.
	t.Run("key and env", func(t *testing.T) {
		t.Setenv("UNPAIR_REDIS", mr.Addr())
		var o, e bytes.Buffer
		if code := dispatch([]string{"query", key, "q1", "--timeout", "2s"}, nil, &o, &e); code != 0 || !strings.Contains(o.String(), "suppressed  q1") {
			t.Fatalf("exit %d: %s %s", code, o.String(), e.String())
		}
	})

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"mailto:a@b.c", "q1"}, "--redis: required"},
		{[]string{"--redis", mr.Addr(), "mailto:a@b.c"}, "need a LEARNER and at least one CONTENT"},
		{[]string{"--redis", mr.Addr()}, "need a LEARNER"},
		{[]string{"--redis", mr.Addr(), "alice@example.com", "q1"}, "LEARNER: "},
		{[]string{"--bogus", "x"}, "flag provided but not defined: -bogus"},
		{[]string{"--redis", mr.Addr(), "--timeout", "0s", "k1", "q1"}, "--timeout"},
		{[]string{"--redis", mr.Addr(), "--prefix", "{x", "k1", "q1"}, "--prefix"},
		{[]string{"--redis", mr.Addr(), "--catalog", filepath.Join(t.TempDir(), "none.json"), key, "q1"}, "--catalog"},
	} {
		code, out, errs := run(c.args...)
		if code != 2 || out != "" || !strings.Contains(errs, c.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("query %v: exit %d, stdout %q, stderr %q; want exit 2 and one line containing %q", c.args, code, out, errs, c.want)
		}
	}

	// --catalog decides content the learner never touched from its skills.
	t.Run("catalog", func(t *testing.T) {
		now := time.Now().UnixMilli()
		sk := mastery.Skill{Model: "bkt", Threshold: 0.95, Eligible: true, Value: 0.97, Attempts: 4, Correct: 4, Streak: 4, Last: (now - 3_600_000) / 1000 * 1000}
		old := sk
		old.Last = (now - 30*86_400_000) / 1000 * 1000
		if _, err := st.WriteBatch(context.Background(), []store.LearnerWrite{{Learner: key, Offset: 2, Skills: []store.Field{
			{Name: "fractions", Value: string(mastery.AppendSkill(nil, &sk))},
			{Name: "old", Value: string(mastery.AppendSkill(nil, &old))},
		}}}); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "catalog.json")
		cat := `{"items":[{"content":"q2","skills":["fractions"]},{"content":"q3","skills":["fractions"]},{"content":"q5","skills":["old"]},{"content":"q6","skills":["fractions","geometry"]}]}`
		if err := os.WriteFile(file, []byte(cat), 0o600); err != nil {
			t.Fatal(err)
		}
		due := time.UnixMilli(sk.ReviewDue()).UTC()
		ended := time.UnixMilli(old.ReviewDue()).UTC().Format(time.RFC3339)
		want := "learner " + key + "\n" +
			"allowed     q2  (no longer suppressed: wrong_answer; You missed one.)\n" +
			"suppressed  q3  reason=mastered derived=skills until=" + due.Format(time.RFC3339) +
			"  Mastered its skills: 97% sure you know fractions, after all 4 of your answers correct; review due " + due.Format("2 Jan 2006") + ".\n" +
			"allowed     q5  (suppression for mastered ended " + ended + "; derived=skills)\n" +
			"allowed     q6  (no decision)\n"
		code, out, errs := run("--redis", mr.Addr(), "--catalog", file, key, "q2", "q3", "q5", "q6")
		if code != 0 || out != want {
			t.Fatalf("exit %d, stderr %q, output:\n%s\nwant:\n%s", code, errs, out, want)
		}
		// Without --catalog, the untouched content is allowed.
		if _, out, _ := run("--redis", mr.Addr(), key, "q3"); !strings.Contains(out, "allowed     q3  (no decision)") {
			t.Fatalf("without --catalog: %s", out)
		}
	})

	addr := mr.Addr()
	mr.Close()
	if code, _, errs := run("--redis", addr, "--timeout", "1s", key, "q1"); code != 1 || !strings.Contains(errs, "cannot read decision") {
		t.Fatalf("Redis down: exit %d, stderr %q", code, errs)
	}
}
