package mastery

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestSkillRoundTrip(t *testing.T) {
	for _, s := range []Skill{
		{Model: "elo", Threshold: 0.7, Eligible: true, Value: float64(float32(1.2345)), Attempts: 5, Correct: 4, Streak: 3, Last: 1_700_000_000_000, LastWrong: 1_699_000_000_000},
		{Model: "bkt", Threshold: 0.95, Value: 0.9381234567891234, Attempts: 1, Correct: 1, Streak: 1, Last: 1000},
		{Model: "streak", Threshold: 3, Eligible: true, Value: 3, Attempts: 3, Correct: 3, Streak: 3},
		{Model: "ewma", Threshold: 0.875, Value: -0.25},
	} {
		enc := string(AppendSkill(nil, &s))
		got, err := DecodeSkill(enc)
		if err != nil {
			t.Fatalf("DecodeSkill(%q): %v", enc, err)
		}
		if got != s {
			t.Errorf("round trip of %q: got %+v, want %+v", enc, got, s)
		}
	}
}

func TestDecodeSkillRejects(t *testing.T) {
	f := func(v, field string) {
		t.Helper()
		_, err := DecodeSkill(v)
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("DecodeSkill(%q) = %v, want an error naming %q", v, err, field)
		}
	}
	f("1|elo|0.7|1|0.5|2|2|2|1000", "10")
	f("2|elo|0.7|1|0.5|2|2|2|1000|0", "format")
	f("1|irt|0.7|1|0.5|2|2|2|1000|0", "model")
	f("1|elo|NaN|1|0.5|2|2|2|1000|0", "threshold")
	f("1|elo|0.7|yes|0.5|2|2|2|1000|0", "eligible")
	f("1|elo|0.7|1|+Inf|2|2|2|1000|0", "value")
	f("1|elo|0.7|1|0.5|-2|2|2|1000|0", "attempts")
	f("1|elo|0.7|1|0.5|2|3|2|1000|0", "correct")
	f("1|elo|0.7|1|0.5|2|2|2|x|0", "last")
}

func TestJudge(t *testing.T) {
	elo := func(ability float64, eligible bool, last int64) *Skill {
		return &Skill{Model: "elo", Threshold: 0.7, Eligible: eligible, Value: ability, Attempts: 3, Correct: 3, Streak: 3, Last: last}
	}
	day := int64(24 * time.Hour / time.Millisecond)
	due := func(last int64) int64 { return last + 8*day } // 2^3 days after 3 right, 0 wrong
	cases := []struct {
		name       string
		skills     []*Skill
		difficulty float64
		mastered   bool
		weakest    int
		until      int64
	}{
		{"no skills", nil, 0, false, -1, 0},
		{"one mastered", []*Skill{elo(2, true, 1000*1000)}, 0, true, 0, due(1000 * 1000)},
		{"too hard an item", []*Skill{elo(2, true, 1000*1000)}, 1.5, false, 0, due(1000 * 1000)},
		{"not eligible", []*Skill{elo(2, false, 1000*1000)}, 0, false, 0, due(1000 * 1000)},
		{"one never practised", []*Skill{elo(2, true, 1000*1000), nil}, 0, false, 0, due(1000 * 1000)},
		{"weakest and earliest review", []*Skill{elo(3, true, 5000*1000), elo(1, true, 2000*1000)}, 0, true, 1, due(2000 * 1000)},
	}
	for _, c := range cases {
		v := Judge(c.skills, c.difficulty)
		if v.Mastered != c.mastered || v.Weakest != c.weakest || v.Until != c.until {
			t.Errorf("%s: got %+v, want mastered %v weakest %d until %d", c.name, v, c.mastered, c.weakest, c.until)
		}
		if c.weakest >= 0 && v.Estimate != c.skills[c.weakest].Estimate(c.difficulty) {
			t.Errorf("%s: estimate %v is not the weakest skill's", c.name, v.Estimate)
		}
	}
}

func TestReviewDueSaturates(t *testing.T) {
	s := Skill{Last: math.MaxUint32 * 1000, Attempts: 40, Correct: 40}
	if got := s.ReviewDue(); got != math.MaxUint32*1000 {
		t.Errorf("ReviewDue = %d, want saturation at %d", got, int64(math.MaxUint32)*1000)
	}
}
