package engine

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/engagement"
	"github.com/unpair/unpair/schema"
)

const dayMs = int64(24 * time.Hour / time.Millisecond)

func TestEngagementOfEveryKind(t *testing.T) {
	e := newEngine(t, nil)
	l := e.NewLearner("L")
	const c = "video/1"
	at := func(min int64) int64 { return (day0 + min*60_000) * 1e6 }
	evs := []schema.Evidence{
		{ID: newID(), Content: c, Kind: schema.KindOther, Verb: "http://adlnet.gov/expapi/verbs/commented", Time: at(0)},
		{ID: newID(), Content: c, Kind: schema.KindLaunch, Verb: "http://adlnet.gov/expapi/verbs/launched", Time: at(1)},
		{ID: newID(), Content: c, Kind: schema.KindExperience, Time: at(2), Duration: int64(90 * time.Second)},
		{ID: newID(), Content: c, Kind: schema.KindProgress, Time: at(3), HasProgress: true, Progress: 0.25, Duration: int64(1500 * time.Millisecond)},
		{ID: newID(), Content: c, Kind: schema.KindProgress, Time: at(4), HasProgress: true, Progress: 0.1},
		{ID: newID(), Content: c, Kind: schema.KindAttempt, Time: at(5)}, // no result
		{ID: newID(), Content: c, Kind: schema.KindAttempt, Time: at(6), HasSuccess: true, Success: true},
		{ID: newID(), Content: c, Kind: schema.KindCompletion, Verb: "http://adlnet.gov/expapi/verbs/completed", Time: at(7)},
		{ID: newID(), Content: c, Kind: schema.KindRating, Time: at(8)}, // no score: engagement only
	}
	for i := range evs {
		if o := e.Apply(l, &evs[i], Source{Partition: 0, Offset: int64(i)}); o != Applied {
			t.Fatalf("statement %d (%v): %v, want applied", i, evs[i].Kind, o)
		}
	}
	pe, ok := l.Engagement(c)
	if !ok {
		t.Fatal("no engagement")
	}
	p := pe.Pair
	sec := func(ns int64) int64 { return ns / 1e9 * 1e9 }
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"first seen", p.FirstSeen, sec(at(0))},
		{"last seen", p.LastSeen, sec(at(8))},
		{"started", p.StartedAt, sec(at(1))},
		{"completed", p.CompletedAt, sec(at(7))},
		{"time spent", time.Duration(p.TimeSpent), 91500 * time.Millisecond},
		{"launches", p.Starts, uint32(1)},
		{"attempts", p.Attempts, uint32(2)},
		{"completions", p.Completions, uint32(1)},
		{"progress", p.Progress, float32(0.25)},
		{"has progress", p.HasProgress(), true},
		{"last kind", p.LastKind, schema.KindRating},
		{"mastered", p.Mastered(), false},
	} {
		if f.got != f.want {
			t.Errorf("%s: %v, want %v", f.name, f.got, f.want)
		}
	}
	// Launches and progress are kept in the window: the same id again is a
	// duplicate and counts nothing.
	if o := e.Apply(l, &evs[1], Source{Partition: 0, Offset: 100}); o != Duplicate {
		t.Fatalf("launch again: %v, want duplicate", o)
	}
	// Engagement alone writes no decision.
	var ch Changes
	l.Changes(&ch)
	for _, d := range ch.Decisions {
		if d.Content == c && d.Evidence.Attempts == 0 {
			t.Errorf("decision written for a pair without scored evidence: %+v", d)
		}
	}
	if len(ch.Engagement) != 1 || ch.Engagement[0].Content != c || ch.Engagement[0].Pair != p {
		t.Fatalf("changes engagement %+v, want the pair", ch.Engagement)
	}
	if len(ch.EngagementChanges) != len(evs) {
		t.Fatalf("%d engagement changes, want one per applied statement (%d)", len(ch.EngagementChanges), len(evs))
	}
	l.Clean(ch.Mark)
	var again Changes
	l.Changes(&again)
	if len(again.Engagement) != 0 || len(again.EngagementChanges) != 0 {
		t.Fatalf("after Clean: %d pairs, %d changes", len(again.Engagement), len(again.EngagementChanges))
	}
}

