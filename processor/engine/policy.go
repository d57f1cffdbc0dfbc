package engine

import (
	"encoding/binary"
	"math"
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/mastery"
)

// masteredAt applies the configured model's mastery rule to a cell, given
// the estimate already computed for it (one sigmoid, not two, under elo).
func (e *Engine) masteredAt(c *cell, model Model, est float64) bool {
	if int(c.attempts) < e.cfg.MinAttempts || c.flags&cellLastCorrect == 0 {
		return false
	}
	switch model {
	case ModelStreak:
		return e.cfg.Streak.Mastered(c.streak)
	case ModelEWMA:
		return float64(c.ewma) >= e.cfg.EWMA.Threshold
	case ModelElo:
		return est >= e.cfg.Elo.Threshold
	}
	return c.flags&cellHasPK != 0 && c.pKnown() >= e.cfg.Threshold
}

// estimate returns the deciding model's name and its estimate for a cell:
// P(known), the streak length, the EWMA or the Elo P(correct).
func (e *Engine) estimate(c *cell, p mastery.BKT, hasBKT bool, difficulty float64) (Model, float64) {
	switch e.cfg.Model {
	case ModelStreak:
		return ModelStreak, float64(c.streak)
	case ModelEWMA:
		return ModelEWMA, float64(c.ewma)
	case ModelElo:
		return ModelElo, e.cfg.Elo.PCorrect(float64(c.ability), difficulty)
	}
	if !hasBKT {
		return ModelStreak, float64(c.streak)
	}
	if c.flags&cellHasPK == 0 {
		return ModelBKT, p.L0
	}
	return ModelBKT, c.pKnown()
}

// view is what the mastery models say about one item: over its skills, or
// over the item itself when it has none.
type view struct {
	mastered bool
	last     uint32 // latest practice, unix seconds
	until    uint32 // review due (earliest over skills)
	weakest  cell   // a copy of the cell with the lowest estimate
	hasWeak  bool
	model    Model
	est      float64
	skills   int
}

func (e *Engine) view(l *Learner, it *item, snap *catalog.Snapshot) view {
	ci := e.resolve(it.content, snap)
	set := e.sets[it.st.set]
	v := view{skills: len(set)}
	consider := func(c *cell, p mastery.BKT, ok bool) bool {
		model, est := e.estimate(c, p, ok, ci.difficulty)
		m := e.masteredAt(c, model, est)
		if !v.hasWeak || est < v.est {
			v.weakest, v.hasWeak, v.model, v.est = *c, true, model, est
		}
		v.last = max(v.last, c.last)
		u := satSecs(int64(c.last) + reviewAfter(c))
		if v.until == 0 || u < v.until {
			v.until = u
		}
		return m
	}
	if len(set) == 0 {
		p, ok := itemParams(snap)
		v.mastered = consider(&it.st.m, p, ok)
		return v
	}
	v.mastered = true
	for _, s := range set {
		c := l.skillCellOf(s)
		if c == nil {
			v.mastered = false
			continue
		}
		p, ok := e.skillParams(s, snap)
		if !consider(c, p, ok) {
			v.mastered = false
		}
	}
	return v
}

// reviewAfter is the review half-life of a cell in seconds (whole seconds:
// mastery.HalfLife is 2^n days clipped to at least 15 minutes).
func reviewAfter(c *cell) int64 {
	return halfLifeSecs(int(c.correct), int(c.attempts)-int(c.correct))
}

// halfLifeSecs is mastery.HalfLife(right, wrong) in whole seconds, from a
// table: it depends on right - wrong only and is clipped outside
// [halfLifeMin, halfLifeMax].
func halfLifeSecs(right, wrong int) int64 {
	n := min(max(right-wrong, halfLifeMin), halfLifeMax)
	return halfLifeTable[n-halfLifeMin]
}

const halfLifeMin, halfLifeMax = -8, 10 // 2^-8 days < 15 minutes, 2^10 days > 274 days

var halfLifeTable = func() (t [halfLifeMax - halfLifeMin + 1]int64) {
	for i := range t {
		t[i] = int64(mastery.HalfLife(i+halfLifeMin, 0) / time.Second)
	}
	return t
}()

