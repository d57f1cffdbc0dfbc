package engine

import (
	"math"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/mastery"
	"github.com/unpair/unpair/schema"
)

// cause says why decisions are being re-evaluated; it picks the reason of
// a suppression that ends.
type cause uint8

const (
	causeEvidence cause = iota
	causeVoid
	causeDue
	causeOverride
)

// guard applies the offset guard and records the offset; it reports false
// when the evidence was already applied.
func (l *Learner) guard(src Source) bool {
	if src.Offset < 0 {
		return true
	}
	for i := range l.offsets {
		if l.offsets[i].Partition == src.Partition {
			if src.Offset <= l.offsets[i].Offset {
				return false
			}
			l.offsets[i].Offset = src.Offset
			l.partition = src.Partition
			return true
		}
	}
	l.offsets = append(l.offsets, src)
	l.partition = src.Partition
	return true
}

func (l *Learner) touch() {
	l.version++
	l.dirty = true
}

// Apply applies one piece of evidence to the learner. It never panics on
// any Evidence value. The evidence's Learner field is not checked: the
// caller routes evidence to learners.
func (e *Engine) Apply(l *Learner, ev *schema.Evidence, src Source) Outcome {
	if !l.guard(src) {
		return Stale
	}
	l.touch() // the offset moved: the stored state must follow
	if ev.ID != (schema.UUID{}) && l.findEntry(ev.ID) >= 0 {
		return Duplicate
	}
	at := ev.Time / 1e6
	if ev.Kind == schema.KindVoid {
		return e.applyVoid(l, ev, at, src)
	}
	for i, id := range l.pendVoid {
		if id == ev.ID {
			l.pendVoid = append(l.pendVoid[:i], l.pendVoid[i+1:]...)
			l.push(entry{id: ev.ID, time: at, kind: ev.Kind, flags: eVoided})
			return Voided
		}
	}
	if ev.Content == "" || !changesState(ev) {
		return Ignored
	}
	snap := e.snapshot()
	cid := e.contentID(ev.Content)
	ci := e.resolve(cid, snap)
	en := entry{id: ev.ID, time: at, content: cid, set: ci.set, kind: ev.Kind}
	if !ci.inCatalog {
		en.set = e.skillSet(ev.Skills)
	}
	if ev.HasSuccess {
		en.flags |= eHasSuccess
		if ev.Success {
			en.flags |= eSuccess
		}
	}
	if ev.HasScore {
		en.flags |= eHasScore
		s := ev.Scaled
		if !(s >= -1) { // NaN too
			s = -1
		} else if s > 1 {
			s = 1
		}
		en.scaled = float32(s)
	}
	if ev.HasCompletion && ev.Completion || ev.Kind == schema.KindCompletion {
		en.flags |= eCompletion
	}
	l.push(en)
	e.applyEntry(l, &en, snap, src, true)
	return Applied
}

// changesState reports whether evidence of this shape can change mastery,
// completion or feedback state; the rest is not kept in the window.
func changesState(ev *schema.Evidence) bool {
	switch ev.Kind {
	case schema.KindAttempt, schema.KindCompletion:
		return ev.HasSuccess || ev.HasScore || ev.HasCompletion || ev.Kind == schema.KindCompletion
	case schema.KindRating:
		return ev.HasScore
	case schema.KindDislike:
		return true
	}
	return false
}

func (en *entry) scored() bool {
	return (en.kind == schema.KindAttempt || en.kind == schema.KindCompletion) && en.flags&(eHasSuccess|eHasScore) != 0
}

// correct mirrors schema.Evidence.Correct on the quantized score.
func (en *entry) correct(passMark float64) bool {
	if en.flags&eHasSuccess != 0 {
		return en.flags&eSuccess != 0
	}
	return en.flags&eHasScore != 0 && float64(en.scaled) >= passMark
}

// credit is the correctness in [0, 1] the EWMA and Elo models consume:
// the scaled score when given, else success.
func (en *entry) credit(passMark float64) float64 {
	if en.flags&eHasScore != 0 {
		return math.Max(0, float64(en.scaled))
	}
	if en.correct(passMark) {
		return 1
	}
	return 0
}

// applyEntry updates the cells an entry touches and, when evaluate is set,
// re-evaluates the affected decisions.
func (e *Engine) applyEntry(l *Learner, en *entry, snap *catalog.Snapshot, src Source, evaluate bool) {
	it := l.item(en.content, en.time)
	l.checkpointItem(it)
	it.st.set = en.set
	set := e.sets[en.set]
	scored := en.scored()
	if scored {
		correct := en.correct(e.cfg.PassMark)
		credit := en.credit(e.cfg.PassMark)
		ci := e.resolve(en.content, snap)
		p, ok := itemParams(snap)
		e.updateCell(&it.st.m, p, ok, ci.difficulty, correct, credit, en.time)
		for _, s := range set {
			p, ok := e.skillParams(s, snap)
			sc := l.skill(s)
			l.checkpointSkill(sc)
			e.updateCell(&sc.m, p, ok, ci.difficulty, correct, credit, en.time)
		}
	}
	if en.flags&eCompletion != 0 && en.flags&eHasSuccess != 0 && en.flags&eSuccess != 0 {
		it.st.completedAt = max(it.st.completedAt, en.time)
	}
	switch en.kind {
	case schema.KindRating:
		if float64(en.scaled) <= e.cfg.FeedbackMaxRating {
			if en.time >= it.st.feedbackAt {
				it.st.feedbackAt, it.st.rating = en.time, en.scaled
			}
		} else if it.st.feedbackAt != 0 && en.time >= it.st.feedbackAt {
			it.st.feedbackAt, it.st.rating = 0, en.scaled // changed their mind
		}
	case schema.KindDislike:
		if en.time >= it.st.feedbackAt {
			it.st.feedbackAt, it.st.rating = en.time, -1
		}
	}
	if !evaluate {
		return
	}
	e.evaluate(l, it, en.time, src, causeEvidence)
	if scored && len(set) > 0 {
		// The answer changed the state of every skill in set: every other
		// item sharing one of them is decided again, whatever the model
		// (under elo an easier sibling can become mastered, or stop being
		// mastered, without the answered item's decision changing).
		for i := range l.items {
			o := &l.items[i]
			if o.content != en.content && sharesSkill(e.sets[o.st.set], set) {
				e.decide(l, o, en.time, src, causeEvidence)
			}
		}
	}
}

