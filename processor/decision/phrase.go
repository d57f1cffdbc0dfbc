package decision

import (
	"math"
	"strconv"
	"time"
)

// The phrases explanations are built from, shared by the engine (stored
// decisions) and the query client (decisions of untouched content derived
// at read time), so both say the same things the same way. They append to
// the caller's buffer without formatting machinery: explanations are built
// for every decision handed out at every flush.

var monthAbbr = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// AppendDay appends the UTC day of a unix ms time as "2 Jan 2006" (what
// time.Time.Format gives for that layout).
func AppendDay(b []byte, ms int64) []byte {
	t := time.UnixMilli(ms).UTC()
	y, m, d := t.Date()
	if y < 1000 || y > 9999 {
		return t.AppendFormat(b, "2 Jan 2006")
	}
	b = strconv.AppendInt(b, int64(d), 10)
	b = append(b, ' ')
	b = append(b, monthAbbr[m-1]...)
	b = append(b, ' ')
	return strconv.AppendInt(b, int64(y), 10)
}

// AppendPct appends x in [0, 1] as a whole percentage ("81%").
func AppendPct(b []byte, x float64) []byte {
	b = strconv.AppendInt(b, int64(int(math.Round(x*100))), 10)
	return append(b, '%')
}

// AppendAnswers says how many of the learner's answers were correct, in
// words ("3 of your 4 answers correct").
func AppendAnswers(b []byte, correct, attempts int) []byte {
	switch {
	case attempts == 1 && correct == 1:
		return append(b, "your only answer correct"...)
	case attempts == 1:
		return append(b, "your only answer wrong"...)
	case attempts == 2 && correct == 2:
		return append(b, "both your answers correct"...)
	case correct == attempts:
		b = append(b, "all "...)
		b = strconv.AppendInt(b, int64(attempts), 10)
		return append(b, " of your answers correct"...)
	case correct == 0:
		b = append(b, "none of your "...)
		b = strconv.AppendInt(b, int64(attempts), 10)
		return append(b, " answers correct"...)
	}
	b = strconv.AppendInt(b, int64(correct), 10)
	b = append(b, " of your "...)
	b = strconv.AppendInt(b, int64(attempts), 10)
	return append(b, " answers correct"...)
}
