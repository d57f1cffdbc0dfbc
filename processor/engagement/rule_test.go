package engagement

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestRuleValidate(t *testing.T) {
	f := func(r Rule, wantField string) {
		t.Helper()
		err := r.Validate()
		switch {
		case wantField == "" && err != nil:
			t.Errorf("%+v: unexpected error %v", r, err)
		case wantField != "" && (err == nil || !strings.Contains(err.Error(), wantField)):
			t.Errorf("%+v: error %v, want one naming %s", r, err, wantField)
		}
	}
	f(DefaultRule(), "")
	f(Rule{MinProgress: 1, TimeShare: 0, IdleDays: 1}, "")
	f(Rule{MinProgress: 0, TimeShare: 0.2, IdleDays: 3}, "MinProgress")
	f(Rule{MinProgress: math.NaN(), TimeShare: 0.2, IdleDays: 3}, "MinProgress")
	f(Rule{MinProgress: 0.2, TimeShare: 1.5, IdleDays: 3}, "TimeShare")
	f(Rule{MinProgress: 0.2, TimeShare: 0.2, IdleDays: 0}, "IdleDays")
	f(Rule{MinProgress: 0.2, TimeShare: 0.2, IdleDays: 400}, "IdleDays")
}

func TestRuleBarelyTouched(t *testing.T) {
	r := DefaultRule() // 0.2 progress, 0.25 time share, 14 days
	now := t0.Add(30 * 24 * time.Hour)
	idle := t0.UnixNano()
	recent := now.Add(-24 * time.Hour).UnixNano()
	f := func(name string, p Pair, typical time.Duration, want bool) {
		t.Helper()
		if got := r.BarelyTouched(p, typical, now); got != want {
			t.Errorf("%s: BarelyTouched = %v, want %v", name, got, want)
		}
	}
	f("never started", Pair{FirstSeen: idle, LastSeen: idle}, 0, false)
	f("started, nothing measured, idle", Pair{StartedAt: idle, LastSeen: idle}, 0, true)
	f("started, nothing measured, recent", Pair{StartedAt: idle, LastSeen: recent}, 0, false)
	f("completed", Pair{StartedAt: idle, LastSeen: idle, CompletedAt: idle}, 0, false)
	f("low progress", Pair{StartedAt: idle, LastSeen: idle, Progress: 0.1, Flags: flagHasProgress}, 0, true)
	f("far along, time unknown", Pair{StartedAt: idle, LastSeen: idle, Progress: 0.6, Flags: flagHasProgress}, 0, false)
	f("far along but far under typical time", Pair{StartedAt: idle, LastSeen: idle, Progress: 0.6, Flags: flagHasProgress, TimeSpent: int64(time.Minute)}, time.Hour, true)
	f("no progress, enough time", Pair{StartedAt: idle, LastSeen: idle, TimeSpent: int64(30 * time.Minute)}, time.Hour, false)
	f("no progress, little time", Pair{StartedAt: idle, LastSeen: idle, TimeSpent: int64(10 * time.Minute)}, time.Hour, true)
	f("exactly idle days ago", Pair{StartedAt: idle, LastSeen: now.Add(-14 * 24 * time.Hour).UnixNano()}, 0, true)
}
