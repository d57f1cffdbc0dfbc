package engine

import "github.com/unpair/unpair/processor/decision"

// Mark identifies what a Changes call handed out, for Clean.
type Mark struct {
	version uint64
	events  uint64 // sequence number after the last event handed out
	eng     uint64 // sequence number after the last engagement change handed out
}

// Changes is what changed in a learner since its last Clean.
type Changes struct {
	Decisions []decision.Decision // every pair re-decided (evidence or state changed)
	Events    []decision.Event    // suppressed/unsuppressed/barely_touched events, in order
	// Engagement is the current engagement of every pair whose engagement
	// changed (for the learner's engagement hash).
	Engagement []PairEngagement
	// EngagementChanges are the changes of pair engagement made by
	// statements with a source offset, in order, each with the pair before
	// and after, for the per-content figures (EngagementChange.Feed).
	EngagementChanges []EngagementChange
	Mark              Mark
}

// Changes appends to ch the learner's changed decisions and pending events
// and sets ch.Mark. It does not clear them: call Clean(ch.Mark) once they
// are durable.
func (l *Learner) Changes(ch *Changes) {
	snap := l.eng.cat.Snapshot()
	for i := range l.items {
		if l.items[i].dirty() {
			ch.Decisions = append(ch.Decisions, l.eng.decisionOf(l, &l.items[i], snap))
		}
		if l.items[i].bits&iEngDirty != 0 {
			ch.Engagement = append(ch.Engagement, l.eng.pairEngagement(&l.items[i]))
		}
	}
	for i := range l.events {
		ch.Events = append(ch.Events, l.eng.event(l, &l.events[i]))
	}
	for i := range l.engCh {
		ch.EngagementChanges = append(ch.EngagementChanges, l.eng.engagementChange(&l.engCh[i]))
	}
	ch.Mark = Mark{version: l.version, events: l.evBase + uint64(len(l.events)), eng: l.engBase + uint64(len(l.engCh))}
}

// Clean forgets the events up to the mark and, when nothing changed since
// the mark was taken, clears the dirty flags.
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
	if m.version == l.version {
		l.dirty = false
		for i := range l.items {
			l.items[i].bits &^= iDirty | iEngDirty
		}
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

// PendingEvents returns the number of events not yet cleaned.
func (l *Learner) PendingEvents() int { return len(l.events) }
