package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/client"
	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/engagement"
	"github.com/unpair/unpair/processor/mastery"
	"github.com/unpair/unpair/processor/store"
	"github.com/unpair/unpair/schema"
)

var secret = []byte("s3cret")

const now = 1_700_000_000_000

type fixture struct {
	srv *httptest.Server
	mr  *miniredis.Miniredis
	key string // alice's learner key
}

func newFixture(t *testing.T, token string) *fixture {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	c, err := client.New(rdb, client.Options{Secret: secret, Now: func() time.Time { return time.UnixMilli(now) }})
	if err != nil {
		t.Fatal(err)
	}
	key, err := c.Key("mailto:alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.New(rdb, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.WriteBatch(context.Background(), []store.LearnerWrite{{Learner: key, Offset: 1, Decisions: []decision.Decision{
		{Content: "q1", Suppressed: true, Reason: decision.Mastered, Explanation: "You answered 4 in a row.", Until: now + 1000, Evidence: decision.Evidence{Attempts: 4, Correct: 4}},
		{Content: "https://x.org/a,b", Suppressed: true, Reason: decision.Feedback, Explanation: "You said it was not for you."},
		{Content: "q3", Suppressed: false, Reason: decision.WrongAnswer, Explanation: "You missed one."},
		{Content: "old", Suppressed: true, Reason: decision.Mastered, Until: now},
	}, Engagement: []store.Field{store.EngagementField("q1", &q1Engagement, false), store.EngagementField("v/intro", &introEngagement, true)}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(c, token, zap.NewNop()))
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, mr: mr, key: key}
}

// do sends a request and decodes the JSON body into out (when not nil).
func (f *fixture) do(t *testing.T, method, path, token, body string, out any) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q, body %s", method, path, ct, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: body %s: %v", method, path, b, err)
		}
	}
	return resp
}

func TestSuppressions(t *testing.T) {
	f := newFixture(t, "")
	alice := url.PathEscape("mailto:alice@example.com")
	check := func(path, method, body, wantAllowed, wantSuppressed string) {
		t.Helper()
		var r SuppressionsResponse
		resp := f.do(t, method, path, "", body, &r)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
		var sup []string
		for _, s := range r.Suppressed {
			sup = append(sup, s.Content+"/"+string(s.Reason))
		}
		if (r.Learner == f.key) == strings.Contains(path, "bob") || len(r.Learner) != 32 || strings.Join(r.Allowed, ",") != wantAllowed || strings.Join(sup, ",") != wantSuppressed {
			t.Fatalf("%s: %+v; want allowed %s suppressed %s", path, r, wantAllowed, wantSuppressed)
		}
	}
	check("/v1/learners/"+alice+"/suppressions?content=q3,q1,new,old", "GET", "", "q3,new,old", "q1/mastered")
	check("/v1/learners/"+f.key+"/suppressions?content=q1&content=q2", "GET", "", "q2", "q1/mastered")
	check("/v1/learners/"+url.PathEscape(`{"mbox":"mailto:alice@example.com"}`)+"/suppressions?content=q1", "GET", "", "", "q1/mastered")
	check("/v1/learners/"+alice+"/suppressions", "POST", `{"contents":["https://x.org/a,b","q9"]}`, "q9", "https://x.org/a,b/feedback")
	check("/v1/learners/mailto%3Abob%40example.com/suppressions?content=q1", "GET", "", "q1", "")

	// The raw identity never comes back.
	resp, err := http.Get(f.srv.URL + "/v1/learners/" + alice + "/suppressions?content=q1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(b), "alice") || !strings.Contains(string(b), `"explanation":"You answered 4 in a row."`) || !strings.Contains(string(b), `"suppressed":[{`) {
		t.Fatalf("body %s", b)
	}
}

func TestExplain(t *testing.T) {
	f := newFixture(t, "")
	check := func(path string, found, active bool, reason decision.Reason) {
		t.Helper()
		var r ExplainResponse
		if resp := f.do(t, "GET", path, "", "", &r); resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
		if r.Learner != f.key || r.Found != found || r.Active != active || (r.Decision != nil) != found || (found && r.Decision.Reason != reason) {
			t.Fatalf("%s: %+v", path, r)
		}
	}
	base := "/v1/learners/" + url.PathEscape("mailto:alice@example.com") + "/contents/"
	check(base+"q1", true, true, decision.Mastered)
	check(base+"q3", true, false, decision.WrongAnswer)
	check(base+"old", true, false, decision.Mastered)
	check(base+"never", false, false, "")
	check(base+url.PathEscape("https://x.org/a,b"), true, true, decision.Feedback)
	check(base+"https:%2F%2Fx.org%2Fa,b", true, true, decision.Feedback)

	// A literal slash in the content id is part of the id.
	var r ExplainResponse
	f.do(t, "GET", base+"unit-1/q2", "", "", &r)
	if r.Content != "unit-1/q2" || r.Found {
		t.Fatalf("literal slash: %+v", r)
	}
}

