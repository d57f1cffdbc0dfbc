package client

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/store"
	"github.com/unpair/unpair/schema"
)

var secret = []byte("test-secret")

func TestKeyMatchesLearnerKeyer(t *testing.T) {
	keyer := schema.NewLearnerKeyer(secret)
	c, err := New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), Options{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	sum := "ebd3fbed1b0e1b2c6a0e7bd6a6a7c5a9ef2e3c1d"
	f := func(l Learner, canonical string) {
		t.Helper()
		got, err := c.Key(l)
		if err != nil {
			t.Fatalf("Key(%s): %v", l, err)
		}
		if want := keyer.Key(canonical); got != want {
			t.Fatalf("Key(%s) = %s, want %s (LearnerKeyer of %s)", l, got, want, canonical)
		}
	}
	f("mailto:Alice@Example.com", schema.CanonicalMbox("mailto:alice@example.com"))
	f(" mailto:alice@example.com ", schema.CanonicalMbox("mailto:alice@example.com"))
	f(Learner("sha1:"+sum), schema.CanonicalSha1(sum))
	f(Learner("mbox_sha1sum:"+strings.ToUpper(sum)), schema.CanonicalSha1(sum))
	f("account:https://lms.example.org/|u-42", schema.CanonicalAccount("https://lms.example.org", "u-42"))
	f("openid:https://id.example.org/alice", schema.CanonicalOpenID("https://id.example.org/alice"))
	f(`{"objectType":"Agent","name":"Alice","mbox":"mailto:alice@example.com"}`, schema.CanonicalMbox("mailto:alice@example.com"))
	f(Learner(`{"mbox_sha1sum":"`+sum+`"}`), schema.CanonicalSha1(sum))
	f(`{"account":{"homePage":"https://lms.example.org","name":"u-42"}}`, schema.CanonicalAccount("https://lms.example.org", "u-42"))
	f(`{"openid":"https://id.example.org/alice"}`, schema.CanonicalOpenID("https://id.example.org/alice"))
	// An account without homePage, keyed as tolerant ingestion keys it.
	f(`{"account":{"name":"u-7"}}`, schema.CanonicalAccount("", "u-7"))
	f("account:|u-7", schema.CanonicalAccount("", "u-7"))
	f("account:https://lms.example.org|a|b", schema.CanonicalAccount("https://lms.example.org", "a|b"))
	f(`{"objectType":"Group","mbox":"mailto:team@example.com","member":[]}`, schema.CanonicalMbox("mailto:team@example.com"))

	// An mbox and its sha1sum are one learner.
	a, _ := c.Key("mailto:alice@example.com")
	b, _ := c.Key(Learner("sha1:" + schema.CanonicalMbox("mailto:alice@example.com")[len("sha1:"):]))
	if a != b {
		t.Fatalf("mbox key %s != mbox_sha1sum key %s", a, b)
	}
	// A key passes through unchanged.
	if k, err := c.Key(Learner(a)); err != nil || k != a {
		t.Fatalf("Key(key) = %s, %v", k, err)
	}
	// The secret matters.
	other, _ := New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), Options{Secret: []byte("other")})
	if k, _ := other.Key("mailto:alice@example.com"); k == a {
		t.Fatal("two secrets gave one key")
	}
}

func TestKeyRejects(t *testing.T) {
	c, err := New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), Options{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	f := func(l Learner, want string) {
		t.Helper()
		_, err := c.Key(l)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Key(%s) = %v, want error containing %q", l, err, want)
		}
	}
	f("", "required")
	f("alice@example.com", "neither an actor JSON")
	f("mailto:alice", "@")
	f("sha1:abc", "40 hex")
	f("account:nobody", "account:<homePage>|<name>")
	f("ftp:x", "unknown IFI form")
	f("{", "not a JSON object")
	f(`{"name":"Alice"}`, "exactly one of")
	f(`{"mbox":"mailto:a@b.c","openid":"https://x"}`, "got 2")
	f(`{"mbox":"alice@example.com"}`, "mailto:")
	f(`{"mbox_sha1sum":"zz"}`, "40 hex")
	f(`{"account":{"homePage":"https://lms.example.org"}}`, "needs a name")
	f(`{"openid":" "}`, "URI")
	f(`[1]`, "neither an actor JSON")
	// A raw key must be what schema.LearnerKeyer makes: 32 lower-case hex.
	f("k1", "exactly 32 lower-case hex")
	f("alice", "exactly 32 lower-case hex")
	f("0123456789ABCDEF0123456789abcdef", "exactly 32 lower-case hex")
	f("0123456789abcdef0123456789abcdeg", "exactly 32 lower-case hex")
	f("0123456789abcdef0123456789abcdef0", "exactly 32 lower-case hex")
	if k, err := c.Key("0123456789abcdef0123456789abcdef"); err != nil || k != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("Key(32 hex) = %q, %v", k, err)
	}
}

