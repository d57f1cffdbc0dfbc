package client

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/engagement"
	"github.com/unpair/unpair/processor/store"
	"github.com/unpair/unpair/schema"
)

func engaged(t0 time.Time, progress float64) engagement.Pair {
	var p engagement.Pair
	for _, ev := range []schema.Evidence{
		{Kind: schema.KindLaunch, Verb: "http://adlnet.gov/expapi/verbs/launched", Time: t0.UnixNano()},
		{Kind: schema.KindProgress, Time: t0.Add(time.Minute).UnixNano(), HasProgress: true, Progress: progress, Duration: int64(time.Minute)},
	} {
		p.Apply(&ev)
	}
	return p
}

func TestClientEngagement(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	e := newEnv(t, rdb, "eng")
	ctx := context.Background()
	key, err := e.c.Key(alice)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	a, b := engaged(t0, 0.1), engaged(t0.Add(time.Hour), 0.9)
	_, err = e.st.WriteBatch(ctx, []store.LearnerWrite{{Learner: key, Offset: 5,
		Decisions:  []decision.Decision{sup("a", decision.Mastered, 0)},
		Engagement: []store.Field{store.EngagementField("a", &a, true), store.EngagementField("b", &b, false)}}})
	if err != nil {
		t.Fatal(err)
	}

	e.calls.Store(0)
	got, err := e.c.Engagement(ctx, alice, []string{"b", "never", "a"})
	if err != nil {
		t.Fatal(err)
	}
	if n := e.calls.Load(); n != 1 {
		t.Fatalf("Engagement sent %d commands, want 1", n)
	}
	want := []Engagement{
		{Found: true, Engagement: store.EngagementOf("b", &b, false)},
		{Engagement: store.Engagement{Content: "never"}},
		{Found: true, Engagement: store.EngagementOf("a", &a, true)},
	}
	if len(got) != len(want) {
		t.Fatalf("%d answers, want %d", len(got), len(want))
	}
	for i := range want {
		if g, w := got[i], want[i]; g.Found != w.Found || g.Content != w.Content || g.LastSeen != w.LastSeen ||
			g.BarelyTouched != w.BarelyTouched || g.TimeSpentMS != w.TimeSpentMS || (g.Progress == nil) != (w.Progress == nil) {
			t.Fatalf("answer %d: %+v, want %+v", i, g, w)
		}
	}
	if *got[2].Progress != 0.1 || got[2].Launches != 1 || got[2].LastKind != "progress" {
		t.Fatalf("a: %+v", got[2].Engagement)
	}
	if r, err := e.c.Engagement(ctx, alice, nil); err != nil || r != nil {
		t.Fatalf("no contents: %v %v", r, err)
	}

	e.calls.Store(0)
	x, err := e.c.Explain(ctx, alice, "a")
	if err != nil {
		t.Fatal(err)
	}
	if n := e.calls.Load(); n != 1 {
		t.Fatalf("Explain sent %d round trips, want 1", n)
	}
	if !x.Found || !x.Active || x.Engagement == nil || x.Engagement.StartedAt != t0.UnixMilli() || !x.Engagement.BarelyTouched {
		t.Fatalf("Explain(a) = %+v, engagement %+v", x, x.Engagement)
	}
	if x, err := e.c.Explain(ctx, alice, "b"); err != nil || x.Found || x.Decision != nil || x.Engagement == nil {
		t.Fatalf("Explain(b): engagement without a decision: %+v %v", x, err)
	}
	if x, err := e.c.Explain(ctx, alice, "never"); err != nil || x.Found || x.Engagement != nil {
		t.Fatalf("Explain(never) = %+v %v", x, err)
	}

	if err := rdb.HSet(ctx, e.c.schema.Keys(key).Engagement, "bad", "1|x").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Engagement(ctx, alice, []string{"a", "bad"}); err == nil || !strings.Contains(err.Error(), `"bad"`) {
		t.Fatalf("corrupt value: %v", err)
	}
	if _, err := e.c.Explain(ctx, alice, "bad"); err == nil || !strings.Contains(err.Error(), "cannot read engagement") {
		t.Fatalf("corrupt value in Explain: %v", err)
	}
	if _, err := e.c.Engagement(ctx, "alice@example.com", []string{"a"}); err == nil {
		t.Fatal("bad learner: no error")
	}
	mr.Close()
	if _, err := e.c.Engagement(ctx, alice, []string{"a"}); err == nil || !strings.Contains(err.Error(), "cannot read engagement") {
		t.Fatalf("server down: %v", err)
	}
	if _, err := e.c.Explain(ctx, alice, "a"); err == nil {
		t.Fatal("server down: Explain without error")
	}
}