func TestErrors(t *testing.T) {
	f := newFixture(t, "")
	many := strings.Repeat("c,", MaxContents) + "c"
	check := func(method, path, body string, code int, want string) {
		t.Helper()
		var r ErrorResponse
		resp := f.do(t, method, path, "", body, &r)
		if resp.StatusCode != code || !strings.Contains(r.Error, want) {
			t.Fatalf("%s %s: %d %q; want %d containing %q", method, path, resp.StatusCode, r.Error, code, want)
		}
	}
	check("GET", "/v1/learners/"+f.key+"/suppressions", "", 400, "content: required")
	check("GET", "/v1/learners/"+f.key+"/suppressions?content=,,", "", 400, "content: required")
	check("GET", "/v1/learners/"+f.key+"/suppressions?content="+many, "", 400, fmt.Sprintf("content: %d content ids, at most %d", MaxContents+1, MaxContents))
	check("GET", "/v1/learners/alice%40example.com/suppressions?content=a", "", 400, "learner: ")
	check("GET", "/v1/learners/mailto%3Aalice/suppressions?content=a", "", 400, "learner: ")
	check("GET", "/v1/learners/"+url.PathEscape(`{"name":"x"}`)+"/contents/a", "", 400, "learner: ")
	check("POST", "/v1/learners/"+f.key+"/suppressions", `{"contents":"a"}`, 400, "body: ")
	check("POST", "/v1/learners/"+f.key+"/suppressions", `{"ids":["a"]}`, 400, "body: ")
	check("POST", "/v1/learners/"+f.key+"/suppressions", `{"contents":["a",""]}`, 400, "contents[1]: must not be empty")
	check("POST", "/v1/learners/"+f.key+"/suppressions", `{"contents":[]}`, 400, "content: required")
	check("GET", "/v1/learners/"+f.key+"/contents/", "", 400, "content: required")
	check("GET", "/v1/nothing", "", 404, "no such endpoint")
	check("GET", "/v1/learners/"+f.key+"/engagement", "", 400, "content: required")
	check("GET", "/v1/learners/"+f.key+"/engagement?content="+many, "", 400, "at most")
	check("GET", "/v1/learners/alice%40example.com/engagement?content=a", "", 400, "learner: ")
	check("POST", "/v1/learners/"+f.key+"/engagement?content=a", "", 404, "no such endpoint")

	f.mr.Close()
	check("GET", "/v1/learners/"+f.key+"/suppressions?content=a", "", 503, "cannot read from Redis")
	check("GET", "/v1/learners/"+f.key+"/contents/a", "", 503, "cannot read from Redis")
	check("GET", "/v1/learners/"+f.key+"/engagement?content=a", "", 503, "cannot read from Redis")
}

func TestToken(t *testing.T) {
	f := newFixture(t, "tok-123")
	path := "/v1/learners/" + f.key + "/contents/q1"
	check := func(header string, code int, wantAuth string) {
		t.Helper()
		req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e ErrorResponse
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != code || resp.Header.Get("WWW-Authenticate") != wantAuth {
			t.Fatalf("Authorization %q: %d %q (WWW-Authenticate %q); want %d %q", header, resp.StatusCode, e.Error, resp.Header.Get("WWW-Authenticate"), code, wantAuth)
		}
		if code == 401 && e.Error == "" {
			t.Fatal("401 without a JSON error")
		}
	}
	check("", 401, `Bearer realm="unpair"`)
	check("Basic dG9rLTEyMw==", 401, `Bearer realm="unpair"`)
	check("Bearer tok-12", 401, `Bearer realm="unpair", error="invalid_token"`)
	check("Bearer tok-1234", 401, `Bearer realm="unpair", error="invalid_token"`)
	check("Bearer tok-123", 200, "")
	check("bearer tok-123", 200, "")
}

var q1Engagement, introEngagement = func() (engagement.Pair, engagement.Pair) {
	t0 := time.UnixMilli(now - 86_400_000)
	var a, b engagement.Pair
	for i := range 4 {
		ev := schema.Evidence{Kind: schema.KindAttempt, HasSuccess: true, Success: true, Time: t0.Add(time.Duration(i) * time.Minute).UnixNano()}
		a.Apply(&ev)
	}
	for _, ev := range []schema.Evidence{
		{Kind: schema.KindLaunch, Verb: "http://adlnet.gov/expapi/verbs/launched", Time: t0.UnixNano()},
		{Kind: schema.KindProgress, Time: t0.Add(time.Minute).UnixNano(), HasProgress: true, Progress: 0.05, Duration: int64(30 * time.Second)},
	} {
		b.Apply(&ev)
	}
	return a, b
}()

