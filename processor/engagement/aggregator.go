package engagement

import (
	"cmp"
	"math"
	"slices"
	"sync"

	"github.com/unpair/unpair/schema"
)

type cellKey struct {
	content string
	day     day
}

// Aggregator collects, for one input partition, the changes to the
// per-content daily figures since the last Flush. It is fed the pair before
// and after each statement (Apply) or each engine-made change (ApplyPair)
// and turns the difference into deltas; the Writer adds them to the stored
// absolute partials atomically, guarded by the partition offset.
//
// base is the partition offset the stored partials already include (Writer.
// Offset on assignment): statements at or below it are replays and are
// ignored here, even when the engine applies them to learner state again.
// An Aggregator is safe for concurrent use by the shards of one partition.
type Aggregator struct {
	partition int32
	base      int64
	rule      Rule

	mu     sync.Mutex
	deltas map[cellKey]*vec
	last   int64
}

// NewAggregator returns the aggregator of one partition. base is the offset
// returned by Writer.Offset when the partition was assigned (-1 if none).
// rule decides which pairs count as open for the abandonment figures; it
// must be the rule readers use.
func NewAggregator(partition int32, base int64, rule Rule) *Aggregator {
	return &Aggregator{
		partition: partition,
		base:      base,
		rule:      rule,
		deltas:    make(map[cellKey]*vec),
		last:      base,
	}
}

// Partition returns the partition the aggregator belongs to.
func (a *Aggregator) Partition() int32 { return a.partition }

// Base returns the offset the stored partials included at assignment.
func (a *Aggregator) Base() int64 { return a.base }

func (a *Aggregator) cell(content string, d day) *vec {
	k := cellKey{content, d}
	v := a.deltas[k]
	if v == nil {
		v = new(vec)
		a.deltas[k] = v
	}
	return v
}

// Apply records one statement at offset: ev is the statement, before and
// after the learner's Pair for ev.Content around Pair.Apply. A statement
// at or below the base offset is already in the stored figures and is
// ignored.
func (a *Aggregator) Apply(ev *schema.Evidence, before, after *Pair, offset int64) {
	if offset <= a.base || ev.Kind == schema.KindVoid {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.note(offset)
	d := dayOf(stamp(ev.Time))
	v := a.cell(ev.Content, d)
	switch ev.Kind {
	case schema.KindLaunch:
		v[fLaunches]++
	case schema.KindAttempt:
		v[fAttempts]++
	case schema.KindCompletion:
		if ev.Scored() {
			v[fAttempts]++
		}
	case schema.KindRating:
		if ev.HasScore && !math.IsNaN(ev.Scaled) {
			v[fRatingMilli] += int64(math.Round(min(max(ev.Scaled, 0), 1) * 1000))
			v[fRatings]++
		}
	}
	if dur := ev.Duration; dur > 0 && engages(ev.Kind) {
		v[fTimeMS] += min(dur, int64(MaxStatementDuration)) / 1e6
	}
	a.diff(ev.Content, before, after)
}

// ApplyPair records a change of a pair that no statement about its content
// caused, at offset: typically the engine marking it mastered (SetMastered)
// from evidence on another content that shares its skills.
func (a *Aggregator) ApplyPair(content string, before, after *Pair, offset int64) {
	if offset <= a.base {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.note(offset)
	a.diff(content, before, after)
}

func (a *Aggregator) note(offset int64) {
	if offset > a.last {
		a.last = offset
	}
}

// contribution is what one pair adds to one content-day figure.
type contribution struct {
	day day
	fig int
}

// contributions lists the figures a pair counts in; at most seven.
func (a *Aggregator) contributions(p *Pair, out []contribution) []contribution {
	if p.Started() {
		out = append(out, contribution{dayOf(p.StartedAt), fStarts})
		last := dayOf(p.LastSeen)
		out = append(out, contribution{last, fActive})
		if a.rule.open(p) {
			out = append(out, contribution{last, fOpen})
		}
		if p.TimeSpent > 0 {
			out = append(out, contribution{last, fHist + histBucket(p.TimeSpent)})
		}
	}
	if p.Completed() {
		out = append(out, contribution{dayOf(p.CompletedAt), fCompletions})
	}
	if p.Started() || p.Mastered() {
		d := dayOf(max(p.LastSeen, p.MasteredAt))
		out = append(out, contribution{d, fReach})
		if p.Mastered() {
			out = append(out, contribution{d, fMastered})
		}
	}
	return out
}

// diff adds the contributions of after and removes those of before.
func (a *Aggregator) diff(content string, before, after *Pair) {
	var bb, ab [8]contribution
	var b, n []contribution
	if before != nil {
		b = a.contributions(before, bb[:0])
	}
	if after != nil {
		n = a.contributions(after, ab[:0])
	}
	for _, c := range b {
		if !slices.Contains(n, c) {
			a.cell(content, c.day)[c.fig]--
		}
	}
	for _, c := range n {
		if !slices.Contains(b, c) {
			a.cell(content, c.day)[c.fig]++
		}
	}
}

// Cell is the change of one content-day partial.
type Cell struct {
	Content string
	Day     day
	Delta   vec
}

// Batch is what one Flush hands to Writer.Write: the changes of a partition
// up to Offset. Write it until it succeeds (writing it twice is harmless);
// do not write learner states past Offset before it has succeeded.
type Batch struct {
	Partition int32
	Offset    int64
	Cells     []Cell
}

// Empty reports whether the batch changes no figure.
func (b *Batch) Empty() bool { return len(b.Cells) == 0 }

// Flush returns the changes since the last Flush as a batch guarded by
// offset, the highest offset of the partition whose statements have all
// been applied (it may be past the last Apply: statements that changed no
// figure still advance it), and starts a new batch.
func (a *Aggregator) Flush(offset int64) Batch {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := Batch{Partition: a.partition, Offset: max(offset, a.last)}
	for k, v := range a.deltas {
		if !v.zero() {
			b.Cells = append(b.Cells, Cell{Content: k.content, Day: k.day, Delta: *v})
		}
	}
	slices.SortFunc(b.Cells, func(x, y Cell) int {
		return cmp.Or(cmp.Compare(x.Day, y.Day), cmp.Compare(x.Content, y.Content))
	})
	clear(a.deltas)
	return b
}

// Pending returns the number of content-day cells changed since the last
// Flush (a gauge for flush sizing).
func (a *Aggregator) Pending() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.deltas)
}
