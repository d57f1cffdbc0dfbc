package engine

import (
	"encoding/binary"
	"math"
	"sort"
	"unsafe"

	"github.com/unpair/unpair/processor/decision"

	"github.com/unpair/unpair/schema"
)

// Times in the state are unix seconds in 32 bits (secs): decisions need no
// finer precision, and every cell, item and checkpoint stays small. 0 means
// "none"; real times are clamped to [1, 2^32-1] (1970 to 2106).
func secs(ms int64) uint32 {
	s := ms / 1000
	if s < 1 {
		return 1
	}
	if s > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(s)
}

// satSecs clamps a computed time in seconds (a sum that may overflow 32 bits).
func satSecs(s int64) uint32 { return uint32(min(max(s, 0), math.MaxUint32)) }

// ms converts engine seconds back to unix ms.
func ms(s uint32) int64 { return int64(s) * 1000 }

// cell is the state of every model for one learner-skill or learner-item.
// 32 bytes, 4-byte aligned: P(known) is kept as the two halves of its
// float64 bits, so that an item (which holds a cell) packs to 108 bytes
// instead of being padded to a multiple of 8.
type cell struct {
	pk        [2]uint32 // BKT P(known), float64 bits (pKnown); valid when cellHasPK
	last      uint32    // unix seconds of the latest scored attempt
	lastWrong uint32    // unix seconds of the latest wrong answer
	ewma      float32   // EWMA of correctness
	ability   float32   // Elo ability
	attempts  uint16    // scored attempts (saturating)
	correct   uint16    // correct answers (saturating)
	streak    uint16    // correct answers in a row
	flags     uint8
}

// pKnown is BKT's P(known) of the cell.
func (c *cell) pKnown() float64 {
	return math.Float64frombits(uint64(c.pk[0]) | uint64(c.pk[1])<<32)
}

func (c *cell) setPKnown(v float64) {
	b := math.Float64bits(v)
	c.pk = [2]uint32{uint32(b), uint32(b >> 32)}
}

const (
	cellHasPK       = 1 << iota // pk initialized from L0
	cellLastCorrect             // the latest answer (arrival order) was correct
)

// itemState is the part of an item restored by voiding. 80 bytes.
type itemState struct {
	m           cell
	set         uint32  // skill set id (engine-local), as of the latest evidence
	completedAt uint32  // unix seconds of the latest completion with success; 0 none
	feedbackAt  uint32  // unix seconds of the active low rating or dislike; 0 none
	rating      float32 // scaled rating of the feedback; -1 for a dislike
	g           eng     // engagement of the pair (engagement.Pair, compact)
}

// Reason codes, stored in one byte.
const (
	rNone uint8 = iota
	rMastered
	rCompleted
	rFeedback
	rManual
	rWrongAnswer
	rReviewDue
	rVoided
	rExpired
	rOverride
	numReasons
)

var reasons = [numReasons]decision.Reason{"", decision.Mastered, decision.Completed, decision.Feedback, decision.Manual,
	decision.WrongAnswer, decision.ReviewDue, decision.Voided, decision.Expired, decision.Override}

// published is the decision last made for an item, as Decision shows it.
type published struct {
	since      int64 // unix ms
	until      int64 // unix ms; 0 none
	reason     uint8
	suppressed bool
}

// item is one learner-content pair: 108 bytes (4-byte aligned). The published decision is
// flattened into it; an operator's override (rare) lives in the learner's
// side table (extra.manual), flagged here.
type item struct {
	content  uint32 // engine-local content id
	saved    uint16 // epoch in which st was checkpointed
	reason   uint8  // of the published decision
	bits     uint8  // iSuppressed, iDirty, iManualSuppress, iManualLift, iEngDirty, iBarely, iFpPending
	st       itemState
	since    uint32 // published decision, unix seconds
	until    uint32 // 0 none
	mastered uint32 // engagement mastered mark (Pair.MasteredAt), unix seconds; 0 none
	// fp is the fingerprint of the Decision last handed out by Changes
	// (decisionFingerprint; 0 none, e.g. after a load), in two halves for
	// the 4-byte alignment: with iFpPending it is not yet known durable (no
	// Clean of that Changes call yet).
	fp [2]uint32
}

func (it *item) fingerprint() uint64 { return uint64(it.fp[0]) | uint64(it.fp[1])<<32 }

