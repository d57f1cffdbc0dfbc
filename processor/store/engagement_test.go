package store

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/engagement"
	"github.com/unpair/unpair/schema"
)

func samplePair() engagement.Pair {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).UnixNano()
	var p engagement.Pair
	for _, ev := range []schema.Evidence{
		{Kind: schema.KindLaunch, Verb: "http://adlnet.gov/expapi/verbs/launched", Time: t0},
		{Kind: schema.KindProgress, Verb: "http://adlnet.gov/expapi/verbs/progressed", Time: t0 + 60e9, HasProgress: true, Progress: 0.2, Duration: 45e9},
		{Kind: schema.KindAttempt, Time: t0 + 120e9, HasSuccess: true, Success: true},
	} {
		p.Apply(&ev)
	}
	return p
}

func TestEngagementRoundTrip(t *testing.T) {
	p := samplePair()
	f := func(p engagement.Pair, barely bool) {
		t.Helper()
		g := EngagementOf("c/1", &p, barely)
		fld := EngagementField("c/1", &p, barely)
		if fld.Name != "c/1" || fld.Value != EncodeEngagement(&g) {
			t.Fatalf("field %+v", fld)
		}
		back, err := DecodeEngagement("c/1", fld.Value)
		if err != nil {
			t.Fatalf("%q: %v", fld.Value, err)
		}
		if !reflect.DeepEqual(back, g) {
			t.Fatalf("round trip of %q:\n%+v\nwant\n%+v", fld.Value, back, g)
		}
	}
	f(p, false)
	f(p, true)
	f(engagement.Pair{}, false)
	g := EngagementOf("c/1", &p, true)
	if g.Progress == nil || *g.Progress != 0.2 || g.TimeSpentMS != 45000 || g.Launches != 1 || g.Attempts != 1 ||
		g.LastKind != "attempt" || g.LastVerb != "" || g.StartedAt != p.StartedAt/1e6 {
		t.Fatalf("stored form %+v", g)
	}
	if v := EncodeEngagement(&g); !strings.HasPrefix(v, "1|") || strings.Count(v, "|") != 13 {
		t.Fatalf("encoding %q", v)
	}
}

func TestDecodeEngagementRejects(t *testing.T) {
	for _, tc := range []struct{ v, want string }{
		{"", "fields"},
		{"2|0|0|0|0|0|0|0|0|0||other|0|0", "version"},
		{"1|x|0|0|0|0|0|0|0|0||other|0|0", "first_seen"},
		{"1|0|0|0|0|0|-5|0|0|0||other|0|0", "time_spent_ms"},
		{"1|0|0|0|0|0|0|0|0|0|1.5|other|0|0", "progress"},
		{"1|0|0|0|0|0|0|0|0|0|NaN|other|0|0", "progress"},
		{"1|0|0|0|0|0|0|0|0|0||sleeping|0|0", "kind"},
		{"1|0|0|0|0|0|0|0|0|0||other|70000|0", "verb"},
		{"1|0|0|0|0|0|0|0|0|0||other|0|2", "barely"},
	} {
		if _, err := DecodeEngagement("c", tc.v); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one naming %s", tc.v, err, tc.want)
		}
	}
}

// TestEngagementWrittenWithDecisions: the engagement fields go in the same
// guarded write as the decisions, and a stale write changes neither.
func TestEngagementWrittenWithDecisions(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	s := newTestStore(t, rdb, 0)
	ctx := context.Background()
	p := samplePair()
	d := decision.Decision{Content: "c/1", Reason: "", Explanation: "No answers yet."}
	w := LearnerWrite{Learner: "lk", Partition: 1, Offset: 10, State: []byte("s"),
		Decisions: []decision.Decision{d}, Engagement: []Field{EngagementField("c/1", &p, false)}}
	if res, err := s.WriteBatch(ctx, []LearnerWrite{w}); err != nil || res.Applied != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	k := s.Schema().Keys("lk")
	read := func() Engagement {
		t.Helper()
		v, err := rdb.HGet(ctx, k.Engagement, "c/1").Result()
		if err != nil {
			t.Fatal(err)
		}
		g, err := DecodeEngagement("c/1", v)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	if got, want := read(), EngagementOf("c/1", &p, false); !reflect.DeepEqual(got, want) {
		t.Fatalf("stored %+v, want %+v", got, want)
	}
	older := p
	older.Starts = 99
	w.Offset, w.Engagement = 9, []Field{EngagementField("c/1", &older, true)}
	if res, _ := s.WriteBatch(ctx, []LearnerWrite{w}); res.Applied != 0 {
		t.Fatal("stale write applied")
	}
	if got := read(); got.Launches != 1 || got.BarelyTouched {
		t.Fatalf("stale write changed engagement: %+v", got)
	}
}
