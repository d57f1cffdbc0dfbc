package engine

import (
	"math"
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/engagement"
	"github.com/unpair/unpair/schema"
)

// eng is a pair's engagement (engagement.Pair) in the engine's compact
// form: 32 bytes instead of the Pair's 72, times in unix seconds like the
// rest of the state. It is part of itemState, so voiding restores it and the
// window replays it like the mastery cells. The mastered mark, which follows
// decisions rather than statements, lives in the item (item.mastered).
//
// Conversions are exact in both directions for values the engine stored:
// a Pair made from an eng and applied one statement to converts back
// without drift, so the before/after pairs handed to the per-content
// aggregator always describe the state the engine keeps.
type eng struct {
	first, last        uint32 // unix seconds of the earliest / latest statement; 0 never
	started, completed uint32 // unix seconds; 0 never
	spent              uint32 // time spent in ms, saturating (49.7 days)
	launches           uint16 // saturating
	attempts           uint16
	completions        uint16
	progress           uint16 // furthest progress x progressScale; valid with gHasProgress
	verb               uint16 // engagement.VerbCode of the latest statement's verb
	kind               schema.Kind
	flags              uint8
}

const gHasProgress = 1

// progressScale is the fixed point of stored progress: 60,000 = 2^5 x 3 x
// 5^4 makes every multiple of 1/10,000, 1/32 and 1/3 exact, and the
// rule's thresholds (0.2) compare as they do on the float.
const progressScale = 60000

func progressFixed(p float64) uint16 {
	return uint16(math.Round(min(max(p, 0), 1) * progressScale))
}

// nsSecs converts a Pair time (unix ns, 0 never) to engine seconds.
func nsSecs(ns int64) uint32 {
	if ns == 0 {
		return 0
	}
	s := ns / 1e9
	if s < 1 {
		return 1
	}
	if s > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(s)
}

func secsNs(s uint32) int64 { return int64(s) * 1e9 }

func timeOfSecs(s uint32) time.Time { return time.Unix(int64(s), 0) }

func sat16(v uint32) uint16 { return uint16(min(v, math.MaxUint16)) }

// pair returns the engagement.Pair of the compact form, with the mastered
// mark (unix seconds, 0 none).
func (g *eng) pair(mastered uint32) engagement.Pair {
	p := engagement.Pair{
		FirstSeen: secsNs(g.first), LastSeen: secsNs(g.last),
		StartedAt: secsNs(g.started), CompletedAt: secsNs(g.completed),
		MasteredAt: secsNs(mastered),
		TimeSpent:  int64(g.spent) * 1e6,
		Starts:     uint32(g.launches), Attempts: uint32(g.attempts), Completions: uint32(g.completions),
		LastVerb: g.verb, LastKind: g.kind,
	}
	if g.flags&gHasProgress != 0 {
		p.Progress = float32(float64(g.progress) / progressScale)
		p.Flags = engagement.FlagHasProgress
	}
	return p
}

// set stores p (except MasteredAt) in the compact form.
func (g *eng) set(p *engagement.Pair) {
	g.first, g.last = nsSecs(p.FirstSeen), nsSecs(p.LastSeen)
	g.started, g.completed = nsSecs(p.StartedAt), nsSecs(p.CompletedAt)
	g.spent = uint32(min(max(p.TimeSpent/1e6, 0), math.MaxUint32))
	g.launches, g.attempts, g.completions = sat16(p.Starts), sat16(p.Attempts), sat16(p.Completions)
	g.verb, g.kind = p.LastVerb, p.LastKind
	g.flags &^= gHasProgress
	g.progress = 0
	if p.HasProgress() {
		g.flags |= gHasProgress
		g.progress = progressFixed(float64(p.Progress))
	}
}

// evidence rebuilds, from a window entry, the statement fields that
// engagement.Pair.Apply and engagement.Aggregator.Apply read. The live path
// and the void replay both apply this form, so a replay reproduces the
// live result exactly.
func (en *entry) evidence(content string) schema.Evidence {
	ev := schema.Evidence{
		Content:  content,
		Kind:     en.kind,
		Verb:     engagement.VerbIRI(en.verb),
		Time:     secsNs(en.time),
		Duration: int64(en.dur) * 1e6,
	}
	if en.flags&eHasSuccess != 0 {
		ev.HasSuccess, ev.Success = true, en.flags&eSuccess != 0
	}
	if en.flags&eHasScore != 0 {
		ev.HasScore, ev.Scaled = true, float64(en.scaled)
	}
	// eCompletion is "completion verb or result.completion true";
	// eCompletionFalse is "result.completion false".
	ev.HasCompletion = en.flags&eCompletionFalse != 0 || en.flags&eCompletion != 0 && en.kind != schema.KindCompletion
	ev.Completion = ev.HasCompletion && en.flags&eCompletionFalse == 0
	if en.flags&eHasProgress != 0 {
		ev.HasProgress, ev.Progress = true, float64(en.progress)/progressScale
	}
	return ev
}

