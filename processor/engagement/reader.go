package engagement

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// MaxDays is the longest window a Reader serves: the figures are kept for
// DefaultRetention.
const MaxDays = 30

// Figures are one content's engagement over a window of whole UTC days,
// summed over every partition's partials.
type Figures struct {
	Content string `json:"content"`
	From    string `json:"from"` // first day, YYYY-MM-DD
	To      string `json:"to"`   // last day (today), YYYY-MM-DD
	Days    int    `json:"days"`

	Starts         int64   `json:"starts"`          // learners who started it in the window
	Completions    int64   `json:"completions"`     // learners who first completed it in the window
	CompletionRate float64 `json:"completion_rate"` // completions / starts, at most 1
	Attempts       int64   `json:"attempts"`        // attempt statements
	Launches       int64   `json:"launches"`        // launch statements
	UniqueLearners int64   `json:"unique_learners"` // learners who engaged with it and whose latest activity is in the window (exact)

	TimeSpentMS       int64 `json:"time_spent_ms"`        // result.duration summed
	MedianTimeSpentMS int64 `json:"median_time_spent_ms"` // median of a learner's total time, over learners last active in the window

	Idle            int64   `json:"idle"`             // started learners whose last activity is at least the rule's idle days old
	Abandoned       int64   `json:"abandoned"`        // of those, not completed and not far along
	AbandonmentRate float64 `json:"abandonment_rate"` // abandoned / idle

	Ratings       int64   `json:"ratings"`
	AverageRating float64 `json:"average_rating"` // scaled [0, 1]; 0 without ratings

	Mastered      int64   `json:"mastered"`       // learners for whom it is suppressed as mastered, active or mastered in the window
	Reach         int64   `json:"reach"`          // learners who engaged with it or master it, active or mastered in the window
	MasteredShare float64 `json:"mastered_share"` // mastered / reach

	Daily []Daily `json:"daily"` // one entry per day of the window, oldest first
}

// Daily is one day of a content's starts and completions.
type Daily struct {
	Date        string `json:"date"`
	Starts      int64  `json:"starts"`
	Completions int64  `json:"completions"`
}

// Reader answers queries on the stored figures.
type Reader struct {
	rdb  redis.UniversalClient
	keys Keys
	rule Rule
}

// NewReader returns a reader. rule must be the one the aggregators use (its
// IdleDays decides which days count as idle).
func NewReader(rdb redis.UniversalClient, rule Rule, keys Keys) *Reader {
	return &Reader{rdb: rdb, keys: keys, rule: rule}
}

// Rule returns the reader's barely-touched rule.
func (r *Reader) Rule() Rule { return r.rule }

func window(days int, now time.Time) ([]day, error) {
	if days < 1 || days > MaxDays {
		return nil, fmt.Errorf("engagement window: days %d must be in 1..%d", days, MaxDays)
	}
	today := dayOfTime(now)
	ds := make([]day, days)
	for i := range ds {
		ds[i] = today - day(days-1-i)
	}
	return ds, nil
}

// Contents returns the content ids with figures in the window, sorted.
func (r *Reader) Contents(ctx context.Context, days int, now time.Time) ([]string, error) {
	ds, err := window(days, now)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(ds))
	for i, d := range ds {
		keys[i] = r.keys.Contents(d)
	}
	cs, err := r.rdb.SUnion(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("cannot list contents of the last %d days: %w", days, err)
	}
	slices.Sort(cs)
	return cs, nil
}

// Content returns one content's figures over the last days days ending on
// now's day.
func (r *Reader) Content(ctx context.Context, content string, days int, now time.Time) (Figures, error) {
	fs, err := r.Figures(ctx, []string{content}, days, now)
	if err != nil {
		return Figures{}, err
	}
	return fs[0], nil
}

// Figures returns the figures of each content, in the order given.
func (r *Reader) Figures(ctx context.Context, contents []string, days int, now time.Time) ([]Figures, error) {
	ds, err := window(days, now)
	if err != nil {
		return nil, err
	}
	out := make([]Figures, len(contents))
	if len(contents) == 0 {
		return out, nil
	}
	ps, err := r.rdb.SMembers(ctx, r.keys.Partitions()).Result()
	if err != nil {
		return nil, fmt.Errorf("cannot list engagement partitions: %w", err)
	}
	pipe := r.rdb.Pipeline()
	type read struct {
		di  int
		cmd *redis.SliceCmd
	}
	var reads []read
	for _, ps := range ps {
		p, err := strconv.ParseInt(ps, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("cannot list engagement partitions: member %q is not a partition number", ps)
		}
		for di, d := range ds {
			reads = append(reads, read{di, pipe.HMGet(ctx, r.keys.Day(int32(p), d), contents...)})
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("cannot read engagement figures of %d contents over %d days: %w", len(contents), days, err)
	}
	sums := make([][]vec, len(contents)) // [content][day]
	for i := range sums {
		sums[i] = make([]vec, len(ds))
	}
	for _, rd := range reads {
		vals, err := rd.cmd.Result()
		if err != nil {
			return nil, fmt.Errorf("cannot read engagement figures: %w", err)
		}
		for ci, v := range vals {
			s, ok := v.(string)
			if !ok {
				continue
			}
			if err := addStored(&sums[ci][rd.di], s); err != nil {
				return nil, fmt.Errorf("cannot read engagement figures of %q on %s: %w", contents[ci], ds[rd.di].ISO(), err)
			}
		}
	}
	idleCut := dayOfTime(now) - day(r.rule.IdleDays)
	for ci, c := range contents {
		out[ci] = summarize(c, ds, sums[ci], idleCut)
	}
	return out, nil
}

// addStored adds a stored "v1,v2,..." value to v.
func addStored(v *vec, s string) error {
	for i := 0; s != "" && i < numFigures; i++ {
		f, rest, _ := strings.Cut(s, ",")
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return fmt.Errorf("figure %d: %q is not an integer", i+1, f)
		}
		v[i] += n
		s = rest
	}
	return nil
}