// cellMastered is masteredAt with the estimate left out: under elo it
// compares ability - difficulty with the logit of the threshold
// (eloMastered), with no exp; the others need no computation.
func (e *Engine) cellMastered(c *cell, s uint32, item bool, difficulty float64, snap *catalog.Snapshot) bool {
	if int(c.attempts) < e.cfg.MinAttempts || c.flags&cellLastCorrect == 0 {
		return false
	}
	switch e.cfg.Model {
	case ModelElo:
		return e.eloMastered(float64(c.ability), difficulty)
	case ModelStreak:
		return e.cfg.Streak.Mastered(c.streak)
	case ModelEWMA:
		return float64(c.ewma) >= e.cfg.EWMA.Threshold
	}
	var hasBKT bool
	if item {
		_, hasBKT = itemParams(snap)
	} else {
		_, hasBKT = e.skillParams(s, snap)
	}
	if !hasBKT {
		return e.cfg.Streak.Mastered(c.streak)
	}
	return c.flags&cellHasPK != 0 && c.pKnown() >= e.cfg.Threshold
}

// eloMastered reports whether Elo's P(correct) = Sigmoid(ability -
// difficulty) reaches the threshold, exactly as computing it would: away
// from the threshold's logit (eloCut) by more than eloBand, where the
// sigmoid is known to be on one side, by comparing the logit; within the
// band, by computing it.
func (e *Engine) eloMastered(ability, difficulty float64) bool {
	d := ability - difficulty - e.eloCut
	if d > e.eloBand {
		return true
	}
	if d < -e.eloBand {
		return false
	}
	return e.cfg.Elo.PCorrect(ability, difficulty) >= e.cfg.Elo.Threshold
}

// setEloCut sets eloCut and eloBand for the threshold, checking that the
// computed sigmoid is clearly on each side of it at the band's edges (it
// is monotone; the margin dwarfs its rounding); otherwise the band is
// infinite and every test computes the sigmoid.
func (e *Engine) setEloCut() {
	thr := e.cfg.Elo.Threshold
	e.eloCut, e.eloBand = 0, math.Inf(1)
	cut := math.Log(thr / (1 - thr))
	if math.IsNaN(cut) || math.IsInf(cut, 0) {
		return
	}
	band := 1e-6 * max(1, math.Abs(cut))
	if mastery.Sigmoid(cut+band)-thr > 1e-12 && thr-mastery.Sigmoid(cut-band) > 1e-12 {
		e.eloCut, e.eloBand = cut, band
	}
}

// masteryOf is the part of view that judge needs (mastered, latest
// practice, review due), without estimates.
func (e *Engine) masteryOf(l *Learner, it *item, snap *catalog.Snapshot) (mastered bool, last, until uint32) {
	ci := e.resolve(it.content, snap)
	set := e.sets[it.st.set]
	if len(set) == 0 {
		c := &it.st.m
		return e.cellMastered(c, 0, true, ci.difficulty, snap), c.last, satSecs(int64(c.last) + reviewAfter(c))
	}
	mastered = true
	for _, s := range set {
		c := l.skillCellOf(s)
		if c == nil {
			mastered = false
			continue
		}
		if mastered && !e.cellMastered(c, s, false, ci.difficulty, snap) {
			mastered = false
		}
		last = max(last, c.last)
		if u := satSecs(int64(c.last) + reviewAfter(c)); until == 0 || u < until {
			until = u
		}
	}
	return mastered, last, until
}

// status of one suppression reason for an item at a time.
const (
	stAbsent uint8 = iota
	stActive
	stTimedOut
)

type verdict struct {
	suppressed bool
	reason     uint8
	until      uint32 // unix seconds
	status     [numReasons]uint8
}