func (it *item) setFingerprint(fp uint64) { it.fp = [2]uint32{uint32(fp), uint32(fp >> 32)} }

const (
	iSuppressed = 1 << iota
	iDirty
	iManualSuppress
	iManualLift
	iEngDirty  // engagement changed since the last Clean
	iBarely    // marked barely touched in the current episode (event recorded)
	iFpPending // fp was handed out by the latest Changes, not yet cleaned
)

func (it *item) suppressed() bool { return it.bits&iSuppressed != 0 }

// dirty: re-decided since the last Clean, so its published decision may
// differ from the one last handed out.
func (it *item) dirty() bool { return it.bits&iDirty != 0 }

func (it *item) pub() published {
	p := published{since: ms(it.since), reason: it.reason, suppressed: it.suppressed()}
	if it.until != 0 {
		p.until = ms(it.until)
	}
	return p
}

func (it *item) setPub(suppressed bool, reason uint8, since, until uint32) {
	it.bits &^= iSuppressed
	if suppressed {
		it.bits |= iSuppressed
	}
	it.reason, it.since, it.until = reason, since, until
}

// manualRec is an operator's override of one pair.
type manualRec struct {
	content uint32
	at      uint32 // unix seconds
	until   uint32 // 0: until lifted
}

// extra holds a learner's rarely used state, so that learners without it
// pay one pointer.
type extra struct {
	offsets  []pos         // applied positions of partitions other than Learner.off0
	origins  []pos         // applied origin positions (before re-keying), one per origin partition
	manual   []manualRec   // overrides, by content
	pendVoid []schema.UUID // voids waiting for their statement
}

// pos is an applied position in one partition: the offset of the latest
// applied message and the index of the statement within it. 16 bytes.
type pos struct {
	offset    int64 // -1: none
	partition int32
	index     int32
}

// precedes reports whether the position is before (offset, index).
func (p *pos) precedes(offset int64, index int32) bool {
	return p.offset < offset || p.offset == offset && p.index < index
}

// skillCell is one learner-skill: 40 bytes (bits sits in what was padding).
type skillCell struct {
	skill uint32
	saved uint16
	bits  uint8 // sDirty, sPending
	pgen  uint8 // low bits of skillInfo.gen when last handed out (bkt: the params it was judged under)
	m     cell
}

const (
	sDirty   = 1 << iota // the published form may have changed since it was last handed out
	sPending             // handed out by the latest Changes, not yet cleaned
)

// link says that a pair's skill set holds a skill: the learner's index from
// skill to the items that share it, sorted by (skill, content).
type link struct {
	skill, content uint32
}

// entry is one statement in the window, in the form it was applied. 44 bytes.
type entry struct {
	id       schema.UUID
	time     uint32 // unix seconds
	content  uint32
	set      uint32
	scaled   float32 // score or rating, quantized to float32 before use
	dur      uint32  // result.duration in ms, capped at engagement.MaxStatementDuration
	progress uint16  // progress x progressScale, with eHasProgress
	verb     uint16  // engagement.VerbCode
	kind     schema.Kind
	flags    uint8
}

const (
	eHasSuccess = 1 << iota
	eSuccess
	eHasScore
	eCompletion      // a completion verb, or result.completion true
	eVoided          // voided: kept for duplicate detection, skipped on replay
	eCompletionFalse // result.completion false
	eHasProgress
	eNoState // changes engagement only: no mastery, completion or feedback state
)

// ckItem and ckSkill are cells as they were at the start of an epoch.
type ckItem struct {
	content uint32
	st      itemState
}

type ckSkill struct {
	skill uint32
	m     cell
}

const maxPendingVoids = 8

// Learner is one learner's complete state. Make it with Engine.NewLearner or
// Engine.LoadLearner; it belongs to that Engine.
type Learner struct {
	eng *Engine
	key string

	items  []item      // sorted by content id
	skills []skillCell // sorted by skill id
	links  []link      // skill -> items sharing it, sorted

	win []entry   // oldest first; [0:split] is the older epoch
	ckI []ckItem  // items at the start of the older ([0:ckISplit]) and current epoch
	ckS []ckSkill // skills likewise ([0:ckSSplit])

	events []pending
	engCh  []engPending // engagement changes since the last Clean
	x      *extra       // nil until an override, a second partition or an early void

	off0      pos    // applied position of the first partition; offset -1 none
	idf       uint64 // filter of the window's statement ids (idBits): a clear bit means absent
	evBase    uint64 // sequence number of events[0]
	engBase   uint64 // sequence number of engCh[0]
	version   uint64
	partition int32
	changes   uint16 // Changes calls, for Mark (wraps; only recent marks are compared)
	epoch     uint16
	split     uint16
	ckISplit  uint16
	ckSSplit  uint16
	dirty     bool
}

