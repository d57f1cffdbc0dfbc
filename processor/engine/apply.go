package engine

import (
	"math"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/engagement"
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

// guard applies the position guards and records the positions; it reports
// false when the evidence was already applied.
//
// By-learner position: (Offset, Index) must be after the applied position
// of Partition (statements of one JSON-array message share an offset and
// differ by index). Origin position: when src.Origin is valid, (Origin.Offset,
// Origin.Index) must also be after the applied position of
// Origin.Partition, so a statement a re-key stage produced twice (new
// by-learner offsets, same origin) is applied once: for one learner, the
// statements of one origin partition arrive in origin order, and a
// re-produced batch repeats a prefix. Both positions are recorded only when
// both guards pass.
func (l *Learner) guard(src Source) bool {
	if src.Offset < 0 {
		return true
	}
	o := l.position(src.Partition)
	if o != nil && !o.precedes(src.Offset, src.Index) {
		return false
	}
	origin := src.Origin.Valid && src.Origin.Offset >= 0
	var g *pos
	if origin {
		g = l.originPos(src.Origin.Partition)
		if g != nil && !g.precedes(src.Origin.Offset, src.Origin.Index) {
			return false
		}
	}
	if o == nil {
		o = l.addPosition(src.Partition)
	}
	o.offset, o.index = src.Offset, src.Index
	if origin {
		if g == nil {
			x := l.more()
			x.origins = append(x.origins, pos{partition: src.Origin.Partition})
			g = &x.origins[len(x.origins)-1]
		}
		g.offset, g.index = src.Origin.Offset, src.Origin.Index
	}
	l.partition = src.Partition
	return true
}

// position returns the applied position of a by-learner partition, nil if
// none.
func (l *Learner) position(p int32) *pos {
	if l.off0.offset >= 0 && l.off0.partition == p {
		return &l.off0
	}
	if l.x != nil {
		for i := range l.x.offsets {
			if l.x.offsets[i].partition == p {
				return &l.x.offsets[i]
			}
		}
	}
	return nil
}

// addPosition adds a partition's position (offset -1, none applied yet).
func (l *Learner) addPosition(p int32) *pos {
	if l.off0.offset < 0 {
		l.off0 = pos{partition: p, offset: -1}
		return &l.off0
	}
	x := l.more()
	x.offsets = append(x.offsets, pos{partition: p, offset: -1})
	return &x.offsets[len(x.offsets)-1]
}

// originPos returns the applied position of an origin partition, nil if
// none.
func (l *Learner) originPos(p int32) *pos {
	if l.x != nil {
		for i := range l.x.origins {
			if l.x.origins[i].partition == p {
				return &l.x.origins[i]
			}
		}
	}
	return nil
}

func (l *Learner) touch() {
	l.version++
	l.dirty = true
}

// Apply applies one piece of evidence to the learner. It never panics on
// any Evidence value. The evidence's Learner field is not checked: the
// caller routes evidence to learners.
func (e *Engine) Apply(l *Learner, ev *schema.Evidence, src Source) Outcome {
	// A caller that recovered from a panic inside an earlier Apply (the
	// aggregator does, per input) must not find it still recording.
	e.enter()
	if !l.guard(src) {
		return Stale
	}
	l.touch() // the offset moved: the stored state must follow
	if ev.ID != (schema.UUID{}) && l.findEntry(ev.ID) >= 0 {
		return Duplicate
	}
	at := ev.Time / 1e6
	if ev.Kind == schema.KindVoid {
		return e.applyVoid(l, ev, at, posOf(src))
	}
	if l.x != nil {
		for i, id := range l.x.pendVoid {
			if id == ev.ID {
				l.x.pendVoid = append(l.x.pendVoid[:i], l.x.pendVoid[i+1:]...)
				l.push(entry{id: ev.ID, time: secs(at), kind: ev.Kind, flags: eVoided})
				return Voided
			}
		}
	}
	if ev.Content == "" {
		return Ignored
	}
	snap := e.snapshot()
	cid := e.contentID(ev.Content)
	ci := e.resolve(cid, snap)
	en := entry{id: ev.ID, time: secs(at), content: cid, set: ci.set, kind: ev.Kind, verb: e.verbCode(ev.Verb)}
	if !changesState(ev) {
		// Engagement only (launch, progress, experience, other, unscored
		// attempts, ratings without a score): kept in the window all the
		// same, for duplicate ids and voids.
		en.flags |= eNoState
	} else if !ci.inCatalog {
		en.set = e.skillSet(ev.Skills)
	}
	if ev.Duration > 0 {
		en.dur = uint32(min(ev.Duration, int64(engagement.MaxStatementDuration)) / 1e6)
	}
	if ev.HasProgress && !math.IsNaN(ev.Progress) {
		en.flags |= eHasProgress
		en.progress = progressFixed(ev.Progress)
	}
	if ev.HasCompletion && !ev.Completion {
		en.flags |= eCompletionFalse
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
	it := l.item(cid, at) // stays valid: applying adds no item
	before := snapOf(it)  // zero for a new item
	e.recording, e.stmtContent = src.Offset >= 0, cid
	e.applyEntry(l, it, &en, snap, posOf(src), at, true)
	e.recording, e.stmtContent = false, 0
	if it.st.g.last != before.g.last {
		it.bits &^= iBarely // new activity: a new episode
	}
	if src.Offset >= 0 {
		l.engCh = append(l.engCh, engPending{content: cid, src: posOf(src), before: before, after: snapOf(it), stmt: true, en: en})
	}
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

// applyEntry updates the cells an entry about item it touches and, when
// evaluate is set, re-evaluates the affected decisions at time at (unix
// ms). It adds no item, so it stays valid.
func (e *Engine) applyEntry(l *Learner, it *item, en *entry, snap *catalog.Snapshot, src pos, at int64, evaluate bool) {
	l.checkpointItem(it)
	e.engage(it, en)
	if en.flags&eNoState != 0 {
		return
	}
	l.setSet(it, en.set)
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
			sc.bits |= sDirty
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
	e.evaluate(l, it, at, src, causeEvidence)
	if !scored {
		return
	}
	// The answer changed the state of every skill in set: every other item
	// sharing one of them is decided again, whatever the model (under elo
	// an easier sibling can become mastered, or stop being mastered,
	// without the answered item's decision changing). The skill index
	// lists them; an item sharing several of the skills is decided once.
	for j, s := range set {
		for k := l.firstLink(s); k < len(l.links) && l.links[k].skill == s; k++ {
			c := l.links[k].content
			if c == en.content {
				continue
			}
			i, ok := l.findItem(c)
			if !ok {
				continue
			}
			o := &l.items[i]
			if j > 0 && sharesSkill(e.sets[o.st.set], set[:j]) {
				continue
			}
			e.decide(l, o, at, src, causeEvidence)
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
func (e *Engine) updateCell(c *cell, p mastery.BKT, hasBKT bool, difficulty float64, correct bool, credit float64, at uint32) {
	if hasBKT {
		if c.flags&cellHasPK == 0 {
			c.setPKnown(p.L0)
			c.flags |= cellHasPK
		}
		c.setPKnown(p.Update(c.pKnown(), correct))
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
func (e *Engine) applyVoid(l *Learner, ev *schema.Evidence, at int64, src pos) Outcome {
	i := l.findEntry(ev.Voids)
	t := secs(at)
	if i < 0 || l.win[i].kind == schema.KindVoid {
		if i < 0 {
			x := l.more()
			if len(x.pendVoid) >= maxPendingVoids {
				x.pendVoid = append(x.pendVoid[:0], x.pendVoid[1:]...)
			}
			x.pendVoid = append(x.pendVoid, ev.Voids)
		}
		l.push(entry{id: ev.ID, time: t, kind: schema.KindVoid})
		return VoidUnmatched
	}
	if l.win[i].flags&eVoided != 0 { // voided twice: nothing more to retract
		l.push(entry{id: ev.ID, time: t, kind: schema.KindVoid})
		return Applied
	}
	l.win[i].flags |= eVoided
	snaps, ids := e.voidSnaps[:0], e.voidIDs[:0]
	for k := range l.items {
		snaps = append(snaps, snapOf(&l.items[k]))
		ids = append(ids, l.items[k].content)
	}
	skills := append(e.voidSkills[:0], l.skills...)
	e.replayWindow(l)
	e.markChangedSkills(l, skills)
	e.voidSkills = skills[:0]
	l.push(entry{id: ev.ID, time: t, kind: schema.KindVoid})
	for k := range l.items {
		e.evaluate(l, &l.items[k], at, src, causeVoid)
	}
	e.recordVoid(l, snaps, ids, src)
	e.voidSnaps, e.voidIDs = snaps[:0], ids[:0]
	return Applied
}

// markChangedSkills sets, after a replay, the dirty bit of exactly the
// skill cells that differ from before (replaying marks every cell it
// updates, most of which end where they were).
func (e *Engine) markChangedSkills(l *Learner, before []skillCell) {
	k := 0
	for i := range l.skills {
		sc := &l.skills[i]
		for k < len(before) && before[k].skill < sc.skill {
			k++
		}
		if k == len(before) || before[k].skill != sc.skill {
			sc.bits |= sDirty // new in the replay (not expected: cells are never dropped)
			continue
		}
		sc.bits = sc.bits&^sDirty | before[k].bits&sDirty
		if sc.m != before[k].m {
			sc.bits |= sDirty
		}
	}
}

// replayWindow restores the cells to the start of the window and applies
// its entries again, skipping voided ones.
func (e *Engine) replayWindow(l *Learner) {
	l.restoreWindowStart()
	e.scratch = append(e.scratch[:0], l.win...)
	l.win = l.win[:0]
	l.idf = 0
	l.split = 0
	l.ckI, l.ckS = l.ckI[:0], l.ckS[:0]
	l.ckISplit, l.ckSSplit = 0, 0
	l.nextEpoch()
	snap := e.snapshot()
	for k := range e.scratch {
		en := e.scratch[k]
		l.push(en)
		if en.kind == schema.KindVoid || en.flags&eVoided != 0 {
			continue
		}
		e.applyEntry(l, l.item(en.content, ms(en.time)), &en, snap, noPos, ms(en.time), false)
	}
}

// Override sets or lifts an operator's suppression of one pair. suppress
// with until 0 suppresses until lifted; lifting also overrides feedback,
// completion and mastery until newer evidence re-establishes them. at is
// unix ms.
func (e *Engine) Override(l *Learner, content string, suppress bool, until, at int64, src Source) Outcome {
	e.enter()
	if !l.guard(src) {
		return Stale
	}
	l.touch()
	if content == "" {
		return Ignored
	}
	it := l.item(e.contentID(content), at)
	if suppress {
		var u uint32
		if until != 0 {
			u = secs(until)
		}
		l.setManual(it, iManualSuppress, secs(at), u)
	} else {
		l.setManual(it, iManualLift, secs(at), 0)
	}
	e.evaluate(l, it, at, posOf(src), causeOverride)
	return Applied
}

// Due re-evaluates the learner's suppressed pairs whose Until is at or
// before now (unix ms), emitting unsuppressed events (review_due, expired)
// for those that end; it returns how many ended. Then it runs
// SweepBarelyTouched at now.
func (e *Engine) Due(l *Learner, now int64) int {
	e.enter()
	defer e.SweepBarelyTouched(l, now) // after: a pair whose suppression ends may qualify
	n := 0
	for i := range l.items {
		it := &l.items[i]
		if it.suppressed() && it.until != 0 && ms(it.until) <= now {
			e.evaluate(l, it, now, pos{partition: -1, offset: now}, causeDue)
			if !it.suppressed() {
				n++
			}
		}
	}
	return n
}

// NextDue returns the earliest time Due has something to do: the earliest
// Until among the learner's suppressed pairs, or the time a pair becomes
// barely touched if earlier; 0 if none.
func (l *Learner) NextDue() int64 {
	next := l.eng.nextBarely(l)
	for i := range l.items {
		it := &l.items[i]
		if it.suppressed() && it.until != 0 && (next == 0 || it.until < next) {
			next = it.until
		}
	}
	if next == 0 {
		return 0
	}
	return ms(next)
}