// judge decides an item at time at (unix ms), in precedence order manual,
// feedback, completed, mastered.
func (e *Engine) judge(l *Learner, it *item, at int64, snap *catalog.Snapshot) verdict {
	var v verdict
	now := secs(at)
	set := func(r uint8, active bool, until uint32) {
		if !active {
			v.status[r] = stTimedOut
			return
		}
		v.status[r] = stActive
		if !v.suppressed {
			v.suppressed, v.reason, v.until = true, r, until
		}
	}
	lift := uint32(0)
	if it.bits&(iManualSuppress|iManualLift) != 0 {
		if m := l.manualOf(it.content); m != nil {
			if it.bits&iManualSuppress != 0 {
				set(rManual, m.until == 0 || now < m.until, m.until)
			} else {
				lift = m.at
			}
		}
	}
	if it.st.feedbackAt != 0 && it.st.feedbackAt > lift {
		u := satSecs(int64(it.st.feedbackAt) + int64(e.cfg.FeedbackTTL/time.Second))
		set(rFeedback, now < u, u)
	}
	mastered, last, until := e.masteryOf(l, it, snap)
	if e.cfg.SuppressCompleted && it.st.completedAt != 0 && it.st.completedAt > lift && it.st.completedAt > it.st.m.lastWrong {
		c := &it.st.m
		u := satSecs(int64(max(it.st.completedAt, c.last)) +
			halfLifeSecs(int(c.correct)+1, int(c.attempts)-int(c.correct)))
		set(rCompleted, now < u, u)
	}
	if mastered && last > lift {
		set(rMastered, now < until, until)
	}
	return v
}

// evaluate re-decides an item the evidence (or the caller) touched.
func (e *Engine) evaluate(l *Learner, it *item, at int64, src pos, c cause) {
	e.decide(l, it, at, src, c)
	l.touch()
}

// decide re-decides an item at time at (unix ms) and records a decision
// event when its suppression starts, ends or changes reason. It marks the
// item dirty whether or not its suppression moved: the evidence behind it
// (attempts, estimate, explanation) may have, and the next Changes hands
// the item out when its full Decision differs from the one last handed out.
func (e *Engine) decide(l *Learner, it *item, at int64, src pos, c cause) {
	it.bits |= iDirty
	snap := e.cat.Snapshot()
	v := e.judge(l, it, at, snap)
	if c == causeEvidence || c == causeVoid {
		e.syncMastered(l, it, v.suppressed && v.reason == rMastered, at, src)
	}
	switch {
	case v.suppressed && (!it.suppressed() || it.reason != v.reason):
		it.setPub(true, v.reason, secs(at), v.until)
		e.emit(l, it, decision.EventSuppressed, at, src, snap)
	case v.suppressed:
		if it.until == v.until {
			return
		}
		it.until = v.until
	case it.suppressed():
		r := endReason(it.reason, v.status[it.reason], c)
		it.setPub(false, r, secs(at), 0)
		e.emit(l, it, decision.EventUnsuppressed, at, src, snap)
	default:
		return
	}
	l.touch()
}

// endReason is the reason a suppression for reason r ended.
func endReason(r, status uint8, c cause) uint8 {
	switch c {
	case causeVoid:
		return rVoided
	case causeOverride:
		if status != stTimedOut {
			return rOverride
		}
	}
	switch {
	case status == stTimedOut && (r == rFeedback || r == rManual):
		return rExpired
	case status == stTimedOut:
		return rReviewDue
	case r == rMastered || r == rCompleted:
		return rWrongAnswer
	case r == rFeedback:
		return rExpired // replaced by a newer, higher rating
	}
	return rOverride
}

// pending is a decision event recorded on the hot path: a copy of what the
// decision rests on, turned into a decision.Event (strings, explanation)
// only when the changes are handed out, so that applying evidence does not
// allocate.
type pending struct {
	kind decision.EventKind
	at   int64
	src  pos
	it   item
	mv   view
}

func (e *Engine) emit(l *Learner, it *item, kind decision.EventKind, at int64, src pos, snap *catalog.Snapshot) {
	l.events = append(l.events, pending{kind: kind, at: at, src: src, it: *it, mv: e.view(l, it, snap)})
}

