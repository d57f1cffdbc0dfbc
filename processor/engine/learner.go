package engine

import (
	"encoding/binary"
	"sort"
	"unsafe"

	"github.com/unpair/unpair/processor/decision"

	"github.com/unpair/unpair/schema"
)

// cell is the state of every model for one learner-skill or learner-item.
type cell struct {
	pk        float64 // BKT P(known); valid when cellHasPK
	last      int64   // unix ms of the latest scored attempt
	lastWrong int64   // unix ms of the latest wrong answer
	ewma      float32 // EWMA of correctness
	ability   float32 // Elo ability
	attempts  uint16  // scored attempts (saturating)
	correct   uint16  // correct answers (saturating)
	streak    uint16  // correct answers in a row
	flags     uint8
}

const (
	cellHasPK       = 1 << iota // pk initialized from L0
	cellLastCorrect             // the latest answer (arrival order) was correct
)

// itemState is the part of an item restored by voiding.
type itemState struct {
	m           cell
	set         uint32  // skill set id (engine-local), as of the latest evidence
	completedAt int64   // unix ms of the latest completion with success; 0 none
	feedbackAt  int64   // unix ms of the active low rating or dislike; 0 none
	rating      float32 // scaled rating of the feedback; -1 for a dislike
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

// published is the decision last made for an item.
type published struct {
	since      int64
	until      int64
	reason     uint8
	suppressed bool
}

const (
	manualNone uint8 = iota
	manualSuppress
	manualLift
)

type item struct {
	content     uint32 // engine-local content id
	saved       uint32 // epoch in which st was checkpointed
	st          itemState
	manualAt    int64
	manualUntil int64
	pub         published
	manual      uint8
	dirty       bool
}

type skillCell struct {
	skill uint32
	saved uint32
	m     cell
}

// entry is one statement in the window, in the form it was applied.
type entry struct {
	id      schema.UUID
	time    int64 // unix ms
	content uint32
	set     uint32
	scaled  float32 // score or rating, quantized to float32 before use
	kind    schema.Kind
	flags   uint8
}

const (
	eHasSuccess = 1 << iota
	eSuccess
	eHasScore
	eCompletion
	eVoided // voided: kept for duplicate detection, skipped on replay
)

// saved is a cell as it was at the start of an epoch.
type saved struct {
	skill bool
	id    uint32 // content or skill id
	st    itemState
}

const maxPendingVoids = 8

// Learner is one learner's complete state. Make it with Engine.NewLearner or
// Engine.LoadLearner; it belongs to that Engine.
type Learner struct {
	eng       *Engine
	key       string
	partition int32
	offsets   []Source

	items  []item      // sorted by content id
	ids    []uint32    // items[i].content, dense for a cache-friendly search
	skills []skillCell // sorted by skill id

	win      []entry  // oldest first; [0:split] is the older epoch
	fps      []uint64 // fingerprints of win[i].id, dense for a cache-friendly scan
	split    int
	epoch    uint32
	ckOld    []saved // cells at the start of the older epoch
	ckNew    []saved // cells at the start of the current epoch
	pendVoid []schema.UUID

	events  []pending
	evBase  uint64 // sequence number of events[0]
	version uint64
	dirty   bool
}

// NewLearner returns an empty learner.
func (e *Engine) NewLearner(key string) *Learner {
	return &Learner{eng: e, key: key, partition: -1, epoch: 1}
}

// Key returns the learner key.
func (l *Learner) Key() string { return l.key }

// Partition returns the partition of the latest evidence, -1 if none.
func (l *Learner) Partition() int32 { return l.partition }

// Pairs returns the number of learner-content pairs held.
func (l *Learner) Pairs() int { return len(l.items) }

// Dirty reports whether the learner changed since the last Clean.
func (l *Learner) Dirty() bool { return l.dirty }

// Offsets returns the applied offset per partition.
func (l *Learner) Offsets() []Source { return append([]Source(nil), l.offsets...) }

// Size is an estimate of the memory the learner holds, in bytes.
func (l *Learner) Size() int {
	return int(unsafe.Sizeof(*l)) + len(l.key) +
		cap(l.offsets)*int(unsafe.Sizeof(Source{})) +
		cap(l.items)*int(unsafe.Sizeof(item{})) + cap(l.ids)*4 + cap(l.fps)*8 +
		cap(l.skills)*int(unsafe.Sizeof(skillCell{})) +
		cap(l.win)*int(unsafe.Sizeof(entry{})) +
		(cap(l.ckOld)+cap(l.ckNew))*int(unsafe.Sizeof(saved{})) +
		cap(l.pendVoid)*16 + cap(l.events)*int(unsafe.Sizeof(pending{}))
}

// findItem returns the index of the item with the content id, or where it
// would be inserted.
func (l *Learner) findItem(c uint32) (int, bool) {
	ids := l.ids
	lo, hi := 0, len(ids)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ids[m] < c {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(ids) && ids[lo] == c
}

func (l *Learner) item(c uint32, at int64) *item {
	i, ok := l.findItem(c)
	if !ok {
		l.items = append(grow(l.items), item{})
		copy(l.items[i+1:], l.items[i:])
		l.items[i] = item{content: c, pub: published{since: at}}
		l.ids = append(grow(l.ids), 0)
		copy(l.ids[i+1:], l.ids[i:])
		l.ids[i] = c
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

// checkpoint saves an item before its first change in the current epoch.
func (l *Learner) checkpointItem(it *item) {
	if it.saved != l.epoch {
		it.saved = l.epoch
		l.ckNew = append(grow(l.ckNew), saved{id: it.content, st: it.st})
	}
}

func (l *Learner) checkpointSkill(sc *skillCell) {
	if sc.saved != l.epoch {
		sc.saved = l.epoch
		l.ckNew = append(grow(l.ckNew), saved{skill: true, id: sc.skill, st: itemState{m: sc.m}})
	}
}

// push appends an entry to the window, rotating epochs when the current one
// holds Window entries.
func (l *Learner) push(en entry) {
	w := l.eng.cfg.Window
	if len(l.win)-l.split >= w {
		n := copy(l.win, l.win[l.split:])
		copy(l.fps, l.fps[l.split:])
		l.win, l.fps = l.win[:n], l.fps[:n]
		l.split = n
		l.ckOld, l.ckNew = l.ckNew, l.ckOld[:0]
		l.epoch++
	}
	l.win = append(grow(l.win), en)
	l.fps = append(grow(l.fps), fingerprint(en.id))
}

func fingerprint(id schema.UUID) uint64 {
	return binary.LittleEndian.Uint64(id[:8]) ^ binary.LittleEndian.Uint64(id[8:])
}

// findEntry returns the window index of a statement id, or -1.
func (l *Learner) findEntry(id schema.UUID) int {
	fp := fingerprint(id)
	for i := len(l.fps) - 1; i >= 0; i-- {
		if l.fps[i] == fp && l.win[i].id == id {
			return i
		}
	}
	return -1
}

// restoreWindowStart sets every cell touched in the window back to its
// state at the start of the older epoch.
func (l *Learner) restoreWindowStart() {
	restore := func(s *saved) {
		if s.skill {
			if i, ok := l.findSkill(s.id); ok {
				l.skills[i].m = s.st.m
			}
			return
		}
		if i, ok := l.findItem(s.id); ok {
			l.items[i].st = s.st
		}
	}
	for i := range l.ckNew {
		restore(&l.ckNew[i])
	}
	for i := range l.ckOld { // the older epoch wins: it is the earlier state
		restore(&l.ckOld[i])
	}
}

// sortState re-sorts items and skills after ids were remapped.
func (l *Learner) sortState() {
	sort.Slice(l.items, func(i, j int) bool { return l.items[i].content < l.items[j].content })
	l.ids = l.ids[:0]
	for i := range l.items {
		l.ids = append(l.ids, l.items[i].content)
	}
	l.fps = l.fps[:0]
	for i := range l.win {
		l.fps = append(l.fps, fingerprint(l.win[i].id))
	}
	sort.Slice(l.skills, func(i, j int) bool { return l.skills[i].skill < l.skills[j].skill })
}

// grow makes room for one more element, growing by a quarter instead of
// append's doubling: per-learner slices are many and small, and the slack
// of doubling would dominate memory per pair.
func grow[T any](s []T) []T {
	if len(s) < cap(s) {
		return s
	}
	n := make([]T, len(s), len(s)+len(s)/4+1)
	copy(n, s)
	return n
}