// engage applies an entry to the engagement of its item.
func (e *Engine) engage(it *item, en *entry) {
	if en.time == 0 { // only from odd stored states: Pair.Apply stamps it 1 ns
		it.st.g.applyPair(en)
	} else {
		it.st.g.apply(en)
	}
	it.bits |= iEngDirty
}

// applyPair folds an entry in through engagement.Pair.Apply.
func (g *eng) applyPair(en *entry) {
	ev := en.evidence("")
	p := g.pair(0)
	p.Apply(&ev)
	g.set(&p)
}

// apply folds a window entry into the compact engagement: what
// engagement.Pair.Apply does to the Pair of g (eng.pair) given the entry's
// evidence (entry.evidence), converted back (eng.set), computed on the
// compact form directly, without the Pair, the Evidence and the verb IRI
// lookup. TestEngApplyMatchesPairApply holds it to Pair.Apply.
func (g *eng) apply(en *entry) {
	t := en.time // not 0 (engage)
	if g.first == 0 || t < g.first {
		g.first = t
	}
	if t >= g.last {
		g.last = t
		g.verb = en.verb
		if engagement.VerbIRI(en.verb) == "" {
			g.verb = 0
		}
		g.kind = en.kind
	}
	engages := false
	switch en.kind {
	case schema.KindLaunch:
		g.launches = inc16(g.launches)
		engages = true
	case schema.KindAttempt:
		g.attempts = inc16(g.attempts)
		engages = true
	case schema.KindCompletion:
		if en.flags&(eHasSuccess|eHasScore) != 0 {
			g.attempts = inc16(g.attempts)
		}
		engages = true
	case schema.KindProgress, schema.KindExperience:
		engages = true
	}
	if engages && (g.started == 0 || t < g.started) {
		g.started = t
	}
	// entry.evidence: HasCompletion is "completion false" or "completion
	// true on a statement that is not a completion"; completes() then is
	// "a completion unless completion false, or completion true on an
	// engaging statement".
	completes := false
	if en.kind == schema.KindCompletion {
		completes = en.flags&eCompletionFalse == 0
	} else {
		completes = engages && en.flags&eCompletionFalse == 0 && en.flags&eCompletion != 0
	}
	if completes {
		g.completions = inc16(g.completions)
		if g.completed == 0 || t < g.completed {
			g.completed = t
		}
	}
	if en.flags&eHasProgress != 0 {
		if g.flags&gHasProgress == 0 || en.progress > g.progress {
			g.progress = en.progress
		}
		g.flags |= gHasProgress
	}
	if en.dur > 0 && engages {
		d := min(uint64(en.dur), uint64(engagement.MaxStatementDuration/time.Millisecond))
		g.spent = uint32(min(uint64(g.spent)+d, math.MaxUint32))
	}
}

func inc16(v uint16) uint16 {
	if v == math.MaxUint16 {
		return v
	}
	return v + 1
}

// pairSnap is a pair's engagement at one moment, for the aggregator's
// before/after.
type pairSnap struct {
	g        eng
	mastered uint32
}

func snapOf(it *item) pairSnap { return pairSnap{g: it.st.g, mastered: it.mastered} }

// engPending is one change of a pair's engagement, recorded when it
// happens (as events are) and handed out by Changes. A statement change
// (stmt) carries the statement's entry, for the per-content statement
// figures; the others are engine-made (a mastered mark moved by an answer
// on a sibling, a void).
type engPending struct {
	content       uint32
	src           pos
	before, after pairSnap
	stmt          bool
	en            entry
}

// syncMastered makes the item's mastered mark follow its decision as
// judged now. Only decisions made on a statement (evidence or void) move
// the mark: the review sweep and operator overrides have no stream
// position, and a figure they moved could not be replayed exactly.
func (e *Engine) syncMastered(l *Learner, it *item, mastered bool, at int64, src pos) {
	if mastered == (it.mastered != 0) {
		return
	}
	before := snapOf(it)
	if mastered {
		it.mastered = secs(at)
	} else {
		it.mastered = 0
	}
	it.bits |= iEngDirty
	l.touch()
	if e.recording && it.content != e.stmtContent {
		l.engCh = append(l.engCh, engPending{content: it.content, src: src, before: before, after: snapOf(it)})
	}
}

// recordVoid records the engagement changes a void made, against the
// snapshot taken before it.
func (e *Engine) recordVoid(l *Learner, before []pairSnap, contents []uint32, src pos) {
	for k, c := range contents {
		i, ok := l.findItem(c)
		if !ok {
			continue
		}
		it := &l.items[i]
		after := snapOf(it)
		if after == before[k] {
			continue
		}
		it.bits |= iEngDirty
		if src.offset >= 0 {
			l.engCh = append(l.engCh, engPending{content: c, src: src, before: before[k], after: after})
		}
	}
}

