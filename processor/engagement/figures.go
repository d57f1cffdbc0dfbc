package engagement

import (
	"math"
	"time"
)

// The figures one partition keeps per content per day. Each is an integer
// so partials add up exactly across partitions and replays.
const (
	fStarts      = iota // pairs whose start (first engaging statement) falls on the day
	fCompletions        // pairs whose first completion falls on the day
	fAttempts           // attempt statements on the day
	fLaunches           // launch statements on the day
	fTimeMS             // result.duration summed over the day's statements, milliseconds
	fRatingMilli        // ratings given on the day, summed, scaled x1000
	fRatings            // rating statements on the day
	fActive             // started pairs whose latest activity falls on the day
	fOpen               // of those, pairs not completed and not far along (see Rule)
	fMastered           // pairs currently suppressed as mastered, by the later of latest activity and mastering
	fReach              // pairs started or mastered, by the same day as fMastered (the mastered share's base)
	fHist               // histBuckets counts: started pairs by total time spent, by latest activity day
	numFigures   = fHist + histBuckets
)

// histBuckets log-spaced buckets of a pair's total time spent: bucket i
// holds times under histBase<<i; the last holds everything above.
const (
	histBuckets = 16
	histBase    = 15 * time.Second
)

// vec is one content-day partial (or a delta of one).
type vec [numFigures]int64

func (v *vec) zero() bool { return *v == vec{} }

// histBucket returns the bucket of a positive time spent.
func histBucket(d int64) int {
	for i := 0; i < histBuckets-1; i++ {
		if d < int64(histBase)<<i {
			return i
		}
	}
	return histBuckets - 1
}

// histBounds returns the bucket's lower and upper bounds; the last bucket's
// upper bound is its lower bound (no interpolation past it).
func histBounds(i int) (lo, hi time.Duration) {
	if i > 0 {
		lo = histBase << (i - 1)
	}
	if i == histBuckets-1 {
		return lo, lo
	}
	return lo, histBase << i
}

// histMedian estimates the median from bucket counts, interpolating linearly
// inside the bucket that holds the middle rank. 0 when there are no counts.
func histMedian(h []int64) time.Duration {
	var n int64
	for _, c := range h {
		n += c
	}
	if n == 0 {
		return 0
	}
	half := float64(n) / 2
	var below int64
	for i, c := range h {
		if c > 0 && float64(below+c) >= half {
			lo, hi := histBounds(i)
			frac := (half - float64(below)) / float64(c)
			return lo + time.Duration(math.Round(frac*float64(hi-lo)))
		}
		below += c
	}
	lo, _ := histBounds(len(h) - 1)
	return lo
}

// day is a UTC day number: days since 1970-01-01.
type day int32

func dayOf(unixNano int64) day {
	const perDay = int64(24 * time.Hour)
	d := unixNano / perDay
	if unixNano%perDay < 0 {
		d--
	}
	return day(d)
}

func dayOfTime(t time.Time) day { return dayOf(t.UnixNano()) }

// Time returns the day's start, UTC.
func (d day) Time() time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// String returns the day as YYYYMMDD, the form used in Redis keys.
func (d day) String() string { return d.Time().Format("20060102") }

// ISO returns the day as YYYY-MM-DD, the form used in JSON and reports.
func (d day) ISO() string { return d.Time().Format("2006-01-02") }
