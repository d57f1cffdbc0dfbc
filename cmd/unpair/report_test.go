package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/engagement"
	"github.com/unpair/unpair/schema"
)

// reportFixture stores, through the engagement writer, two contents: a
// video 4 learners started 20 days ago, 1 completed and 3 left at 5%; and a
// quiz 2 learners passed yesterday, both suppressed as mastered.
func reportFixture(t *testing.T) string {
	t.Helper()
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()
	agg := engagement.NewAggregator(0, -1, engagement.DefaultRule())
	base := time.Now().UTC().Truncate(24 * time.Hour)
	pairs := map[string]engagement.Pair{}
	off := int64(0)
	apply := func(l int, content string, ev schema.Evidence, mastered bool) {
		ev.Learner, ev.Content = fmt.Sprintf("%032x", l), content
		k := ev.Learner + content
		before := pairs[k]
		after := before
		after.Apply(&ev)
		if mastered {
			after.SetMastered(ev.Time)
		}
		pairs[k] = after
		off++
		agg.Apply(&ev, &before, &after, off)
	}
	old := base.AddDate(0, 0, -20).Add(time.Hour).UnixNano()
	for l := 0; l < 4; l++ {
		apply(l, "urn:video", schema.Evidence{Kind: schema.KindLaunch, Time: old}, false)
		if l == 0 {
			apply(l, "urn:video", schema.Evidence{Kind: schema.KindCompletion, Time: old, Duration: int64(10 * time.Minute)}, false)
		} else {
			apply(l, "urn:video", schema.Evidence{Kind: schema.KindProgress, Time: old, HasProgress: true, Progress: 0.05}, false)
		}
	}
	for l := 10; l < 12; l++ {
		apply(l, "urn:quiz", schema.Evidence{Kind: schema.KindCompletion, HasSuccess: true, Success: true,
			Time: base.AddDate(0, 0, -1).UnixNano()}, true)
	}
	if _, err := engagement.NewWriter(rdb).Write(context.Background(), agg.Flush(off)); err != nil {
		t.Fatal(err)
	}
	return m.Addr()
}

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := dispatch(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestReportCSV(t *testing.T) {
	addr := reportFixture(t)
	code, out, errs := runCmd("report", "--redis", addr, "--csv")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("output is not CSV: %v\n%s", err, out)
	}
	want := [][]string{
		{"content", "starts", "completions", "completion_rate", "unique_learners", "median_time_ms", "idle", "abandoned",
			"abandonment_rate", "average_rating", "ratings", "mastered", "mastered_share"},
		{"urn:video", "4", "1", "0.2500", "4", "0", "4", "3", "0.7500", "0.000", "0", "0", "0.0000"},
		{"urn:quiz", "2", "2", "1.0000", "2", "0", "0", "0", "0.0000", "0.000", "0", "2", "1.0000"},
	}
	// The completed learner spent 10 min: one histogram count in [8, 16) min.
	want[1][5] = fmt.Sprint((12 * time.Minute).Milliseconds())
	if fmt.Sprint(recs) != fmt.Sprint(want) {
		t.Errorf("CSV:\n got %v\nwant %v", recs, want)
	}

	code, out, _ = runCmd("report", "--redis", addr, "--csv", "--list", "mastered")
	if code != 0 || !strings.Contains(out, "urn:quiz") || strings.Contains(out, "urn:video") {
		t.Errorf("--list mastered: exit %d\n%s", code, out)
	}
	code, out, _ = runCmd("report", "--redis", addr, "--csv", "--contents", "urn:quiz")
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, "urn:quiz") {
		t.Errorf("--contents urn:quiz: exit %d\n%s", code, out)
	}
}

func TestReportTable(t *testing.T) {
	addr := reportFixture(t)
	code, out, errs := runCmd("report", "--redis", addr, "--days", "30")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"Contents by starts", "Barely touched", "Mostly already mastered", "urn:video", "75%", "100%", "12m0s"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// The quiz is only in the mastered list, the video only in barely touched.
	_, bt, _ := strings.Cut(out, "Barely touched")
	bt, ms, _ := strings.Cut(bt, "Mostly already mastered")
	if strings.Contains(bt, "urn:quiz") || !strings.Contains(bt, "urn:video") || !strings.Contains(ms, "urn:quiz") || strings.Contains(ms, "urn:video") {
		t.Errorf("lists hold the wrong contents:\n%s", out)
	}
	// A 7-day window holds only the quiz.
	_, out, _ = runCmd("report", "--redis", addr, "--days", "7", "--list", "figures")
	if strings.Contains(out, "urn:video") || !strings.Contains(out, "urn:quiz") {
		t.Errorf("7-day window:\n%s", out)
	}
}

func TestReportUsage(t *testing.T) {
	f := func(wantCode int, wantErr string, args ...string) {
		t.Helper()
		code, _, errs := runCmd(append([]string{"report"}, args...)...)
		if code != wantCode || !strings.Contains(errs, wantErr) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", args, code, errs, wantCode, wantErr)
		}
	}
	t.Setenv("UNPAIR_REDIS", "")
	f(2, "--redis")
	f(2, "--days", "--redis", "x:1", "--days", "31")
	f(2, "--list", "--redis", "x:1", "--list", "nope")
	f(2, "IdleDays", "--redis", "x:1", "--idle-days", "0")
	f(2, "unexpected argument", "--redis", "x:1", "extra")
	f(1, "cannot", "--redis", "127.0.0.1:1")
}
