package engine

import (
	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/mastery"
)

// Mark identifies what a Changes call handed out, for Clean.
type Mark struct {
	version uint64
	events  uint64 // sequence number after the last event handed out
	eng     uint64 // sequence number after the last engagement change handed out
	changes uint16 // which Changes call (Learner.changes after it)
}

// Changes is what changed in a learner since its last Clean.
type Changes struct {
	// Decisions holds every pair whose current Decision (every field,
	// evidence and explanation included) differs from the one last handed
	// out and made durable (cleaned), so that the stored decisions equal
	// the current ones whatever the flush cadence. A pair handed out by a
	// Changes call not followed by its Clean is handed out again.
	Decisions []decision.Decision
	Events    []decision.Event // suppressed/unsuppressed/barely_touched events, in order
	// Engagement is the current engagement of every pair whose engagement
	// changed (for the learner's engagement hash).
	Engagement []PairEngagement
	// EngagementChanges are the changes of pair engagement made by
	// statements with a source offset, in order, each with the pair before
	// and after, for the per-content figures (EngagementChange.Feed).
	EngagementChanges []EngagementChange
	// Skills holds every skill of the learner whose published state
	// (mastery.Skill, the learner's ":k" hash) may differ from the one last
	// handed out and made durable, by skill name, so that readers can
	// decide content the learner never touched (mastery.Judge). Like
	// Decisions, a skill handed out by a Changes call not followed by its
	// Clean is handed out again.
	Skills []SkillState
	Mark   Mark
}

// SkillState is one learner-skill as published: the skill's name and what
// the engine's own mastery rule sees of it.
type SkillState struct {
	Name string
	mastery.Skill
}

// Changes appends to ch the learner's changed decisions and pending events
// and sets ch.Mark. It does not clear them: call Clean(ch.Mark) once they
// are durable.
//
// Only items re-decided since the last Clean (dirty) can have a new
// Decision: every change of what a decision rests on (the item's state, a
// skill cell it shares, an override, the review sweep) re-decides the items
// it affects. Each such item's Decision is built and fingerprinted
// (decisionFingerprint) and handed out when the fingerprint differs from
// the last one handed out, or when that one is not known durable yet.
func (l *Learner) Changes(ch *Changes) {
	e := l.eng
	e.enter()
	snap := e.cat.Snapshot()
	l.changes++
	for i := range l.items {
		it := &l.items[i]
		if it.dirty() || it.bits&iFpPending != 0 {
			d := e.decisionBody(it, e.view(l, it, snap))
			if fp := e.decisionFingerprint(it, &d); fp != it.fingerprint() || it.bits&iFpPending != 0 {
				d.Explanation = string(e.expBuf)
				ch.Decisions = append(ch.Decisions, d)
				it.setFingerprint(fp)
				it.bits |= iFpPending
			}
		}
		if it.bits&iEngDirty != 0 {
			ch.Engagement = append(ch.Engagement, e.pairEngagement(it))
		}
	}
	bktParams := e.cfg.Model == ModelBKT // only bkt's published form depends on the catalog
	for i := range l.skills {
		sc := &l.skills[i]
		if bktParams {
			e.skillParams(sc.skill, snap)
			if sc.pgen != uint8(e.skills[sc.skill].gen) {
				sc.bits |= sDirty
			}
		}
		if sc.bits&(sDirty|sPending) != 0 {
			ch.Skills = append(ch.Skills, SkillState{Name: e.skills[sc.skill].name, Skill: e.skillOf(&sc.m, sc.skill, snap)})
			sc.bits = sc.bits&^sDirty | sPending
			sc.pgen = uint8(e.skills[sc.skill].gen)
		}
	}
	for i := range l.events {
		ch.Events = append(ch.Events, e.event(l, &l.events[i]))
	}
	for i := range l.engCh {
		ch.EngagementChanges = append(ch.EngagementChanges, e.engagementChange(&l.engCh[i]))
	}
	ch.Mark = Mark{version: l.version, events: l.evBase + uint64(len(l.events)), eng: l.engBase + uint64(len(l.engCh)), changes: l.changes}
}