func TestMasteredMarkFollowsDecision(t *testing.T) {
	e := newEngine(t, bkt(nil))
	l := e.NewLearner("L")
	hour := int64(time.Hour / time.Millisecond)
	off := int64(0)
	apply := func(ev schema.Evidence) {
		t.Helper()
		off++
		if o := e.Apply(l, &ev, Source{Partition: 3, Offset: off}); o != Applied {
			t.Fatalf("%v", o)
		}
	}
	mastered := func(c string) bool {
		t.Helper()
		pe, _ := l.Engagement(c)
		d, _ := l.Decision(c)
		if pe.Pair.Mastered() != (d.Suppressed && d.Reason == decision.Mastered) {
			t.Fatalf("%s: mark %v, decision %+v", c, pe.Pair.Mastered(), d)
		}
		return pe.Pair.Mastered()
	}
	apply(answer("q/frac2", false, day0))
	apply(answer("q/frac1", true, day0+hour))
	apply(answer("q/frac1", true, day0+2*hour))
	var ch Changes
	l.Changes(&ch)
	l.Clean(ch.Mark)
	apply(answer("q/frac1", true, day0+3*hour))
	if !mastered("q/frac1") || !mastered("q/frac2") {
		t.Fatal("both should be mastered through the shared skill")
	}
	ch = Changes{}
	l.Changes(&ch)
	var sibling, own *EngagementChange
	for i := range ch.EngagementChanges {
		c := &ch.EngagementChanges[i]
		switch {
		case c.Content == "q/frac2" && !c.Statement:
			sibling = c
		case c.Content == "q/frac1" && c.Statement:
			own = c
		}
	}
	if sibling == nil || sibling.Before.Mastered() || !sibling.After.Mastered() || sibling.Source.Offset != off {
		t.Fatalf("sibling change %+v, want an engine-made change to mastered at offset %d", sibling, off)
	}
	if own == nil || own.Before.Mastered() || !own.After.Mastered() || own.Evidence.Kind != schema.KindAttempt {
		t.Fatalf("own change %+v, want the statement's change to mastered", own)
	}
	// The review sweep does not move the mark (no stream position); the
	// next statement re-deciding the pair does.
	d, _ := l.Decision("q/frac2")
	e.Due(l, d.Until)
	if d2, _ := l.Decision("q/frac2"); d2.Suppressed {
		t.Fatalf("still suppressed after review due: %+v", d2)
	}
	if pe, _ := l.Engagement("q/frac2"); !pe.Pair.Mastered() {
		t.Fatal("the sweep moved the mastered mark")
	}
	apply(answer("q/frac2", false, d.Until+hour))
	if mastered("q/frac2") || mastered("q/frac1") {
		t.Fatal("a wrong answer should clear both marks")
	}
}