// event materializes a pending event. Its id is learner/content
// hash/partition/offset, with /i<index> when the statement is not the first
// of its message (index 0 keeps the ids of single-statement messages as
// they were), and /t<at> when there is no offset (the review sweep).
func (e *Engine) event(l *Learner, p *pending) decision.Event {
	content := e.contents[p.it.content].name
	if p.kind == decision.EventBarelyTouched {
		return decision.Event{ID: barelyID(l.key, content, p.it.st.g.last), Kind: p.kind, Learner: l.key, At: p.at, Decision: e.decisionFrom(&p.it, p.mv)}
	}
	b := append(e.idBuf[:0], l.key...)
	b = append(b, '/')
	b = strconv.AppendUint(b, xxhash.Sum64String(content), 16)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(p.src.partition), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, p.src.offset, 10)
	if p.src.index != 0 { // statements of one message share an offset
		b = append(b, "/i"...)
		b = strconv.AppendInt(b, int64(p.src.index), 10)
	}
	if p.src.offset < 0 {
		b = append(b, "/t"...)
		b = strconv.AppendInt(b, p.at, 10)
	}
	e.idBuf = b
	return decision.Event{ID: string(b), Kind: p.kind, Learner: l.key, At: p.at, Decision: e.decisionFrom(&p.it, p.mv)}
}

// decisionOf builds the published Decision of an item.
func (e *Engine) decisionOf(l *Learner, it *item, snap *catalog.Snapshot) decision.Decision {
	return e.decisionFrom(it, e.view(l, it, snap))
}

func (e *Engine) decisionFrom(it *item, mv view) decision.Decision {
	d := e.decisionBody(it, mv)
	d.Explanation = string(e.expBuf)
	return d
}

// decisionBody builds the Decision of an item but its Explanation, which
// it leaves in e.expBuf: Changes turns it into a string only for the
// decisions it hands out.
func (e *Engine) decisionBody(it *item, mv view) decision.Decision {
	p := it.pub()
	d := decision.Decision{
		Content:    e.contents[it.content].name,
		Suppressed: p.suppressed,
		Reason:     reasons[p.reason],
		Since:      p.since,
		Until:      p.until,
	}
	ev := &d.Evidence
	src := &it.st.m
	if mv.hasWeak && mv.skills > 0 {
		src = &mv.weakest
	}
	ev.Attempts, ev.Correct = int(src.attempts), int(src.correct)
	ev.Model = string(mv.model)
	if mv.model == ModelStreak {
		ev.Streak = int(src.streak)
	} else {
		ev.PKnown = mv.est
		ev.Streak = int(src.streak)
	}
	ev.Skills = e.setNames(it.st.set)
	if mv.last != 0 {
		ev.LastPractice = ms(mv.last)
	}
	if it.reason == rFeedback || (it.st.feedbackAt != 0 && it.st.rating >= 0) {
		ev.Rating = math.Max(0, float64(it.st.rating))
	}
	e.expBuf = e.appendExplanation(e.expBuf[:0], it, &d, mv)
	return d
}