// NewLearner returns an empty learner.
func (e *Engine) NewLearner(key string) *Learner {
	return &Learner{eng: e, key: key, partition: -1, epoch: 1, off0: pos{partition: -1, offset: -1}}
}

// Key returns the learner key.
func (l *Learner) Key() string { return l.key }

// Partition returns the partition of the latest evidence, -1 if none.
func (l *Learner) Partition() int32 { return l.partition }

// Pairs returns the number of learner-content pairs held.
func (l *Learner) Pairs() int { return len(l.items) }

// Dirty reports whether the learner changed since the last Clean.
func (l *Learner) Dirty() bool { return l.dirty }

// Offsets returns the applied offset per partition, in a new slice (nil
// when none); AppendOffsets reuses the caller's.
func (l *Learner) Offsets() []Source { return l.AppendOffsets(nil) }

// AppendOffsets appends the applied offset per partition to dst: the first
// partition's, then the others' in the order they were first seen. Each
// carries Partition, Offset and the Index of the latest statement applied
// at that offset (no Origin).
func (l *Learner) AppendOffsets(dst []Source) []Source {
	if l.off0.offset >= 0 {
		dst = append(dst, l.off0.source())
	}
	if l.x != nil {
		for i := range l.x.offsets {
			dst = append(dst, l.x.offsets[i].source())
		}
	}
	return dst
}

// noPos is no position (NoSource).
var noPos = pos{partition: -1, offset: -1}

// posOf is the by-learner position of a source.
func posOf(s Source) pos { return pos{partition: s.Partition, offset: s.Offset, index: s.Index} }

func (p *pos) source() Source {
	return Source{Partition: p.partition, Offset: p.offset, Index: p.index}
}

// Origins returns the applied position per origin partition (statements
// forwarded by a re-key stage), in the order first seen, as Origins with
// Valid set; nil when none.
func (l *Learner) Origins() []Origin {
	if l.x == nil || len(l.x.origins) == 0 {
		return nil
	}
	out := make([]Origin, len(l.x.origins))
	for i, o := range l.x.origins {
		out[i] = Origin{Partition: o.partition, Offset: o.offset, Index: o.index, Valid: true}
	}
	return out
}

// Size is an estimate of the memory the learner holds, in bytes.
func (l *Learner) Size() int {
	n := int(unsafe.Sizeof(*l)) + len(l.key) +
		cap(l.items)*int(unsafe.Sizeof(item{})) +
		cap(l.skills)*int(unsafe.Sizeof(skillCell{})) +
		cap(l.links)*int(unsafe.Sizeof(link{})) +
		cap(l.win)*int(unsafe.Sizeof(entry{})) +
		cap(l.ckI)*int(unsafe.Sizeof(ckItem{})) + cap(l.ckS)*int(unsafe.Sizeof(ckSkill{})) +
		cap(l.events)*int(unsafe.Sizeof(pending{})) + cap(l.engCh)*int(unsafe.Sizeof(engPending{}))
	if x := l.x; x != nil {
		n += int(unsafe.Sizeof(*x)) + (cap(x.offsets)+cap(x.origins))*int(unsafe.Sizeof(pos{})) +
			cap(x.manual)*int(unsafe.Sizeof(manualRec{})) + cap(x.pendVoid)*16
	}
	return n
}

func (l *Learner) more() *extra {
	if l.x == nil {
		l.x = &extra{}
	}
	return l.x
}