// TestEngagementChangesMakeFigures feeds the engine's engagement changes to
// an aggregator, with redeliveries, voids and fan-out, and checks that the
// pair figures equal those of the final pairs counted from scratch, and the
// statement figures those of the applied statements.
func TestEngagementChangesMakeFigures(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	rule := engagement.DefaultRule()
	for trial := range 40 {
		e := newEngine(t, nil)
		agg := engagement.NewAggregator(0, -1, rule)
		learners := map[string]*Learner{}
		var launches, attempts int64
		off := int64(0)
		for k := range 4 {
			key := fmt.Sprintf("L%d", k)
			l := e.NewLearner(key)
			learners[key] = l
			evs := stream(r, key, 20+r.IntN(40), day0+int64(k)*dayMs)
			for i := 0; i < len(evs); i++ {
				if i > 3 && r.IntN(8) == 0 { // a void of a recent statement
					v := schema.Evidence{ID: newID(), Kind: schema.KindVoid, Voids: evs[i-1-r.IntN(3)].ID, Time: evs[i].Time}
					off++
					e.Apply(l, &v, Source{Partition: 0, Offset: off})
				}
				off++
				if e.Apply(l, &evs[i], Source{Partition: 0, Offset: off}) == Applied {
					switch {
					case evs[i].Kind == schema.KindLaunch:
						launches++
					case evs[i].Kind == schema.KindAttempt, evs[i].Scored():
						attempts++
					}
				}
				if r.IntN(4) == 0 { // a redelivery of the same statement
					e.Apply(l, &evs[i], Source{Partition: 0, Offset: off})
				}
				if r.IntN(10) == 0 { // a flush
					var ch Changes
					l.Changes(&ch)
					for j := range ch.EngagementChanges {
						ch.EngagementChanges[j].Feed(agg)
					}
					l.Clean(ch.Mark)
				}
			}
			var ch Changes
			l.Changes(&ch)
			for j := range ch.EngagementChanges {
				ch.EngagementChanges[j].Feed(agg)
			}
			l.Clean(ch.Mark)
		}
		fresh := engagement.NewAggregator(0, -1, rule)
		for _, l := range learners {
			for i := range l.items {
				pe := l.eng.pairEngagement(&l.items[i])
				fresh.ApplyPair(pe.Content, nil, &pe.Pair, 1)
			}
		}
		got, want := figures(agg.Flush(off)), figures(fresh.Flush(1))
		for k, w := range want {
			g := got[k]
			for _, f := range pairFigures {
				if g[f] != w[f] {
					t.Fatalf("trial %d: %s figure %d: %d from the changes, %d from the final pairs", trial, k, f, g[f], w[f])
				}
			}
		}
		var gotL, gotA int64
		for k, g := range got {
			w := want[k]
			for _, f := range pairFigures {
				if g[f] != w[f] {
					t.Fatalf("trial %d: %s figure %d: %d from the changes, %d from the final pairs", trial, k, f, g[f], w[f])
				}
			}
			gotA += g[2]
			gotL += g[3]
		}
		if gotL != launches || gotA != attempts {
			t.Fatalf("trial %d: launches %d attempts %d, want %d and %d", trial, gotL, gotA, launches, attempts)
		}
	}
}

// pairFigures are the indices of the figures counted from pairs (starts,
// completions, active, open, mastered, reach, histogram), as laid out in
// docs/engagement.md.
var pairFigures = func() []int {
	f := []int{0, 1, 7, 8, 9, 10}
	for i := 11; i < 27; i++ {
		f = append(f, i)
	}
	return f
}()

func figures(b engagement.Batch) map[string][27]int64 {
	out := map[string][27]int64{}
	for _, c := range b.Cells {
		k := c.Content + "@" + c.Day.String()
		v := out[k]
		for i := range v {
			v[i] += c.Delta[i]
		}
		out[k] = v
	}
	return out
}