// decisionFingerprint is a 64-bit hash of every field of a Decision built
// by decisionBody for the item (its explanation taken from e.expBuf, its
// skills by the hash of the item's skill set's names: not by the set's
// engine-local id, which compaction changes), never 0. Equal
// decisions have equal fingerprints; a change in any field changes the
// fingerprint but with probability 2^-64.
func (e *Engine) decisionFingerprint(it *item, d *decision.Decision) uint64 {
	b := e.fpBuf[:0]
	b = append(b, boolByte(d.Suppressed), byte(len(d.Reason)))
	b = append(b, d.Reason...)
	ev := &d.Evidence
	for _, v := range [...]uint64{uint64(d.Since), uint64(d.Until), uint64(ev.Attempts), uint64(ev.Correct),
		math.Float64bits(ev.PKnown), uint64(ev.Streak), uint64(ev.LastPractice), math.Float64bits(ev.Rating),
		e.setHash[it.st.set], uint64(len(ev.Model)), uint64(len(e.expBuf))} {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	b = append(b, ev.Model...)
	b = append(b, e.expBuf...)
	e.fpBuf = b
	if h := xxhash.Sum64(b); h != 0 {
		return h
	}
	return 1
}

// setNames returns the skill names of a skill set, nil for the empty set.
// The slice is built once per set and shared by every decision of the set
// (capacity-limited, so an append by a reader copies): a decision's
// skills are read, never written.
func (e *Engine) setNames(set uint32) []string {
	if set == 0 {
		return nil
	}
	for int(set) >= len(e.setNameCache) {
		e.setNameCache = append(e.setNameCache, nil)
	}
	if names := e.setNameCache[set]; names != nil {
		return names
	}
	ids := e.sets[set]
	names := make([]string, len(ids))
	for i, s := range ids {
		names[i] = e.skills[s].name
	}
	names = names[:len(names):len(names)]
	e.setNameCache[set] = names
	return names
}

// appendEstimate appends what the deciding model says, with the answers.
func appendEstimate(b []byte, d *decision.Decision, mv view) []byte {
	ev := &d.Evidence
	weakest := func(b []byte) []byte {
		if mv.skills > 1 {
			b = append(b, " on the weakest of its "...)
			b = strconv.AppendInt(b, int64(mv.skills), 10)
			b = append(b, " skills"...)
		}
		return b
	}
	switch mv.model {
	case ModelStreak:
		b = strconv.AppendInt(b, int64(ev.Streak), 10)
		b = append(b, " correct in a row"...)
		b = weakest(b)
		b = append(b, " ("...)
		b = decision.AppendAnswers(b, ev.Correct, ev.Attempts)
		return append(b, ')')
	case ModelEWMA:
		b = append(b, "recent accuracy "...)
		b = decision.AppendPct(b, mv.est)
	case ModelElo:
		b = decision.AppendPct(b, mv.est)
		b = append(b, " chance you'd answer this right"...)
	default:
		b = decision.AppendPct(b, mv.est)
		b = append(b, " sure you know it"...)
	}
	b = weakest(b)
	b = append(b, ", after "...)
	return decision.AppendAnswers(b, ev.Correct, ev.Attempts)
}

// appendExplanation appends the sentence a learner reads. It is built with
// strconv into the caller's buffer (no fmt): it runs for every decision
// handed out at every flush.
func (e *Engine) appendExplanation(b []byte, it *item, d *decision.Decision, mv view) []byte {
	switch it.reason {
	case rMastered:
		b = append(b, "Mastered: "...)
		b = appendEstimate(b, d, mv)
		b = append(b, "; review due "...)
		b = decision.AppendDay(b, d.Until)
		return append(b, '.')
	case rCompleted:
		b = append(b, "Completed successfully on "...)
		b = decision.AppendDay(b, ms(it.st.completedAt))
		b = append(b, "; review due "...)
		b = decision.AppendDay(b, d.Until)
		return append(b, '.')
	case rFeedback:
		if it.st.rating < 0 {
			b = append(b, "Hidden because you said it is not for you on "...)
		} else {
			b = append(b, "Hidden because you rated it "...)
			b = strconv.AppendInt(b, int64(int(math.Round(1+4*float64(it.st.rating)))), 10)
			b = append(b, " of 5 on "...)
		}
		b = decision.AppendDay(b, ms(it.st.feedbackAt))
		b = append(b, "; it comes back on "...)
		b = decision.AppendDay(b, d.Until)
		return append(b, '.')
	case rManual:
		if d.Until != 0 {
			b = append(b, "Hidden by your instructor until "...)
			b = decision.AppendDay(b, d.Until)
			return append(b, '.')
		}
		return append(b, "Hidden by your instructor."...)
	case rWrongAnswer:
		b = append(b, "Back for practice: your latest answer was wrong ("...)
		b = appendEstimate(b, d, mv)
		return append(b, ")."...)
	case rReviewDue:
		b = append(b, "Back for review: last practised "...)
		b = decision.AppendDay(b, ms(mv.last))
		b = append(b, ", and memory fades ("...)
		b = appendEstimate(b, d, mv)
		return append(b, ")."...)
	case rVoided:
		b = append(b, "Back: some of the evidence behind hiding it was withdrawn ("...)
		b = appendEstimate(b, d, mv)
		return append(b, ")."...)
	case rExpired:
		return append(b, "Back: the time it was hidden for has run out."...)
	case rOverride:
		return append(b, "Shown again by your instructor."...)
	}
	if d.Evidence.Attempts == 0 {
		return append(b, "No answers yet."...)
	}
	if mv.mastered {
		b = append(b, "Mastered earlier: "...)
		b = appendEstimate(b, d, mv)
		return append(b, "; kept visible since then."...)
	}
	b = append(b, "Not mastered yet: "...)
	b = appendEstimate(b, d, mv)
	return append(b, '.')
}