// findItem returns the index of the item with the content id, or where it
// would be inserted.
func (l *Learner) findItem(c uint32) (int, bool) {
	items := l.items
	lo, hi := 0, len(items)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if items[m].content < c {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(items) && items[lo].content == c
}

// item returns the learner's item of a content, adding it (decided at
// time at, unix ms) if new.
func (l *Learner) item(c uint32, at int64) *item {
	i, ok := l.findItem(c)
	if !ok {
		l.items = append(grow(l.items), item{})
		copy(l.items[i+1:], l.items[i:])
		l.items[i] = item{content: c, since: secs(at)}
	}
	return &l.items[i]
}

func (l *Learner) findSkill(s uint32) (int, bool) {
	lo, hi := 0, len(l.skills)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l.skills[m].skill < s {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(l.skills) && l.skills[lo].skill == s
}

func (l *Learner) skill(s uint32) *skillCell {
	i, ok := l.findSkill(s)
	if !ok {
		l.skills = append(grow(l.skills), skillCell{})
		copy(l.skills[i+1:], l.skills[i:])
		l.skills[i] = skillCell{skill: s}
	}
	return &l.skills[i]
}

// skillCellOf returns the learner's cell of a skill, nil if never touched.
func (l *Learner) skillCellOf(s uint32) *cell {
	if i, ok := l.findSkill(s); ok {
		return &l.skills[i].m
	}
	return nil
}

// manualOf returns the override of a content, nil if none.
func (l *Learner) manualOf(c uint32) *manualRec {
	if l.x == nil {
		return nil
	}
	for i := range l.x.manual {
		if l.x.manual[i].content == c {
			return &l.x.manual[i]
		}
	}
	return nil
}

// setManual records an override of an item.
func (l *Learner) setManual(it *item, kind uint8, at, until uint32) {
	it.bits = it.bits&^(iManualSuppress|iManualLift) | kind
	if r := l.manualOf(it.content); r != nil {
		r.at, r.until = at, until
		return
	}
	x := l.more()
	x.manual = append(x.manual, manualRec{content: it.content, at: at, until: until})
}

// firstLink returns the index of the first link of skill s.
func (l *Learner) firstLink(s uint32) int {
	lo, hi := 0, len(l.links)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l.links[m].skill < s {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// setSet changes an item's skill set, keeping the skill index in step.
func (l *Learner) setSet(it *item, set uint32) {
	if it.st.set == set {
		return
	}
	l.unlink(it.content, it.st.set)
	it.st.set = set
	l.link(it.content, set)
}

func (l *Learner) link(c, set uint32) {
	for _, s := range l.eng.sets[set] {
		k := l.firstLink(s)
		for k < len(l.links) && l.links[k].skill == s && l.links[k].content < c {
			k++
		}
		if k < len(l.links) && l.links[k] == (link{s, c}) {
			continue
		}
		l.links = append(grow(l.links), link{})
		copy(l.links[k+1:], l.links[k:])
		l.links[k] = link{s, c}
	}
}

func (l *Learner) unlink(c, set uint32) {
	for _, s := range l.eng.sets[set] {
		for k := l.firstLink(s); k < len(l.links) && l.links[k].skill == s; k++ {
			if l.links[k].content == c {
				l.links = append(l.links[:k], l.links[k+1:]...)
				break
			}
		}
	}
}

// relink rebuilds the skill index from the items.
func (l *Learner) relink() {
	l.links = l.links[:0]
	for i := range l.items {
		for _, s := range l.eng.sets[l.items[i].st.set] {
			l.links = append(l.links, link{s, l.items[i].content})
		}
	}
	sort.Slice(l.links, func(i, j int) bool {
		a, b := l.links[i], l.links[j]
		return a.skill < b.skill || a.skill == b.skill && a.content < b.content
	})
}

// checkpointItem saves an item before its first change in the current epoch.
func (l *Learner) checkpointItem(it *item) {
	if it.saved != l.epoch {
		it.saved = l.epoch
		l.ckI = append(growTo(l.ckI, 2*l.eng.cfg.Window), ckItem{content: it.content, st: it.st})
	}
}

func (l *Learner) checkpointSkill(sc *skillCell) {
	if sc.saved != l.epoch {
		sc.saved = l.epoch
		l.ckS = append(growTo(l.ckS, 2*l.eng.cfg.Window), ckSkill{skill: sc.skill, m: sc.m})
	}
}

// nextEpoch starts a new epoch. The epoch is 16 bits: when it wraps, every
// saved mark is cleared, so that a mark from 65,536 epochs ago never reads
// as "already saved".
func (l *Learner) nextEpoch() {
	l.epoch++
	if l.epoch == 0 {
		l.epoch = 1
		for i := range l.items {
			l.items[i].saved = 0
		}
		for i := range l.skills {
			l.skills[i].saved = 0
		}
	}
}

// push appends an entry to the window, rotating epochs when the current one
// holds Window entries.
func (l *Learner) push(en entry) {
	w := l.eng.cfg.Window
	if len(l.win)-int(l.split) >= w {
		n := copy(l.win, l.win[l.split:])
		l.win = l.win[:n]
		l.refilter()
		l.split = uint16(n)
		n = copy(l.ckI, l.ckI[l.ckISplit:])
		l.ckI = l.ckI[:n]
		l.ckISplit = uint16(n)
		n = copy(l.ckS, l.ckS[l.ckSSplit:])
		l.ckS = l.ckS[:n]
		l.ckSSplit = uint16(n)
		l.nextEpoch()
	}
	l.win = append(growTo(l.win, 2*l.eng.cfg.Window), en)
	l.idf |= idBits(&en.id)
}

// idBits are the two filter bits of a statement id: the window's ids set at
// most 2 x 2 x Window of the filter's 64 bits, so most ids not in the
// window are told absent without scanning it.
func idBits(id *schema.UUID) uint64 {
	h := (binary.LittleEndian.Uint64(id[:8]) ^ binary.LittleEndian.Uint64(id[8:])) * 0x9e3779b97f4a7c15
	return 1<<(h>>58) | 1<<(h>>52&63)
}

// refilter rebuilds the id filter from the window.
func (l *Learner) refilter() {
	l.idf = 0
	for i := range l.win {
		l.idf |= idBits(&l.win[i].id)
	}
}

// findEntry returns the window index of a statement id, or -1.
func (l *Learner) findEntry(id schema.UUID) int {
	if b := idBits(&id); l.idf&b != b {
		return -1
	}
	lo := binary.LittleEndian.Uint64(id[:8])
	for i := len(l.win) - 1; i >= 0; i-- {
		if binary.LittleEndian.Uint64(l.win[i].id[:8]) == lo && l.win[i].id == id {
			return i
		}
	}
	return -1
}

// restoreWindowStart sets every cell touched in the window back to its
// state at the start of the older epoch: checkpoints of the current epoch
// first, then of the older one (the earlier state wins).
func (l *Learner) restoreWindowStart() {
	for _, part := range [][]ckItem{l.ckI[l.ckISplit:], l.ckI[:l.ckISplit]} {
		for i := range part {
			if k, ok := l.findItem(part[i].content); ok {
				it := &l.items[k]
				l.setSet(it, part[i].st.set)
				it.st = part[i].st
			}
		}
	}
	for _, part := range [][]ckSkill{l.ckS[l.ckSSplit:], l.ckS[:l.ckSSplit]} {
		for i := range part {
			if k, ok := l.findSkill(part[i].skill); ok {
				l.skills[k].m = part[i].m
			}
		}
	}
}

// sortState re-sorts items and skills after ids were remapped, and
// rebuilds the skill index.
func (l *Learner) sortState() {
	sort.Slice(l.items, func(i, j int) bool { return l.items[i].content < l.items[j].content })
	sort.Slice(l.skills, func(i, j int) bool { return l.skills[i].skill < l.skills[j].skill })
	l.relink()
}

// growTo is grow for a slice that usually stays within limit elements
// (the window holds at most 2*Window statements, and the checkpoints one
// item per statement and usually one skill): it does not grow past limit
// while below it, so the slack of growth is not paid for by every learner.
func growTo[T any](s []T, limit int) []T {
	if len(s) < cap(s) {
		return s
	}
	if n := len(s) + len(s)/4 + 1; len(s) < limit && n > limit {
		t := append([]T(nil), make([]T, limit)...)
		copy(t, s)
		return t[:len(s)]
	}
	return grow(s)
}

// grow makes room for one more element, growing by a quarter instead of
// append's doubling: per-learner slices are many and small, and the slack
// of doubling would dominate memory per pair.
func grow[T any](s []T) []T {
	if len(s) < cap(s) {
		return s
	}
	// append from nil to the new length allocates exactly that many
	// elements rounded up to the allocator's size class, and the capacity
	// covers the rounding (make's would be wasted); the make is not
	// materialized (append(s, make(...)...) extends in place).
	n := append([]T(nil), make([]T, len(s)+len(s)/4+1)...)
	copy(n, s)
	return n[:len(s)]
}