// Clean forgets the events up to the mark and, when nothing changed since
// the mark was taken, clears the dirty flags. When the mark is of the
// latest Changes call, the decisions it handed out are known durable: an
// item is handed out again only when its Decision changes. (A mark of an
// earlier call leaves them pending, to be handed out again: harmless
// rewrites of what is stored.)
func (l *Learner) Clean(m Mark) {
	if m.events > l.evBase {
		n := int(min(m.events-l.evBase, uint64(len(l.events))))
		k := copy(l.events, l.events[n:])
		clear(l.events[k:])
		l.events = l.events[:k]
		l.evBase += uint64(n)
	}
	if m.eng > l.engBase {
		n := int(min(m.eng-l.engBase, uint64(len(l.engCh))))
		k := copy(l.engCh, l.engCh[n:])
		l.engCh = l.engCh[:k]
		l.engBase += uint64(n)
	}
	latest, same := m.changes == l.changes, m.version == l.version
	if !latest && !same {
		return
	}
	pending := false
	for i := range l.items {
		it := &l.items[i]
		if latest {
			it.bits &^= iFpPending
		}
		if same {
			it.bits &^= iEngDirty
			if it.bits&iFpPending == 0 {
				it.bits &^= iDirty
			}
		}
		pending = pending || it.bits&iFpPending != 0
	}
	for i := range l.skills {
		sc := &l.skills[i]
		if latest {
			sc.bits &^= sPending
		}
		pending = pending || sc.bits&(sPending|sDirty) != 0
	}
	if same && !pending {
		l.dirty = false
	}
}

// Decision returns the current decision of one pair.
func (l *Learner) Decision(content string) (decision.Decision, bool) {
	id, ok := l.eng.contentIDs[content]
	if !ok {
		return decision.Decision{}, false
	}
	i, ok := l.findItem(id)
	if !ok {
		return decision.Decision{}, false
	}
	return l.eng.decisionOf(l, &l.items[i], l.eng.cat.Snapshot()), true
}

// Decisions appends the decisions of every pair the learner holds.
func (l *Learner) Decisions(dst []decision.Decision) []decision.Decision {
	snap := l.eng.cat.Snapshot()
	for i := range l.items {
		dst = append(dst, l.eng.decisionOf(l, &l.items[i], snap))
	}
	return dst
}

// Skill returns the published state of one of the learner's skills, false
// when the learner never practised it.
func (l *Learner) Skill(name string) (mastery.Skill, bool) {
	id, ok := l.eng.skillIDs[name]
	if !ok {
		return mastery.Skill{}, false
	}
	i, ok := l.findSkill(id)
	if !ok {
		return mastery.Skill{}, false
	}
	return l.eng.skillOf(&l.skills[i].m, id, l.eng.cat.Snapshot()), true
}

// skillOf is the published form of a learner-skill cell: exactly what
// view, estimate and masteredAt make of it, with the item's difficulty left
// to the reader (mastery.Skill.Estimate). It depends on the policy and on
// the skill's catalog parameters (under bkt, a skill without fitted
// parameters is decided by streak).
func (e *Engine) skillOf(c *cell, s uint32, snap *catalog.Snapshot) mastery.Skill {
	k := mastery.Skill{
		Eligible: int(c.attempts) >= e.cfg.MinAttempts && c.flags&cellLastCorrect != 0,
		Attempts: int(c.attempts), Correct: int(c.correct), Streak: int(c.streak),
		Last: ms(c.last), LastWrong: ms(c.lastWrong),
	}
	var model Model
	if e.cfg.Model == ModelElo {
		model, k.Value = ModelElo, float64(c.ability)
	} else {
		p, ok := e.skillParams(s, snap)
		model, k.Value = e.estimate(c, p, ok, 0)
	}
	k.Model = string(model)
	switch model {
	case ModelElo:
		k.Threshold = e.cfg.Elo.Threshold
	case ModelStreak:
		k.Threshold = float64(e.cfg.Streak.N)
	case ModelEWMA:
		k.Threshold = e.cfg.EWMA.Threshold
	default:
		k.Threshold = e.cfg.Threshold
		k.Eligible = k.Eligible && c.flags&cellHasPK != 0
	}
	return k
}

// PendingEvents returns the number of events not yet cleaned.
func (l *Learner) PendingEvents() int { return len(l.events) }