func ratio(a, b int64) float64 {
	if b <= 0 {
		return 0
	}
	return min(float64(a)/float64(b), 1)
}

func summarize(content string, ds []day, per []vec, idleCut day) Figures {
	f := Figures{Content: content, From: ds[0].ISO(), To: ds[len(ds)-1].ISO(), Days: len(ds)}
	var tot vec
	f.Daily = make([]Daily, len(ds))
	for i, d := range ds {
		v := &per[i]
		for j := range tot {
			tot[j] += v[j]
		}
		if d <= idleCut {
			f.Idle += v[fActive]
			f.Abandoned += v[fOpen]
		}
		f.Daily[i] = Daily{Date: d.ISO(), Starts: v[fStarts], Completions: v[fCompletions]}
	}
	f.Starts, f.Completions = tot[fStarts], tot[fCompletions]
	f.Attempts, f.Launches = tot[fAttempts], tot[fLaunches]
	f.CompletionRate = ratio(f.Completions, f.Starts)
	f.TimeSpentMS = tot[fTimeMS]
	f.MedianTimeSpentMS = histMedian(tot[fHist:]).Milliseconds()
	f.AbandonmentRate = ratio(f.Abandoned, f.Idle)
	f.Ratings = tot[fRatings]
	if f.Ratings > 0 {
		f.AverageRating = float64(tot[fRatingMilli]) / 1000 / float64(f.Ratings)
	}
	f.UniqueLearners = tot[fActive]
	f.Mastered, f.Reach = tot[fMastered], tot[fReach]
	f.MasteredShare = ratio(f.Mastered, f.Reach)
	return f
}

// Query selects the contents of a ranked list.
type Query struct {
	Contents []string  // contents to rank; empty: every content with figures in the window
	Days     int       // window length, 1..MaxDays
	Now      time.Time // the window ends on this day
	Limit    int       // at most this many entries; 0: no limit
	MinBase  int64     // ignore contents whose denominator (idle learners, reach) is under this; 0 counts as 1
}

func (r *Reader) rank(ctx context.Context, q Query, keep func(*Figures) bool, less func(a, b *Figures) int) ([]Figures, error) {
	cs := q.Contents
	if len(cs) == 0 {
		var err error
		if cs, err = r.Contents(ctx, q.Days, q.Now); err != nil {
			return nil, err
		}
	}
	fs, err := r.Figures(ctx, cs, q.Days, q.Now)
	if err != nil {
		return nil, err
	}
	out := fs[:0]
	for i := range fs {
		if keep(&fs[i]) {
			out = append(out, fs[i])
		}
	}
	slices.SortStableFunc(out, func(a, b Figures) int {
		return cmp.Or(less(&a, &b), cmp.Compare(a.Content, b.Content))
	})
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// BarelyTouched ranks contents by abandonment rate, highest first: the share
// of learners who started, went idle and left without getting far.
func (r *Reader) BarelyTouched(ctx context.Context, q Query) ([]Figures, error) {
	base := max(q.MinBase, 1)
	return r.rank(ctx, q,
		func(f *Figures) bool { return f.Abandoned > 0 && f.Idle >= base },
		func(a, b *Figures) int {
			return cmp.Or(cmp.Compare(b.AbandonmentRate, a.AbandonmentRate), cmp.Compare(b.Abandoned, a.Abandoned))
		})
}

// Mastered ranks contents by the share of their learners for whom they are
// suppressed as already mastered, highest first: "most learners already
// know this".
func (r *Reader) Mastered(ctx context.Context, q Query) ([]Figures, error) {
	base := max(q.MinBase, 1)
	return r.rank(ctx, q,
		func(f *Figures) bool { return f.Mastered > 0 && f.Reach >= base },
		func(a, b *Figures) int {
			return cmp.Or(cmp.Compare(b.MasteredShare, a.MasteredShare), cmp.Compare(b.Mastered, a.Mastered))
		})
}
