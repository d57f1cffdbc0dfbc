package insight

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/engagement"
	"github.com/unpair/unpair/processor/store"
	"github.com/unpair/unpair/schema"
)

const (
	cVideo   = "https://example.com/course/intro-video"
	cQuiz    = "https://example.com/quiz/fractions"
	cReading = "https://example.com/reading/photosynthesis"
	alice    = "mailto:alice@example.com"
)

var secret = []byte("insight test secret")

type fixture struct {
	srv   *httptest.Server
	rdb   redis.UniversalClient
	base  time.Time // today 00:00 UTC
	now   time.Time // today 12:00 UTC
	alice string    // alice's learner key
}

func (f *fixture) day(offset int) string { return f.base.AddDate(0, 0, offset).Format("2006-01-02") }

// newFixture fills a miniredis through the real write path (Pair,
// Aggregator, Writer over two partitions; store.EncodeDecision) with:
//
//	intro-video:     10 starts; 6 left at 10% progress 20 days ago, 2 completed 18 days ago,
//	                 2 started 2 days ago (not idle yet) -> 6 of 8 idle abandoned = 75%
//	fractions quiz:  5 learners passed it 5 days ago, 4 of them suppressed as mastered = 80%
//	photosynthesis:  4 starts 16 days ago, 1 left at 10%, 3 read 90% -> 1 of 4 abandoned = 25%
//
// and alice's decisions: the quiz suppressed (mastered, review in 10 days),
// the reading suppressed with its review already due, the video shown.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { rdb.Close() })
	f := &fixture{rdb: rdb, base: time.Now().UTC().Truncate(24 * time.Hour)}
	f.now = f.base.Add(12 * time.Hour)
	rule := engagement.DefaultRule()
	aggs := []*engagement.Aggregator{engagement.NewAggregator(0, -1, rule), engagement.NewAggregator(1, -1, rule)}
	pairs := map[[2]string]engagement.Pair{}
	offset := int64(0)
	apply := func(learner int, content string, ev schema.Evidence, mastered bool) {
		ev.Learner = fmt.Sprintf("%032x", learner+1)
		ev.Content = content
		k := [2]string{ev.Learner, content}
		before := pairs[k]
		after := before
		after.Apply(&ev)
		if mastered {
			after.SetMastered(ev.Time)
		}
		pairs[k] = after
		offset++
		aggs[learner%2].Apply(&ev, &before, &after, offset)
	}
	at := func(days int, d time.Duration) int64 { return f.base.AddDate(0, 0, days).Add(d).UnixNano() }
	launch := schema.Evidence{Kind: schema.KindLaunch, Verb: "http://adlnet.gov/expapi/verbs/launched"}
	progress := func(p float64) schema.Evidence {
		return schema.Evidence{Kind: schema.KindProgress, Verb: "http://adlnet.gov/expapi/verbs/progressed", HasProgress: true, Progress: p}
	}
	with := func(ev schema.Evidence, t int64, dur time.Duration) schema.Evidence {
		ev.Time, ev.Duration = t, int64(dur)
		return ev
	}
	for i := 0; i < 6; i++ {
		apply(i, cVideo, with(launch, at(-20, time.Hour+time.Duration(i)*time.Minute), 0), false)
		apply(i, cVideo, with(progress(0.1), at(-20, 2*time.Hour), time.Minute), false)
	}
	for i := 6; i < 8; i++ {
		apply(i, cVideo, with(launch, at(-18, time.Hour), 0), false)
		apply(i, cVideo, schema.Evidence{Kind: schema.KindCompletion, Verb: "http://adlnet.gov/expapi/verbs/completed",
			Time: at(-18, 2*time.Hour), Duration: int64(20 * time.Minute)}, false)
	}
	for i := 8; i < 10; i++ {
		apply(i, cVideo, with(launch, at(-2, time.Hour), 0), false)
		apply(i, cVideo, with(progress(0.05), at(-2, 2*time.Hour), 30*time.Second), false)
	}
	for i := 10; i < 15; i++ {
		apply(i, cQuiz, schema.Evidence{Kind: schema.KindCompletion, Verb: "http://adlnet.gov/expapi/verbs/passed",
			HasSuccess: true, Success: true, Time: at(-5, 3*time.Hour), Duration: int64(4 * time.Minute)}, i < 14)
	}
	for i := 15; i < 19; i++ {
		p := 0.9
		if i == 15 {
			p = 0.1
		}
		apply(i, cReading, with(launch, at(-16, time.Hour), 0), false)
		apply(i, cReading, with(progress(p), at(-16, 2*time.Hour), 10*time.Minute), false)
	}
	ctx := context.Background()
	w := engagement.NewWriter(rdb)
	for _, a := range aggs {
		if _, err := w.Write(ctx, a.Flush(offset)); err != nil {
			t.Fatal(err)
		}
	}

	f.alice = schema.NewLearnerKeyer(secret).Key(schema.CanonicalMbox(alice))
	sc, err := store.NewSchema("")
	if err != nil {
		t.Fatal(err)
	}
	ms := func(days int) int64 { return f.base.AddDate(0, 0, days).UnixMilli() }
	for _, d := range []decision.Decision{
		{Content: cQuiz, Suppressed: true, Reason: decision.Mastered, Explanation: "You answered 5 fraction questions in a row correctly.",
			Since: ms(-5), Until: ms(10), Evidence: decision.Evidence{Attempts: 5, Correct: 5, PKnown: 0.97, Model: "bkt"}},
		{Content: cReading, Suppressed: true, Reason: decision.Completed, Explanation: "You completed this reading.",
			Since: ms(-16), Until: ms(-1)},
		{Content: cVideo, Suppressed: false, Reason: decision.WrongAnswer, Explanation: "A wrong answer shows this is worth another look.", Since: ms(-3)},
	} {
		v, err := store.EncodeDecision(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := rdb.HSet(ctx, sc.DecisionsKey(f.alice), d.Content, v).Err(); err != nil {
			t.Fatal(err)
		}
	}

	h, err := Handler(Config{Redis: rdb, Secret: secret, Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}
