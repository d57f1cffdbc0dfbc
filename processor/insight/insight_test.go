package insight

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/unpair/unpair/processor/engagement"
)

func get(t *testing.T, f *fixture, path string, wantStatus int, v any) string {
	t.Helper()
	resp, err := http.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: status %d, want %d: %s", path, resp.StatusCode, wantStatus, body)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, body)
		}
	}
	return string(body)
}

func eq(t *testing.T, name string, got, want any) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}

func TestContentEndpoint(t *testing.T) {
	f := newFixture(t)
	var fig engagement.Figures
	get(t, f, "/v1/contents/"+url.PathEscape(cVideo)+"/engagement", 200, &fig)
	eq(t, "content", fig.Content, cVideo)
	eq(t, "starts", fig.Starts, 10)
	eq(t, "completions", fig.Completions, 2)
	eq(t, "completion rate", fig.CompletionRate, 0.2)
	eq(t, "unique learners", fig.UniqueLearners, 10)
	eq(t, "idle", fig.Idle, 8)
	eq(t, "abandoned", fig.Abandoned, 6)
	eq(t, "abandonment rate", fig.AbandonmentRate, 0.75)
	eq(t, "launches", fig.Launches, 10)
	eq(t, "time spent", fig.TimeSpentMS, (6*time.Minute + 40*time.Minute + time.Minute).Milliseconds())
	// Time per learner: 2 x 30 s, 6 x 1 min, 2 x 20 min. The median falls
	// in the [1 min, 2 min) bucket, 3 of its 6 counts in: 90 s.
	eq(t, "median time", fig.MedianTimeSpentMS, 90000)
	eq(t, "daily length", len(fig.Daily), 30)
	eq(t, "day -20", fig.Daily[9], engagement.Daily{Date: f.day(-20), Starts: 6})
	eq(t, "day -18", fig.Daily[11], engagement.Daily{Date: f.day(-18), Starts: 2, Completions: 2})
	eq(t, "day -2", fig.Daily[27], engagement.Daily{Date: f.day(-2), Starts: 2})
	eq(t, "to", fig.To, f.day(0))

	get(t, f, "/v1/contents/"+url.PathEscape(cVideo)+"/engagement?days=7", 200, &fig)
	eq(t, "7-day starts", fig.Starts, 2)

	body := get(t, f, "/v1/contents/x/engagement?days=31", 400, nil)
	if !strings.Contains(body, "days") {
		t.Errorf("days=31: error %s does not name the parameter", body)
	}
	get(t, f, "/v1/contents/"+url.PathEscape("https://example.com/never")+"/engagement", 200, &fig)
	eq(t, "unknown content starts", fig.Starts, 0)
}

func TestListEndpoints(t *testing.T) {
	f := newFixture(t)
	var l List
	get(t, f, "/v1/contents/barely-touched", 200, &l)
	if len(l.Contents) != 2 {
		t.Fatalf("barely touched: %d contents, want 2: %+v", len(l.Contents), l.Contents)
	}
	eq(t, "first", l.Contents[0].Content, cVideo)
	eq(t, "first rate", l.Contents[0].AbandonmentRate, 0.75)
	eq(t, "second", l.Contents[1].Content, cReading)
	eq(t, "second rate", l.Contents[1].AbandonmentRate, 0.25)
	eq(t, "rule", l.Rule, engagement.DefaultRule())

	get(t, f, "/v1/contents/barely-touched?limit=1", 200, &l)
	eq(t, "limit 1", len(l.Contents), 1)
	get(t, f, "/v1/contents/barely-touched?contents="+url.QueryEscape(cReading+","+cQuiz), 200, &l)
	eq(t, "restricted to a set", len(l.Contents), 1)
	get(t, f, "/v1/contents/barely-touched?min=5", 200, &l)
	eq(t, "min 5 idle learners", len(l.Contents), 1)

	get(t, f, "/v1/contents/mastered", 200, &l)
	if len(l.Contents) != 1 {
		t.Fatalf("mastered: %d contents, want 1", len(l.Contents))
	}
	eq(t, "mastered content", l.Contents[0].Content, cQuiz)
	eq(t, "mastered share", l.Contents[0].MasteredShare, 0.8)
	eq(t, "mastered completions", l.Contents[0].Completions, 5)

	for _, q := range []string{"limit=0", "days=abc", "min=-1"} {
		body := get(t, f, "/v1/contents/mastered?"+q, 400, nil)
		if name, _, _ := strings.Cut(q, "="); !strings.Contains(body, name) {
			t.Errorf("%s: error %s does not name the parameter", q, body)
		}
	}
}

func TestLearnerLookup(t *testing.T) {
	f := newFixture(t)
	post := func(body string, wantStatus int) (LearnerView, string) {
		t.Helper()
		resp, err := http.Post(f.srv.URL+"/v1/insight/learner", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != wantStatus {
			t.Fatalf("POST %s: status %d, want %d: %s", body, resp.StatusCode, wantStatus, b)
		}
		var v LearnerView
		if wantStatus == 200 {
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
		}
		return v, string(b)
	}
	for _, who := range []string{`"` + alice + `"`, `"MAILTO:Alice@Example.com "`, `"` + f.alice + `"`, `"{\"mbox\":\"mailto:alice@example.com\"}"`} {
		v, raw := post(`{"learner":`+who+`}`, 200)
		eq(t, "key of "+who, v.Learner, f.alice)
		if strings.Contains(strings.ToLower(raw), "alice@") {
			t.Errorf("response echoes the identity: %s", raw)
		}
		if len(v.Decisions) != 3 {
			t.Fatalf("%s: %d decisions, want 3", who, len(v.Decisions))
		}
		d := v.Decisions
		eq(t, "first (suppressed)", d[0].Content, cQuiz)
		eq(t, "quiz suppressed", d[0].Suppressed, true)
		eq(t, "quiz reason", d[0].Reason, "mastered")
		eq(t, "quiz until", d[0].Until, f.base.AddDate(0, 0, 10).UnixMilli())
		eq(t, "quiz review due", d[0].ReviewDue, false)
		eq(t, "reading (review due, so shown)", d[1].Content+" "+fmt.Sprint(d[1].Suppressed, d[1].ReviewDue), cReading+" false true")
		eq(t, "video", d[2].Content+" "+fmt.Sprint(d[2].Suppressed), cVideo+" false")
	}
	v, _ := post(`{"learner":"mailto:nobody@example.com"}`, 200)
	eq(t, "unknown learner decisions", len(v.Decisions), 0)
	for _, bad := range []string{`not json`, `{"learner":""}`, `{"learner":"mailto:no-at-sign"}`, `{"learner":"has space"}`, `{"learner":"` + strings.Repeat("a", 9000) + `"}`} {
		_, body := post(bad, 400)
		if !strings.Contains(body, "error") {
			t.Errorf("%.40s: body %s has no error", bad, body)
		}
	}
}

func TestPageIsSelfContained(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"/insight/", "/insight/app.js", "/insight/style.css"} {
		body := get(t, f, p, 200, nil)
		for _, ext := range []string{"src=\"http", "href=\"http", "@import", "url(http", "//cdn"} {
			if strings.Contains(body, ext) {
				t.Errorf("%s loads something from outside the binary (%q)", p, ext)
			}
		}
	}
	resp, err := http.Get(f.srv.URL + "/insight/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	eq(t, "page content type", resp.Header.Get("Content-Type"), "text/html; charset=utf-8")
	if _, err := Handler(Config{}); err == nil {
		t.Error("Handler without Redis: no error")
	}
}
