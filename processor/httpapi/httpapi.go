package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/unpair/unpair/processor/client"
	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/store"
)

// MaxContents bounds the content ids of one suppressions query.
const MaxContents = 1000

// maxBody bounds a POST body: 1000 ids of up to ~1 KiB each.
const maxBody = 1 << 20

// New returns the query API handler. token, when not empty, is the bearer
// token every request must carry. The handler serves only /v1/ paths;
// mount it beside /metrics, /healthz and /readyz.
func New(c *client.Client, token string, log *zap.Logger) http.Handler {
	if log == nil {
		log = zap.NewNop()
	}
	s := &server{c: c, log: log}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		s.token = sum[:]
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/learners/{learner}/suppressions", s.suppressionsGET)
	mux.HandleFunc("POST /v1/learners/{learner}/suppressions", s.suppressionsPOST)
	mux.HandleFunc("GET /v1/learners/{learner}/contents/{content...}", s.explain)
	mux.HandleFunc("GET /v1/learners/{learner}/engagement", s.engagement)
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path+" (see GET /v1/learners/{learner}/suppressions?content=a,b, GET /v1/learners/{learner}/contents/{content} and GET /v1/learners/{learner}/engagement?content=a,b)")
	})
	return s.auth(mux)
}

// RequireToken wraps next so that, when token is not empty, every request
// must carry it as a bearer token (answered as the query API answers: 401
// with WWW-Authenticate, compared in constant time). For routes served
// beside the query API, such as the insight endpoints.
func RequireToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	sum := sha256.Sum256([]byte(token))
	return (&server{token: sum[:]}).auth(next)
}

type server struct {
	c     *client.Client
	token []byte // sha256 of the token; nil = no auth
	log   *zap.Logger
}

func (s *server) auth(next http.Handler) http.Handler {
	if s.token == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		const bearer = "Bearer "
		if len(h) < len(bearer) || !strings.EqualFold(h[:len(bearer)], bearer) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="unpair"`)
			writeError(w, http.StatusUnauthorized, "missing bearer token: send Authorization: Bearer <token>")
			return
		}
		// Compare digests: constant time, and no length leak.
		got := sha256.Sum256([]byte(strings.TrimSpace(h[len(bearer):])))
		if subtle.ConstantTimeCompare(got[:], s.token) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="unpair", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "invalid bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// SuppressionsResponse is the body of a suppressions query.
type SuppressionsResponse struct {
	Learner    string               `json:"learner"` // learner key, never the identity asked with
	Allowed    []string             `json:"allowed"`
	Suppressed []client.Suppression `json:"suppressed"`
}

// ExplainResponse is the body of a contents query.
type ExplainResponse struct {
	Learner  string             `json:"learner"`
	Content  string             `json:"content"`
	Found    bool               `json:"found"`      // unpair has a stored decision on the pair
	Active   bool               `json:"suppressed"` // suppressed now
	Decision *decision.Decision `json:"decision,omitempty"`
	// Derived: the decision was not stored but decided at read time from
	// the learner's skills and the catalog (content the learner never
	// touched whose skills are all mastered).
	Derived bool `json:"derived,omitempty"`
	// Engagement is what the learner did with the content; absent when
	// nothing was recorded.
	Engagement *store.Engagement `json:"engagement,omitempty"`
}

// EngagementResponse is the body of an engagement query: one entry per
// content asked, in order; found is false for a content the learner never
// did anything with.
type EngagementResponse struct {
	Learner    string              `json:"learner"`
	Engagement []client.Engagement `json:"engagement"`
}

// ErrorResponse is the body of every error.
type ErrorResponse struct {
	Error string `json:"error"`
}

// contentParams returns the content ids of ?content=a,b&content=c.
func contentParams(r *http.Request) []string {
	var contents []string
	for _, v := range r.URL.Query()["content"] {
		for _, c := range strings.Split(v, ",") {
			if c != "" {
				contents = append(contents, c)
			}
		}
	}
	return contents
}

func (s *server) suppressionsGET(w http.ResponseWriter, r *http.Request) {
	s.suppressions(w, r, contentParams(r))
}

// checkContents answers 400 for a missing or too long content list.
func checkContents(w http.ResponseWriter, contents []string) bool {
	if len(contents) == 0 {
		writeError(w, http.StatusBadRequest, "content: required, e.g. ?content=a,b,c (comma-separated content ids)")
		return false
	}
	if len(contents) > MaxContents {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("content: %d content ids, at most %d per request", len(contents), MaxContents))
		return false
	}
	return true
}

func (s *server) engagement(w http.ResponseWriter, r *http.Request) {
	contents := contentParams(r)
	if !checkContents(w, contents) {
		return
	}
	key, ok := s.learner(w, r)
	if !ok {
		return
	}
	pairs, err := s.c.Engagement(r.Context(), client.Learner(key), contents)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, EngagementResponse{Learner: key, Engagement: pairs})
}

func (s *server) suppressionsPOST(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Contents []string `json:"contents"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf(`body: must be {"contents":["id",...]} of at most %d bytes: %v`, maxBody, err))
		return
	}
	for i, c := range body.Contents {
		if c == "" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("contents[%d]: must not be empty", i))
			return
		}
	}
	s.suppressions(w, r, body.Contents)
}

func (s *server) suppressions(w http.ResponseWriter, r *http.Request, contents []string) {
	if !checkContents(w, contents) {
		return
	}
	key, ok := s.learner(w, r)
	if !ok {
		return
	}
	allowed, suppressed, err := s.c.Filter(r.Context(), client.Learner(key), contents)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	if suppressed == nil {
		suppressed = []client.Suppression{}
	}
	writeJSON(w, http.StatusOK, SuppressionsResponse{Learner: key, Allowed: allowed, Suppressed: suppressed})
}

func (s *server) explain(w http.ResponseWriter, r *http.Request) {
	content := r.PathValue("content")
	if content == "" {
		writeError(w, http.StatusBadRequest, "content: required in the path, URL-escaped: /v1/learners/{learner}/contents/{content}")
		return
	}
	key, ok := s.learner(w, r)
	if !ok {
		return
	}
	x, err := s.c.Explain(r.Context(), client.Learner(key), content)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ExplainResponse{Learner: x.Learner, Content: x.Content, Found: x.Found, Active: x.Active,
		Decision: x.Decision, Derived: x.Derived, Engagement: x.Engagement})
}

// learner resolves the {learner} path value to a learner key or answers 400.
func (s *server) learner(w http.ResponseWriter, r *http.Request) (string, bool) {
	key, err := s.c.Key(client.Learner(r.PathValue("learner")))
	if err != nil {
		writeError(w, http.StatusBadRequest, "learner: "+strings.TrimPrefix(err.Error(), "learner: ")+" (a learner key or a URL-escaped IFI)")
		return "", false
	}
	return key, true
}

// storeError answers a failed read. The log names the route, not the
// learner's identity.
func (s *server) storeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		return // the caller went away
	}
	s.log.Warn("query failed", zap.String("route", r.Pattern), zap.Error(err))
	writeError(w, http.StatusServiceUnavailable, "cannot read from Redis; retry later")
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, ErrorResponse{Error: msg})
}