func TestEngagement(t *testing.T) {
	f := newFixture(t, "")
	var r EngagementResponse
	path := "/v1/learners/" + url.PathEscape("mailto:alice@example.com") + "/engagement?content=v/intro,never&content=q1"
	if resp := f.do(t, "GET", path, "", "", &r); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if r.Learner != f.key || len(r.Engagement) != 3 {
		t.Fatalf("%+v", r)
	}
	intro, never, q1 := r.Engagement[0], r.Engagement[1], r.Engagement[2]
	if !intro.Found || intro.Content != "v/intro" || intro.Launches != 1 || intro.TimeSpentMS != 30000 ||
		intro.Progress == nil || *intro.Progress != 0.05 || !intro.BarelyTouched || intro.LastKind != "progress" {
		t.Fatalf("v/intro: %+v", intro)
	}
	if never.Found || never.Content != "never" {
		t.Fatalf("never: %+v", never)
	}
	if !q1.Found || q1.Attempts != 4 || q1.Progress != nil || q1.BarelyTouched {
		t.Fatalf("q1: %+v", q1)
	}

	// The explain endpoint carries the pair's engagement.
	var x ExplainResponse
	f.do(t, "GET", "/v1/learners/"+f.key+"/contents/q1", "", "", &x)
	if x.Engagement == nil || x.Engagement.Attempts != 4 || x.Decision == nil {
		t.Fatalf("explain q1: %+v", x)
	}
	x = ExplainResponse{}
	f.do(t, "GET", "/v1/learners/"+f.key+"/contents/never", "", "", &x)
	if x.Engagement != nil {
		t.Fatalf("explain never: %+v", x)
	}
	// JSON field names as documented.
	resp, err := http.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`"found":true`, `"time_spent_ms":30000`, `"progress":0.05`, `"barely_touched":true`, `"started_at":`} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("body %s lacks %s", b, want)
		}
	}
}

func TestRequireToken(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	f := func(token, header string, want int) {
		t.Helper()
		req := httptest.NewRequest("GET", "/v1/contents/x/engagement", nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		rec := httptest.NewRecorder()
		RequireToken(token, ok).ServeHTTP(rec, req)
		if rec.Code != want {
			t.Fatalf("token %q, Authorization %q: %d, want %d", token, header, rec.Code, want)
		}
	}
	f("", "", http.StatusNoContent)
	f("tok", "", http.StatusUnauthorized)
	f("tok", "Bearer nope", http.StatusUnauthorized)
	f("tok", "Bearer tok", http.StatusNoContent)
}

func TestDerivedDecisions(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	snap, err := catalog.New(catalog.Defaults{}, nil, []catalog.Item{
		{Content: "frac-1", Skills: []string{"fractions"}},
		{Content: "frac-2", Skills: []string{"fractions"}},
		{Content: "geo-1", Skills: []string{"geometry"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	newServer := func(cat *catalog.Catalog) *httptest.Server {
		c, err := client.New(rdb, client.Options{Secret: secret, Now: func() time.Time { return time.UnixMilli(now) }, Catalog: cat})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(New(c, "", zap.NewNop()))
		t.Cleanup(srv.Close)
		return srv
	}
	withCat, plain := newServer(catalog.NewCatalog(snap)), newServer(nil)
	key := schema.NewLearnerKeyer(secret).Key(schema.CanonicalMbox("mailto:alice@example.com"))
	sk := mastery.Skill{Model: "bkt", Threshold: 0.95, Eligible: true, Value: 0.97, Attempts: 4, Correct: 4, Streak: 4, Last: now - 86_400_000}
	st, err := store.New(rdb, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.WriteBatch(context.Background(), []store.LearnerWrite{{Learner: key, Offset: 1,
		Decisions: []decision.Decision{{Content: "frac-2", Reason: decision.WrongAnswer, Explanation: "You missed one."}},
		Skills:    []store.Field{{Name: "fractions", Value: string(mastery.AppendSkill(nil, &sk))}}}}); err != nil {
		t.Fatal(err)
	}
	get := func(srv *httptest.Server, path string, out any) string {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	path := "/v1/learners/" + key + "/suppressions?content=frac-1,frac-2,geo-1"
	var r SuppressionsResponse
	body := get(withCat, path, &r)
	if strings.Join(r.Allowed, ",") != "frac-2,geo-1" || len(r.Suppressed) != 1 || r.Suppressed[0].Content != "frac-1" ||
		!r.Suppressed[0].Derived || !strings.Contains(body, `"derived":true`) || !strings.Contains(body, "Mastered its skills") {
		t.Fatalf("with catalog: %s", body)
	}
	r = SuppressionsResponse{}
	if body := get(plain, path, &r); len(r.Suppressed) != 0 || strings.Contains(body, "derived") {
		t.Fatalf("without catalog: %s", body)
	}

	var x ExplainResponse
	body = get(withCat, "/v1/learners/"+key+"/contents/frac-1", &x)
	if x.Found || !x.Active || !x.Derived || x.Decision == nil || x.Decision.Reason != decision.Mastered || !strings.Contains(body, `"derived":true`) {
		t.Fatalf("explain frac-1: %s", body)
	}
	x = ExplainResponse{}
	body = get(withCat, "/v1/learners/"+key+"/contents/frac-2", &x)
	if !x.Found || x.Active || x.Derived || strings.Contains(body, "derived") {
		t.Fatalf("explain frac-2 (stored decision wins): %s", body)
	}
}
