package engagement

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Rule says when a started pair counts as "barely touched": started, not
// completed, idle for IdleDays, and either not far along (progress under
// MinProgress) or far under the content's typical time (time spent under
// TimeShare of it). It is a signal for recommenders and authors, never a
// suppression.
type Rule struct {
	MinProgress float64 // progress share under which a started pair is barely touched; in (0, 1]
	TimeShare   float64 // share of the content's typical time under which it is barely touched; in [0, 1], 0 disables
	IdleDays    int     // days without any activity on the pair before it counts; 1..365
}

// DefaultRule: under 20% progress or under a quarter of the typical time,
// and two weeks without activity.
func DefaultRule() Rule { return Rule{MinProgress: 0.2, TimeShare: 0.25, IdleDays: 14} }

// Validate names the field and the rule it breaks.
func (r Rule) Validate() error {
	var errs []error
	if math.IsNaN(r.MinProgress) || r.MinProgress <= 0 || r.MinProgress > 1 {
		errs = append(errs, fmt.Errorf("engagement rule: MinProgress %v must be in (0, 1]", r.MinProgress))
	}
	if math.IsNaN(r.TimeShare) || r.TimeShare < 0 || r.TimeShare > 1 {
		errs = append(errs, fmt.Errorf("engagement rule: TimeShare %v must be in [0, 1]", r.TimeShare))
	}
	if r.IdleDays < 1 || r.IdleDays > 365 {
		errs = append(errs, fmt.Errorf("engagement rule: IdleDays %d must be in 1..365", r.IdleDays))
	}
	return errors.Join(errs...)
}

// Idle returns the idle period as a duration.
func (r Rule) Idle() time.Duration { return time.Duration(r.IdleDays) * 24 * time.Hour }

// lowProgress reports whether the pair is not far along by progress alone:
// no progress reported, or progress under MinProgress. This is the part of
// the rule the per-content abandonment figures use (see doc.go).
func (r Rule) lowProgress(p *Pair) bool {
	return !p.HasProgress() || float64(p.Progress) < r.MinProgress
}

// open reports whether a pair is a candidate for abandonment: started, not
// completed and not far along. It becomes abandoned once idle.
func (r Rule) open(p *Pair) bool { return p.Started() && !p.Completed() && r.lowProgress(p) }

// BarelyTouched applies the rule to one pair at time now. typicalTime is the
// content's typical time spent (the per-content median; 0 when unknown).
//
// When the pair reported progress, progress under MinProgress qualifies;
// when the typical time is known, time spent under TimeShare of it
// qualifies; when neither is known, a started, uncompleted, idle pair
// qualifies (all we know is that the learner started and left).
func (r Rule) BarelyTouched(p Pair, typicalTime time.Duration, now time.Time) bool {
	if !p.Started() || p.Completed() {
		return false
	}
	if now.UnixNano()-p.LastSeen < int64(r.Idle()) {
		return false
	}
	timeKnown := typicalTime > 0 && r.TimeShare > 0
	if p.HasProgress() && float64(p.Progress) < r.MinProgress {
		return true
	}
	if timeKnown && float64(p.TimeSpent) < r.TimeShare*float64(typicalTime) {
		return true
	}
	return !p.HasProgress() && !timeKnown
}
