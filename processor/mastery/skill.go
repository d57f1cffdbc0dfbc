package mastery

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Skill is one learner-skill state as unpair publishes it (the learner's
// ":k" hash, docs/redis-keys.md), so that a reader can decide content the
// learner never touched: content is mastered when every one of its skills
// is. A Skill carries the part of the policy it was judged under (the
// deciding model, its threshold, and whether the item-independent rules
// hold), so a reader needs nothing but the catalog (content -> skills and
// item difficulty) to apply it.
type Skill struct {
	// Model is the model whose estimate decides: "bkt", "streak", "ewma" or
	// "elo" (a skill without BKT parameters under bkt is decided by streak).
	Model string
	// Threshold is the model's mastery bar on Estimate (streak: N).
	Threshold float64
	// Eligible says the item-independent rules hold: at least MinAttempts
	// scored attempts, the latest answer correct (and, under bkt, an
	// estimate made by the model).
	Eligible bool
	// Value is the model's state: P(known) (bkt), the streak length
	// (streak), the moving average (ewma) or the ability (elo, from which
	// Estimate derives P(correct) for an item's difficulty).
	Value float64
	// Attempts and Correct count scored answers; Streak is the run of
	// correct answers.
	Attempts, Correct, Streak int
	// Last and LastWrong are unix ms (whole seconds) of the latest answer
	// and the latest wrong answer; 0 none.
	Last, LastWrong int64
}

// Estimate is what the deciding model says about an item of the given
// difficulty: P(correct) under elo, the skill's Value otherwise.
func (s *Skill) Estimate(difficulty float64) float64 {
	if s.Model == "elo" {
		return Elo{}.PCorrect(s.Value, difficulty)
	}
	return s.Value
}

// Mastered reports whether the skill counts as mastered for an item of the
// given difficulty.
func (s *Skill) Mastered(difficulty float64) bool {
	return s.Eligible && s.Estimate(difficulty) >= s.Threshold
}

// ReviewDue is when a mastery resting on this skill comes back for review:
// the latest practice plus HalfLife(correct, wrong), in unix ms, computed
// in whole seconds and saturated at 2^32-1 seconds as the engine does.
func (s *Skill) ReviewDue() int64 {
	sec := s.Last/1000 + int64(HalfLife(s.Correct, s.Attempts-s.Correct)/time.Second)
	return min(max(sec, 0), math.MaxUint32) * 1000
}

// Verdict is what a content's skills say about it.
type Verdict struct {
	Mastered bool    // every skill known and mastered for the content's difficulty
	Weakest  int     // index of the known skill with the lowest estimate; -1 none
	Estimate float64 // the weakest skill's estimate
	Last     int64   // latest practice over the known skills, unix ms; 0 none
	Until    int64   // earliest review due over the known skills, unix ms; 0 none
}

// Judge decides a content of the given difficulty from the states of its
// skills, in the content's skill order; nil is a skill the learner never
// practised, which makes the content not mastered. It is the rule the
// engine applies to content with skills.
func Judge(skills []*Skill, difficulty float64) Verdict {
	v := Verdict{Weakest: -1, Mastered: len(skills) > 0}
	for i, s := range skills {
		if s == nil {
			v.Mastered = false
			continue
		}
		est := s.Estimate(difficulty)
		if !s.Mastered(difficulty) {
			v.Mastered = false
		}
		if v.Weakest < 0 || est < v.Estimate {
			v.Weakest, v.Estimate = i, est
		}
		v.Last = max(v.Last, s.Last)
		if u := s.ReviewDue(); v.Until == 0 || u < v.Until {
			v.Until = u
		}
	}
	return v
}

// SkillFormat is the version of AppendSkill's encoding, its first field.
const SkillFormat = "1"

// AppendSkill appends the published encoding of s:
//
//	1|<model>|<threshold>|<eligible 0/1>|<value>|<attempts>|<correct>|<streak>|<last ms>|<last wrong ms>
//
// Floats are in the shortest form that reads back to the same float64.
func AppendSkill(b []byte, s *Skill) []byte {
	b = append(b, SkillFormat...)
	b = append(b, '|')
	b = append(b, s.Model...)
	b = append(b, '|')
	b = strconv.AppendFloat(b, s.Threshold, 'g', -1, 64)
	if s.Eligible {
		b = append(b, "|1|"...)
	} else {
		b = append(b, "|0|"...)
	}
	b = strconv.AppendFloat(b, s.Value, 'g', -1, 64)
	for _, n := range [...]int64{int64(s.Attempts), int64(s.Correct), int64(s.Streak), s.Last, s.LastWrong} {
		b = append(b, '|')
		b = strconv.AppendInt(b, n, 10)
	}
	return b
}

var errSkillFields = errors.New("want 10 '|'-separated fields")

// DecodeSkill parses AppendSkill's encoding. The error names the field and
// the rule it breaks.
func DecodeSkill(v string) (Skill, error) {
	var s Skill
	f := strings.Split(v, "|")
	if len(f) != 10 {
		return s, fmt.Errorf("skill value: %w, got %d", errSkillFields, len(f))
	}
	if f[0] != SkillFormat {
		return s, fmt.Errorf("skill value: format %q: want %q", f[0], SkillFormat)
	}
	switch f[1] {
	case "bkt", "streak", "ewma", "elo":
		s.Model = f[1]
	default:
		return s, fmt.Errorf("skill value: model %q: want bkt, streak, ewma or elo", f[1])
	}
	var err error
	if s.Threshold, err = parseFinite(f[2]); err != nil {
		return s, fmt.Errorf("skill value: threshold: %w", err)
	}
	switch f[3] {
	case "0":
	case "1":
		s.Eligible = true
	default:
		return s, fmt.Errorf("skill value: eligible %q: want 0 or 1", f[3])
	}
	if s.Value, err = parseFinite(f[4]); err != nil {
		return s, fmt.Errorf("skill value: value: %w", err)
	}
	names := [...]string{"attempts", "correct", "streak", "last", "last_wrong"}
	var n [5]int64
	for i := range n {
		if n[i], err = strconv.ParseInt(f[5+i], 10, 64); err != nil || n[i] < 0 {
			return s, fmt.Errorf("skill value: %s %q: want a non-negative integer", names[i], f[5+i])
		}
	}
	if n[0] > math.MaxInt32 || n[1] > n[0] || n[2] > math.MaxInt32 {
		return s, fmt.Errorf("skill value: attempts %d, correct %d, streak %d: want correct <= attempts", n[0], n[1], n[2])
	}
	s.Attempts, s.Correct, s.Streak, s.Last, s.LastWrong = int(n[0]), int(n[1]), int(n[2]), n[3], n[4]
	return s, nil
}

func parseFinite(v string) (float64, error) {
	x, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, fmt.Errorf("%q: want a finite number", v)
	}
	return x, nil
}