type env struct {
	c     *Client
	st    *store.Store
	now   time.Time
	calls *atomic.Int64 // commands sent to Redis
}

type countHook struct{ n *atomic.Int64 }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !handshake(cmd) {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && !handshake(cmds[0]) {
			h.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

// handshake reports whether cmd is part of go-redis's connection set-up.
func handshake(cmd redis.Cmder) bool { return cmd.Name() == "hello" || cmd.Name() == "client" }

func newEnv(t testing.TB, rdb redis.UniversalClient, prefix string) *env {
	t.Helper()
	e := &env{now: time.UnixMilli(1_700_000_000_000), calls: new(atomic.Int64)}
	st, err := store.New(rdb, store.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(rdb, Options{Secret: secret, Prefix: prefix, Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	e.c, e.st = c, st
	rdb.AddHook(countHook{e.calls})
	return e
}

func (e *env) write(t testing.TB, l Learner, ds ...decision.Decision) string {
	t.Helper()
	key, err := e.c.Key(l)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.WriteBatch(context.Background(), []store.LearnerWrite{{Learner: key, Offset: time.Now().UnixNano(), Decisions: ds}}); err != nil {
		t.Fatal(err)
	}
	return key
}

const alice = Learner("mailto:alice@example.com")

func sup(content string, r decision.Reason, until int64) decision.Decision {
	return decision.Decision{Content: content, Suppressed: true, Reason: r, Explanation: "because " + string(r), Until: until, Evidence: decision.Evidence{Attempts: 3, Correct: 3}}
}

func clientSuite(t *testing.T, rdb redis.UniversalClient, prefix string) {
	ctx := context.Background()
	e := newEnv(t, rdb, prefix)
	now := e.now.UnixMilli()
	key := e.write(t, alice,
		sup("mastered", decision.Mastered, 0),
		sup("review-later", decision.Mastered, now+1000),
		sup("review-due", decision.Mastered, now),
		sup("disliked", decision.Feedback, now+86_400_000),
		decision.Decision{Content: "lifted", Suppressed: false, Reason: decision.WrongAnswer, Explanation: "you missed one"},
	)

	t.Run("Suppressed", func(t *testing.T) {
		f := func(l Learner, content string, want bool, wantDecision bool) {
			t.Helper()
			got, d, err := e.c.Suppressed(ctx, l, content)
			if err != nil {
				t.Fatalf("Suppressed(%s): %v", content, err)
			}
			if got != want || (d != nil) != wantDecision || (d != nil && d.Content != content) {
				t.Fatalf("Suppressed(%s) = %v, %+v; want %v, decision %v", content, got, d, want, wantDecision)
			}
		}
		f(alice, "mastered", true, true)
		f(Learner(key), "mastered", true, true)
		f(`{"mbox":"mailto:ALICE@example.com"}`, "mastered", true, true)
		f(alice, "review-later", true, true)
		f(alice, "review-due", false, true) // until reached
		f(alice, "disliked", true, true)
		f(alice, "lifted", false, true)
		f(alice, "never-seen", false, false)
		f("mailto:bob@example.com", "mastered", false, false)
	})

	t.Run("Filter keeps order, one round trip", func(t *testing.T) {
		contents := []string{"never-seen", "mastered", "lifted", "review-due", "disliked", "mastered", "review-later", "x"}
		before := e.calls.Load()
		allowed, suppressed, err := e.c.Filter(ctx, alice, contents)
		if err != nil {
			t.Fatal(err)
		}
		if n := e.calls.Load() - before; n != 1 {
			t.Fatalf("Filter sent %d commands, want 1", n)
		}
		if got := strings.Join(allowed, ","); got != "never-seen,lifted,review-due,x" {
			t.Fatalf("allowed = %s", got)
		}
		var got []string
		for _, s := range suppressed {
			got = append(got, s.Content+"/"+string(s.Reason)+"/"+s.Explanation)
		}
		if strings.Join(got, ",") != "mastered/mastered/because mastered,disliked/feedback/because feedback,mastered/mastered/because mastered,review-later/mastered/because mastered" {
			t.Fatalf("suppressed = %v", got)
		}
		if a, s, err := e.c.Filter(ctx, alice, nil); err != nil || a != nil || s != nil {
			t.Fatalf("Filter(nil) = %v %v %v", a, s, err)
		}
	})

	t.Run("time passes", func(t *testing.T) {
		saved := e.now
		defer func() { e.now = saved }()
		e.now = e.now.Add(2 * time.Second)
		if ok, _, err := e.c.Suppressed(ctx, alice, "review-later"); err != nil || ok {
			t.Fatalf("review-later after its until: %v %v", ok, err)
		}
		if ok, _, err := e.c.Suppressed(ctx, alice, "mastered"); err != nil || !ok {
			t.Fatalf("mastered without until: %v %v", ok, err)
		}
	})

	t.Run("Explain", func(t *testing.T) {
		f := func(content string, found, active bool) {
			t.Helper()
			x, err := e.c.Explain(ctx, alice, content)
			if err != nil {
				t.Fatal(err)
			}
			if x.Learner != key || x.Content != content || x.Found != found || x.Active != active || (x.Decision != nil) != found {
				t.Fatalf("Explain(%s) = %+v", content, x)
			}
		}
		f("mastered", true, true)
		f("lifted", true, false)
		f("review-due", true, false)
		f("nothing", false, false)
		x, _ := e.c.Explain(ctx, alice, "lifted")
		if x.Decision.Reason != decision.WrongAnswer || x.Decision.Explanation != "you missed one" {
			t.Fatalf("lifted decision = %+v", x.Decision)
		}
	})

	t.Run("corrupt value is an error, not a panic", func(t *testing.T) {
		bad := e.write(t, "mailto:carol@example.com")
		if err := rdb.HSet(ctx, e.c.schema.DecisionsKey(bad), "c", "garbage", "d", "1|mastered|0|{not json").Err(); err != nil {
			t.Fatal(err)
		}
		for _, content := range []string{"c", "d"} {
			if _, _, err := e.c.Suppressed(ctx, Learner(bad), content); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("content %q", content)) {
				t.Fatalf("Suppressed(%s) err = %v", content, err)
			}
			if _, _, err := e.c.Filter(ctx, Learner(bad), []string{"ok", content}); err == nil {
				t.Fatalf("Filter with %s: no error", content)
			}
		}
	})

	t.Run("bad learner", func(t *testing.T) {
		if _, _, err := e.c.Suppressed(ctx, "alice@example.com", "c"); err == nil {
			t.Fatal("no error")
		}
		if _, _, err := e.c.Filter(ctx, "", []string{"c"}); err == nil {
			t.Fatal("no error")
		}
		if _, err := e.c.Explain(ctx, "{}", "c"); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestClientMiniredis(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	clientSuite(t, rdb, "ctest")
}

func TestClientFilterIsOneCommand(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	e := newEnv(t, rdb, "")
	e.write(t, alice, sup("a", decision.Mastered, 0))
	e.calls.Store(0)
	contents := make([]string, 1000)
	for i := range contents {
		contents[i] = fmt.Sprintf("c%d", i)
	}
	contents[500] = "a"
	allowed, suppressed, err := e.c.Filter(context.Background(), alice, contents)
	if err != nil || len(allowed) != 999 || len(suppressed) != 1 || suppressed[0].Content != "a" {
		t.Fatalf("Filter: %d allowed, %v, %v", len(allowed), suppressed, err)
	}
	if n := e.calls.Load(); n != 1 {
		t.Fatalf("Filter of 1000 contents sent %d commands, want 1", n)
	}
}

func TestClientServerDown(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	defer rdb.Close()
	c, err := New(rdb, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mr.Close()
	if _, _, err := c.Suppressed(context.Background(), "0123456789abcdef0123456789abcdef", "c"); err == nil || !strings.Contains(err.Error(), "cannot read decision") {
		t.Fatalf("Suppressed err = %v", err)
	}
	if _, _, err := c.Filter(context.Background(), "0123456789abcdef0123456789abcdef", []string{"c"}); err == nil || !strings.Contains(err.Error(), "cannot read decisions") {
		t.Fatalf("Filter err = %v", err)
	}
}

func TestNewRejects(t *testing.T) {
	if _, err := New(nil, Options{}); err == nil {
		t.Fatal("New(nil): no error")
	}
	if _, err := New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), Options{Prefix: "{x"}); err == nil {
		t.Fatal("New with a brace prefix: no error")
	}
}
