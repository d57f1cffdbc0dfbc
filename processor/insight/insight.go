package insight

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/client"
	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/engagement"
	"github.com/unpair/unpair/processor/store"
)

//go:embed assets
var assets embed.FS

// Config is what the handlers read from.
type Config struct {
	Redis  redis.UniversalClient // the Redis the processor writes to
	Prefix string                // key prefix ("" = "unpair"), as the processor's
	Secret []byte                // learner-key secret (UNPAIR_LEARNER_SECRET), to hash IFIs
	Rule   engagement.Rule       // the barely-touched rule; zero value = engagement.DefaultRule()
	Now    func() time.Time      // nil = time.Now
}

type server struct {
	rdb    redis.UniversalClient
	reader *engagement.Reader
	client *client.Client
	schema store.Schema
	now    func() time.Time
}

func newServer(cfg Config) (*server, error) {
	if cfg.Redis == nil {
		return nil, errors.New("insight: Redis client: required")
	}
	rule := cfg.Rule
	if rule == (engagement.Rule{}) {
		rule = engagement.DefaultRule()
	}
	if err := rule.Validate(); err != nil {
		return nil, fmt.Errorf("insight: %w", err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	sc, err := store.NewSchema(cfg.Prefix)
	if err != nil {
		return nil, fmt.Errorf("insight: %w", err)
	}
	cl, err := client.New(cfg.Redis, client.Options{Secret: cfg.Secret, Prefix: cfg.Prefix, Now: now})
	if err != nil {
		return nil, fmt.Errorf("insight: %w", err)
	}
	return &server{
		rdb:    cfg.Redis,
		reader: engagement.NewReader(cfg.Redis, rule, engagement.Keys{Prefix: cfg.Prefix}),
		client: cl,
		schema: sc,
		now:    now,
	}, nil
}

// Register adds the insight routes (see the package doc) to mux.
func Register(mux *http.ServeMux, cfg Config) error {
	s, err := newServer(cfg)
	if err != nil {
		return err
	}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		return fmt.Errorf("insight: embedded assets: %w", err)
	}
	mux.Handle("GET /insight/", http.StripPrefix("/insight/", http.FileServerFS(static)))
	mux.Handle("GET /insight", http.RedirectHandler("/insight/", http.StatusFound))
	mux.HandleFunc("GET /v1/contents/{content}/engagement", s.content)
	mux.HandleFunc("GET /v1/contents/barely-touched", s.list(s.reader.BarelyTouched))
	mux.HandleFunc("GET /v1/contents/mastered", s.list(s.reader.Mastered))
	mux.HandleFunc("POST /v1/insight/learner", s.learner)
	return nil
}

// Handler returns a handler serving only the insight routes.
func Handler(cfg Config) (http.Handler, error) {
	mux := http.NewServeMux()
	if err := Register(mux, cfg); err != nil {
		return nil, err
	}
	return mux, nil
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

func badRequest(w http.ResponseWriter, err error) {
	writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
}

func unavailable(w http.ResponseWriter, err error) {
	writeJSON(w, http.StatusServiceUnavailable, apiError{err.Error()})
}

// intParam reads an integer query parameter within [lo, hi].
func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("query parameter %s: %q must be an integer in %d..%d", name, s, lo, hi)
	}
	return n, nil
}