// barelyAt returns when (unix seconds) the pair becomes barely touched
// under the engine's rule, 0 when it does not: not started, completed,
// already marked in this episode, far enough along, or suppressed or marked
// mastered (a pair the learner masters, or that is hidden for another
// reason, was not abandoned in any sense a recommender can act on).
func (e *Engine) barelyAt(it *item) uint32 {
	g := &it.st.g
	if it.bits&(iBarely|iSuppressed) != 0 || it.mastered != 0 || g.started == 0 || g.completed != 0 {
		return 0
	}
	at := satSecs(int64(g.last) + int64(e.cfg.Engagement.IdleDays)*86400)
	p := g.pair(0)
	if !e.cfg.Engagement.BarelyTouched(p, e.cfg.TypicalTime, timeOfSecs(at)) {
		return 0
	}
	return at
}

// SweepBarelyTouched marks the learner's pairs that are barely touched at
// now (unix ms) under Config.Engagement with Config.TypicalTime as every
// content's typical time, and records one decision.EventBarelyTouched per
// pair and episode: a marked pair is not reported again until new activity
// on it (a statement that moves its latest activity) starts a new episode.
// It returns the number of pairs marked. Due runs it too.
func (e *Engine) SweepBarelyTouched(l *Learner, now int64) int {
	e.enter()
	n := 0
	t := secs(now)
	snap := e.cat.Snapshot()
	for i := range l.items {
		it := &l.items[i]
		if at := e.barelyAt(it); at != 0 && at <= t {
			it.bits |= iBarely | iEngDirty
			l.touch()
			e.emit(l, it, decision.EventBarelyTouched, now, noPos, snap)
			n++
		}
	}
	return n
}

// nextBarely returns the earliest time (unix seconds) one of the learner's
// pairs becomes barely touched, 0 if none will without new activity.
func (e *Engine) nextBarely(l *Learner) uint32 {
	var next uint32
	for i := range l.items {
		if at := e.barelyAt(&l.items[i]); at != 0 && (next == 0 || at < next) {
			next = at
		}
	}
	return next
}

// barelyID is the event id of a barely-touched event: learner, content and
// the pair's latest activity, so every owner that sweeps the same episode
// (after a crash or a rebalance) names it alike and consumers drop repeats.
func barelyID(learner, content string, last uint32) string {
	return learner + "/" + strconv.FormatUint(xxhash.Sum64String(content), 16) + "/bt/" + strconv.FormatUint(uint64(last), 10)
}

// PairEngagement is the engagement of one pair, as stored for readers.
type PairEngagement struct {
	Content string
	Pair    engagement.Pair
	// BarelyTouched: the sweep found the pair barely touched since its
	// latest activity (its event was recorded).
	BarelyTouched bool
}

// EngagementChange is one change of a pair's engagement, in the order it
// happened, for the per-content figures (engagement.Aggregator of
// Source.Partition): Feed adds it.
type EngagementChange struct {
	Content       string
	Source        Source
	Before, After engagement.Pair
	// Statement: a statement about Content made the change, and Evidence
	// holds the fields of it the aggregator reads (kind, time, scores,
	// duration). Otherwise the engine made it (a mastered mark moved by an
	// answer on a sibling content, or a void).
	Statement bool
	Evidence  schema.Evidence
}

// Feed adds the change to the partition's aggregator: Apply for a
// statement, ApplyPair otherwise. The aggregator ignores changes at or
// below its base offset.
func (c *EngagementChange) Feed(a *engagement.Aggregator) {
	if c.Statement {
		a.Apply(&c.Evidence, &c.Before, &c.After, c.Source.Offset)
		return
	}
	a.ApplyPair(c.Content, &c.Before, &c.After, c.Source.Offset)
}

func (e *Engine) engagementChange(p *engPending) EngagementChange {
	name := e.contents[p.content].name
	c := EngagementChange{Content: name, Source: p.src.source(),
		Before: p.before.g.pair(p.before.mastered), After: p.after.g.pair(p.after.mastered), Statement: p.stmt}
	if p.stmt {
		c.Evidence = p.en.evidence(name)
	}
	return c
}

func (e *Engine) pairEngagement(it *item) PairEngagement {
	return PairEngagement{Content: e.contents[it.content].name, Pair: it.st.g.pair(it.mastered), BarelyTouched: it.bits&iBarely != 0}
}

// Engagement returns the engagement of one pair.
func (l *Learner) Engagement(content string) (PairEngagement, bool) {
	id, ok := l.eng.contentIDs[content]
	if !ok {
		return PairEngagement{}, false
	}
	i, ok := l.findItem(id)
	if !ok {
		return PairEngagement{}, false
	}
	return l.eng.pairEngagement(&l.items[i]), true
}

// PendingEngagement returns the number of engagement changes not yet
// cleaned.
func (l *Learner) PendingEngagement() int { return len(l.engCh) }