func TestBarelyTouchedSweep(t *testing.T) {
	e := newEngine(t, nil)
	l := e.NewLearner("L")
	off := int64(0)
	apply := func(ev schema.Evidence) {
		t.Helper()
		off++
		if o := e.Apply(l, &ev, Source{Partition: 0, Offset: off}); o != Applied {
			t.Fatalf("%v", o)
		}
	}
	idle := int64(e.cfg.Engagement.IdleDays) * dayMs
	// Barely touched: launched, 5% progress, one minute (under a quarter of
	// the default 10 minutes).
	apply(schema.Evidence{ID: newID(), Content: "video/1", Kind: schema.KindLaunch, Time: day0 * 1e6})
	apply(schema.Evidence{ID: newID(), Content: "video/1", Kind: schema.KindProgress, Time: (day0 + 60_000) * 1e6,
		HasProgress: true, Progress: 0.05, Duration: int64(time.Minute)})
	// Far along: 60% and 8 minutes.
	apply(schema.Evidence{ID: newID(), Content: "video/2", Kind: schema.KindProgress, Time: day0 * 1e6,
		HasProgress: true, Progress: 0.6, Duration: int64(8 * time.Minute)})
	// Completed.
	apply(schema.Evidence{ID: newID(), Content: "video/3", Kind: schema.KindLaunch, Time: day0 * 1e6})
	apply(schema.Evidence{ID: newID(), Content: "video/3", Kind: schema.KindCompletion, Time: day0 * 1e6})
	// Launched, then disliked: suppressed (feedback), so not reported.
	apply(schema.Evidence{ID: newID(), Content: "video/6", Kind: schema.KindLaunch, Time: day0 * 1e6})
	apply(schema.Evidence{ID: newID(), Content: "video/6", Kind: schema.KindDislike, Time: day0 * 1e6})
	// Rated only: not started.
	apply(schema.Evidence{ID: newID(), Content: "video/4", Kind: schema.KindRating, Time: day0 * 1e6, HasScore: true, Scaled: 0.75})
	var ch Changes
	l.Changes(&ch)
	l.Clean(ch.Mark)

	last := day0 + 60_000
	if got := l.NextDue(); got != last+idle {
		t.Fatalf("NextDue %d, want %d (latest activity + %d idle days)", got, last+idle, e.cfg.Engagement.IdleDays)
	}
	sweep := func(now int64, want ...string) {
		t.Helper()
		n := e.SweepBarelyTouched(l, now)
		var ch Changes
		l.Changes(&ch)
		l.Clean(ch.Mark)
		var got []string
		for _, ev := range ch.Events {
			if ev.Kind != decision.EventBarelyTouched {
				t.Fatalf("event %+v", ev)
			}
			got = append(got, ev.Decision.Content)
			pe, _ := l.Engagement(ev.Decision.Content)
			if want := barelyID("L", ev.Decision.Content, nsSecs(pe.Pair.LastSeen)); ev.ID != want || ev.At != now {
				t.Fatalf("event id %q at %d, want %q at %d", ev.ID, ev.At, want, now)
			}
			if !pe.BarelyTouched {
				t.Fatalf("%s not marked", ev.Decision.Content)
			}
		}
		if n != len(want) || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("sweep at +%.1f days: %d marked, events %v, want %v", float64(now-day0)/float64(dayMs), n, got, want)
		}
	}
	sweep(last + idle - 1000)
	sweep(last+idle, "video/1")
	sweep(last + idle + dayMs) // once per episode
	// Survives a reload: not reported again.
	data, err := l.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if l, err = e.LoadLearner("L", data); err != nil {
		t.Fatal(err)
	}
	sweep(last + 2*idle)
	if d, _ := l.Decision("video/6"); l.NextDue() != d.Until {
		t.Fatalf("NextDue %d after the only candidate was reported, want the feedback's end %d", l.NextDue(), d.Until)
	}
	// New activity starts a new episode.
	back := last + 2*idle
	apply(schema.Evidence{ID: newID(), Content: "video/1", Kind: schema.KindExperience, Time: back * 1e6, Duration: int64(10 * time.Second)})
	if pe, _ := l.Engagement("video/1"); pe.BarelyTouched {
		t.Fatal("still marked after new activity")
	}
	sweep(back + idle - 1000)
	sweep(back+idle, "video/1")
	// Due runs the sweep too.
	apply(schema.Evidence{ID: newID(), Content: "video/5", Kind: schema.KindLaunch, Time: back * 1e6})
	if n := e.Due(l, back+2*idle); n != 0 {
		t.Fatalf("Due ended %d suppressions", n)
	}
	l.Changes(&ch)
	if pe, _ := l.Engagement("video/5"); !pe.BarelyTouched {
		t.Fatal("Due did not sweep")
	}
}

func TestEngagementConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Engagement.IdleDays = 0 }, "IdleDays"},
		{func(c *Config) { c.Engagement.MinProgress = 2 }, "MinProgress"},
		{func(c *Config) { c.TypicalTime = -time.Second }, "typical_time"},
	} {
		c := DefaultConfig()
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one naming %s", err, tc.want)
		}
	}
}