func (s *server) content(w http.ResponseWriter, r *http.Request) {
	content := r.PathValue("content")
	if content == "" || len(content) > 2048 {
		badRequest(w, errors.New("path segment content: must be a content id of 1 to 2048 bytes, escaped as one segment"))
		return
	}
	days, err := intParam(r, "days", engagement.MaxDays, 1, engagement.MaxDays)
	if err != nil {
		badRequest(w, err)
		return
	}
	f, err := s.reader.Content(r.Context(), content, days, s.now())
	if err != nil {
		unavailable(w, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

// List is the body of the ranked-list endpoints.
type List struct {
	Days     int                  `json:"days"`
	Rule     engagement.Rule      `json:"rule"`
	Contents []engagement.Figures `json:"contents"`
}

func (s *server) list(rank func(context.Context, engagement.Query) ([]engagement.Figures, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		days, err := intParam(r, "days", engagement.MaxDays, 1, engagement.MaxDays)
		if err != nil {
			badRequest(w, err)
			return
		}
		limit, err := intParam(r, "limit", 20, 1, 1000)
		if err != nil {
			badRequest(w, err)
			return
		}
		minBase, err := intParam(r, "min", 1, 1, 1<<30)
		if err != nil {
			badRequest(w, err)
			return
		}
		var contents []string
		if c := r.URL.Query().Get("contents"); c != "" {
			for _, x := range strings.Split(c, ",") {
				if x = strings.TrimSpace(x); x != "" {
					contents = append(contents, x)
				}
			}
			if len(contents) > 1000 {
				badRequest(w, fmt.Errorf("query parameter contents: %d ids, at most 1000", len(contents)))
				return
			}
		}
		fs, err := rank(r.Context(), engagement.Query{Contents: contents, Days: days, Now: s.now(), Limit: limit, MinBase: int64(minBase)})
		if err != nil {
			unavailable(w, err)
			return
		}
		if fs == nil {
			fs = []engagement.Figures{}
		}
		writeJSON(w, http.StatusOK, List{Days: days, Rule: s.reader.Rule(), Contents: fs})
	}
}

// LearnerDecision is one decision in a learner lookup.
type LearnerDecision struct {
	Content     string            `json:"content"`
	Suppressed  bool              `json:"suppressed"` // suppressed now: stored as suppressed and until not passed
	Reason      decision.Reason   `json:"reason"`
	Explanation string            `json:"explanation"`
	Since       int64             `json:"since"`
	Until       int64             `json:"until"`      // review due or end of suppression, unix ms; 0 = none
	ReviewDue   bool              `json:"review_due"` // until has passed: the content is worth reviewing again
	Evidence    decision.Evidence `json:"evidence"`
}

// LearnerView is the answer of a learner lookup.
type LearnerView struct {
	Learner   string            `json:"learner"` // the learner key; the identity given is not echoed
	Decisions []LearnerDecision `json:"decisions"`
}

// maxLearnerBody bounds the lookup request; an actor JSON is small.
const maxLearnerBody = 8 << 10

func (s *server) learner(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxLearnerBody+1))
	if err != nil {
		badRequest(w, fmt.Errorf("request body: %v", err))
		return
	}
	if len(body) > maxLearnerBody {
		badRequest(w, fmt.Errorf("request body: larger than %d bytes", maxLearnerBody))
		return
	}
	var req struct {
		Learner string `json:"learner"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		badRequest(w, errors.New(`request body: must be JSON {"learner": "<IFI, actor JSON or learner key>"}`))
		return
	}
	key, err := s.client.Key(client.Learner(req.Learner))
	if err != nil {
		badRequest(w, err) // the messages name the form expected, never echo the identity
		return
	}
	m, err := s.rdb.HGetAll(r.Context(), s.schema.DecisionsKey(key)).Result()
	if err != nil {
		unavailable(w, fmt.Errorf("cannot read decisions: %w", err))
		return
	}
	nowMs := s.now().UnixMilli()
	view := LearnerView{Learner: key, Decisions: []LearnerDecision{}}
	for content, v := range m {
		h, d, err := store.DecodeDecision(v)
		if err != nil {
			continue // a value this version cannot read is not the reader's to fix
		}
		view.Decisions = append(view.Decisions, LearnerDecision{
			Content: content, Suppressed: h.Active(nowMs), Reason: d.Reason, Explanation: d.Explanation,
			Since: d.Since, Until: d.Until, ReviewDue: h.Suppressed && h.Until != 0 && nowMs >= h.Until,
			Evidence: d.Evidence,
		})
	}
	// Suppressed now first, then those whose review is due, then the rest.
	rank := func(d *LearnerDecision) int {
		switch {
		case d.Suppressed:
			return 0
		case d.ReviewDue:
			return 1
		}
		return 2
	}
	slices.SortFunc(view.Decisions, func(a, b LearnerDecision) int {
		return cmp.Or(cmp.Compare(rank(&a), rank(&b)), cmp.Compare(a.Content, b.Content))
	})
	writeJSON(w, http.StatusOK, view)
}
