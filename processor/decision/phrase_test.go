package decision

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestAppendDay(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	f := func(ms int64) {
		t.Helper()
		want := time.UnixMilli(ms).UTC().Format("2 Jan 2006")
		if got := string(AppendDay([]byte("x"), ms)); got != "x"+want {
			t.Fatalf("AppendDay(%d) = %q, want %q", ms, got, "x"+want)
		}
	}
	for _, ms := range []int64{0, -1, 1, 86_399_999, 86_400_000, -62_135_596_800_001, 253_402_300_800_000, math.MaxInt64 / 2, math.MinInt64 / 2} {
		f(ms)
	}
	for range 20000 {
		f(r.Int64N(5_000_000_000_000) - 500_000_000_000)
	}
}

func TestAppendAnswersAndPct(t *testing.T) {
	for _, c := range []struct {
		correct, attempts int
		want              string
	}{
		{1, 1, "your only answer correct"}, {0, 1, "your only answer wrong"}, {2, 2, "both your answers correct"},
		{4, 4, "all 4 of your answers correct"}, {0, 3, "none of your 3 answers correct"}, {3, 4, "3 of your 4 answers correct"},
	} {
		if got := string(AppendAnswers(nil, c.correct, c.attempts)); got != c.want {
			t.Errorf("AppendAnswers(%d, %d) = %q, want %q", c.correct, c.attempts, got, c.want)
		}
	}
	if got := string(AppendPct([]byte("p "), 0.8149)); got != "p 81%" {
		t.Errorf("AppendPct = %q", got)
	}
}
