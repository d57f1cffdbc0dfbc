package eval

import (
	"fmt"
	"math"

	"github.com/unpair/unpair/processor/fit"
	"github.com/unpair/unpair/processor/mastery"
	"github.com/unpair/unpair/processor/replay"
)

// Model names the rule that decides "mastered", as the engine's Config.Model.
type Model string

const (
	Completed Model = "completed" // completed (answered correctly) once: item level
	Streak    Model = "streak"
	EWMA      Model = "ewma"
	BKT       Model = "bkt"
	Elo       Model = "elo"
)

// Policy is one suppression rule with its parameters. Apart from AlsoStreak
// (a combination the engine does not offer yet), every field maps to the
// engine's Config.
type Policy struct {
	Name        string
	Model       Model
	MinAttempts int     // engine Config.MinAttempts; default 2
	Threshold   float64 // bkt: P(known); ewma/elo: in the model struct
	Streak      mastery.Streak
	EWMA        mastery.EWMA
	Elo         mastery.Elo
	NoForget    bool // bkt: use the parameters fitted without forgetting
	AlsoStreak  int  // also require this many correct in a row on every skill (0: not)
	NoReview    bool // ignore review-due expiry (the engine always applies it)
}

func (p Policy) String() string {
	if p.Name != "" {
		return p.Name
	}
	return string(p.Model)
}

// Params are the fitted parameters a policy reads.
type Params struct {
	Forget     map[int64]fit.BKTFit // per skill, fitted with forgetting
	NoForget   map[int64]fit.BKTFit // per skill, fitted without
	Difficulty map[int64]float64    // per item
}

// cell mirrors the engine's per-skill (or per-item) state: every model at
// once, EWMA and Elo ability stored as float32 as the engine stores them.
type cell struct {
	pk          float64
	hasPK       bool
	streak      uint16
	ewma        float32
	ability     float32
	attempts    uint16
	correct     uint16
	lastCorrect bool
	last        int64 // unix ms
	lastWrong   int64
}

// learner is one learner's simulated state.
type learner struct {
	skills    map[int64]*cell
	items     map[int64]*cell
	completed map[int64]int64 // item → completion time (ms)
}

func newLearner() *learner {
	return &learner{skills: map[int64]*cell{}, items: map[int64]*cell{}, completed: map[int64]int64{}}
}

// sim runs one policy over attempts with the engine's arithmetic.
type sim struct {
	p   Policy
	par *Params
	ds  *replay.Dataset
}

func (s *sim) bkt(skill int64) (mastery.BKT, bool) {
	m := s.par.Forget
	if s.p.NoForget {
		m = s.par.NoForget
	}
	f, ok := m[skill]
	if !ok || f.Status != fit.Fitted {
		return mastery.BKT{}, false
	}
	return f.Params, true
}

// update applies one answer to a cell, as the engine's updateCell.
func (s *sim) update(c *cell, p mastery.BKT, hasBKT bool, difficulty float64, correct bool, at int64) {
	credit := 0.0
	if correct {
		credit = 1
	}
	if hasBKT {
		if !c.hasPK {
			c.pk, c.hasPK = p.L0, true
		}
		c.pk = p.Update(c.pk, correct)
	}
	c.streak = s.p.Streak.Update(c.streak, correct)
	c.ewma = float32(s.p.EWMA.Update(float64(c.ewma), credit))
	c.ability = float32(s.p.Elo.Update(float64(c.ability), difficulty, credit))
	if c.attempts < math.MaxUint16 {
		c.attempts++
	}
	if correct {
		if c.correct < math.MaxUint16 {
			c.correct++
		}
		c.lastCorrect = true
	} else {
		c.lastCorrect = false
		c.lastWrong = max(c.lastWrong, at)
	}
	c.last = max(c.last, at)
}