func sharesSkill(a, b []uint32) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

// updateCell applies one answer to every model's state in a cell.
func (e *Engine) updateCell(c *cell, p mastery.BKT, hasBKT bool, difficulty float64, correct bool, credit float64, at int64) {
	if hasBKT {
		if c.flags&cellHasPK == 0 {
			c.pk = p.L0
			c.flags |= cellHasPK
		}
		c.pk = p.Update(c.pk, correct)
	}
	c.streak = e.cfg.Streak.Update(c.streak, correct)
	c.ewma = float32(e.cfg.EWMA.Update(float64(c.ewma), credit))
	c.ability = float32(e.cfg.Elo.Update(float64(c.ability), difficulty, credit))
	if c.attempts < math.MaxUint16 {
		c.attempts++
	}
	if correct {
		if c.correct < math.MaxUint16 {
			c.correct++
		}
		c.flags |= cellLastCorrect
	} else {
		c.flags &^= cellLastCorrect
		c.lastWrong = max(c.lastWrong, at)
	}
	c.last = max(c.last, at)
}

// applyVoid retracts the voided statement by replaying the window without it.
func (e *Engine) applyVoid(l *Learner, ev *schema.Evidence, at int64, src Source) Outcome {
	i := l.findEntry(ev.Voids)
	if i < 0 || l.win[i].kind == schema.KindVoid {
		if i < 0 {
			if len(l.pendVoid) >= maxPendingVoids {
				l.pendVoid = append(l.pendVoid[:0], l.pendVoid[1:]...)
			}
			l.pendVoid = append(l.pendVoid, ev.Voids)
		}
		l.push(entry{id: ev.ID, time: at, kind: schema.KindVoid})
		return VoidUnmatched
	}
	if l.win[i].flags&eVoided != 0 { // voided twice: nothing more to retract
		l.push(entry{id: ev.ID, time: at, kind: schema.KindVoid})
		return Applied
	}
	l.win[i].flags |= eVoided
	e.replayWindow(l)
	l.push(entry{id: ev.ID, time: at, kind: schema.KindVoid})
	for k := range l.items {
		e.evaluate(l, &l.items[k], at, src, causeVoid)
	}
	return Applied
}

// replayWindow restores the cells to the start of the window and applies
// its entries again, skipping voided ones.
func (e *Engine) replayWindow(l *Learner) {
	l.restoreWindowStart()
	e.scratch = append(e.scratch[:0], l.win...)
	l.win, l.fps = l.win[:0], l.fps[:0]
	l.split = 0
	l.ckOld, l.ckNew = l.ckOld[:0], l.ckNew[:0]
	l.epoch++
	snap := e.snapshot()
	for k := range e.scratch {
		en := e.scratch[k]
		l.push(en)
		if en.kind == schema.KindVoid || en.flags&eVoided != 0 {
			continue
		}
		e.applyEntry(l, &en, snap, NoSource, false)
	}
}

// Override sets or lifts an operator's suppression of one pair. suppress
// with until 0 suppresses until lifted; lifting also overrides feedback,
// completion and mastery until newer evidence re-establishes them. at is
// unix ms.
func (e *Engine) Override(l *Learner, content string, suppress bool, until, at int64, src Source) Outcome {
	if !l.guard(src) {
		return Stale
	}
	l.touch()
	if content == "" {
		return Ignored
	}
	it := l.item(e.contentID(content), at)
	if suppress {
		it.manual, it.manualAt, it.manualUntil = manualSuppress, at, until
	} else {
		it.manual, it.manualAt, it.manualUntil = manualLift, at, 0
	}
	e.evaluate(l, it, at, src, causeOverride)
	return Applied
}

// Due re-evaluates the learner's suppressed pairs whose Until is at or
// before now (unix ms), emitting unsuppressed events (review_due, expired)
// for those that end; it returns how many ended.
func (e *Engine) Due(l *Learner, now int64) int {
	n := 0
	for i := range l.items {
		it := &l.items[i]
		if it.pub.suppressed && it.pub.until != 0 && it.pub.until <= now {
			e.evaluate(l, it, now, Source{Partition: -1, Offset: now}, causeDue)
			if !it.pub.suppressed {
				n++
			}
		}
	}
	return n
}

// NextDue returns the earliest Until among the learner's suppressed pairs,
// 0 if none.
func (l *Learner) NextDue() int64 {
	var next int64
	for i := range l.items {
		p := &l.items[i].pub
		if p.suppressed && p.until != 0 && (next == 0 || p.until < next) {
			next = p.until
		}
	}
	return next
}
