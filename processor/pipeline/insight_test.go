package pipeline

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
)

// TestBuildServesInsightBesideQueryAPI: `unpair run`'s HTTP API serves the
// query API and the insight routes on one mux, the token guarding the JSON
// of both.
func TestBuildServesInsightBesideQueryAPI(t *testing.T) {
	mr := miniredis.RunT(t)
	cfg := Config{Brokers: []string{"127.0.0.1:1"}, Redis: []string{mr.Addr()}, LearnerSecret: "s", APIToken: "tok"}
	b, err := Build(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Deps.Figures == nil {
		t.Fatal("no per-content figures wired")
	}
	srv := httptest.NewServer(b.Deps.API)
	defer srv.Close()
	f := func(method, path, token string, want int, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader("{}"))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || !strings.Contains(string(got), body) {
			t.Fatalf("%s %s: %d %.200s, want %d containing %q", method, path, resp.StatusCode, got, want, body)
		}
	}
	f("GET", "/v1/contents/c1/engagement?days=7", "", 401, "bearer")
	f("GET", "/v1/contents/c1/engagement?days=7", "tok", 200, `"starts":0`)
	f("GET", "/v1/contents/barely-touched?days=7", "tok", 200, "")
	f("POST", "/v1/insight/learner", "", 401, "bearer")
	f("GET", "/v1/learners/0123456789abcdef0123456789abcdef/engagement?content=a", "", 401, "bearer")
	f("GET", "/v1/learners/0123456789abcdef0123456789abcdef/engagement?content=a", "tok", 200, `"found":false`)
	f("GET", "/insight/", "", 200, "<")
	f("GET", "/v1/nothing", "tok", 404, "no such endpoint")
}