// mastered is the engine's cellMastered, plus the AlsoStreak combination.
func (s *sim) mastered(c *cell, p mastery.BKT, hasBKT bool, difficulty float64) bool {
	if int(c.attempts) < s.p.MinAttempts || !c.lastCorrect {
		return false
	}
	if s.p.AlsoStreak > 0 && int(c.streak) < s.p.AlsoStreak {
		return false
	}
	switch s.p.Model {
	case Streak:
		return s.p.Streak.Mastered(c.streak)
	case EWMA:
		return float64(c.ewma) >= s.p.EWMA.Threshold
	case Elo:
		return s.p.Elo.PCorrect(float64(c.ability), difficulty) >= s.p.Elo.Threshold
	}
	if !hasBKT {
		return s.p.Streak.Mastered(c.streak)
	}
	return c.pk >= s.p.Threshold
}

func reviewAfter(c *cell) int64 {
	return mastery.HalfLife(int(c.correct), int(c.attempts)-int(c.correct)).Milliseconds()
}

// suppressed says whether the policy hides an item at time at (ms), from
// the learner's state: the engine's judge for the mastered (or, for
// Completed, the completed) reason.
func (s *sim) suppressed(l *learner, item, set int64, at int64) bool {
	if s.p.Model == Completed {
		ct, ok := l.completed[item]
		if !ok {
			return false
		}
		ic := l.items[item]
		lastWrong := ic.lastWrong
		for _, sk := range fit.ItemSkills(s.ds, item, set) {
			if c := l.skills[sk]; c != nil {
				lastWrong = max(lastWrong, c.lastWrong)
			}
		}
		if ct <= lastWrong {
			return false
		}
		until := max(ct, ic.last) + mastery.HalfLife(int(ic.correct)+1, int(ic.attempts)-int(ic.correct)).Milliseconds()
		return s.p.NoReview || at < until
	}
	d := s.par.Difficulty[item]
	var until int64
	for i, sk := range fit.ItemSkills(s.ds, item, set) {
		c := l.skills[sk]
		if c == nil {
			return false
		}
		p, ok := s.bkt(sk)
		if !s.mastered(c, p, ok, d) {
			return false
		}
		if u := c.last + reviewAfter(c); i == 0 || u < until {
			until = u
		}
	}
	return s.p.NoReview || at < until
}

// apply updates the learner's state with one attempt.
func (s *sim) apply(l *learner, a *replay.Attempt) {
	at := a.Time / 1e6
	d := s.par.Difficulty[a.Item]
	ic := l.items[a.Item]
	if ic == nil {
		ic = &cell{}
		l.items[a.Item] = ic
	}
	s.update(ic, mastery.BKT{}, false, d, a.Correct, at)
	for _, sk := range fit.ItemSkills(s.ds, a.Item, a.SkillSet) {
		c := l.skills[sk]
		if c == nil {
			c = &cell{}
			l.skills[sk] = c
		}
		p, ok := s.bkt(sk)
		s.update(c, p, ok, d, a.Correct, at)
	}
	if a.Correct {
		l.completed[a.Item] = max(l.completed[a.Item], at)
	}
}

// validate fills defaults and checks a policy.
func (p *Policy) validate() error {
	if p.MinAttempts == 0 {
		p.MinAttempts = 2
	}
	if p.Streak.N == 0 {
		p.Streak.N = 3
	}
	if p.EWMA.W == 0 {
		p.EWMA = mastery.EWMA{W: 0.5, Threshold: 0.875}
	}
	if p.Elo.K == 0 {
		p.Elo = mastery.Elo{K: 0.4, Threshold: 0.7} // engine.DefaultConfig's
	}
	if p.Model == BKT && p.Threshold == 0 {
		p.Threshold = 0.95
	}
	switch p.Model {
	case Completed, Streak, EWMA, BKT, Elo:
	default:
		return fmt.Errorf("policy %s: model: must be completed, streak, ewma, bkt or elo, got %q", p, p.Model)
	}
	if err := p.EWMA.Validate(); err != nil {
		return fmt.Errorf("policy %s: %w", p, err)
	}
	return nil
}
