package engine

import (
	"fmt"
	"strconv"

	"github.com/cespare/xxhash/v2"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/engagement"
	"github.com/unpair/unpair/processor/mastery"
)

// Source is where a piece of evidence came from: its Kafka partition and
// offset, and its index among the statements of that message (a JSON array
// message holds several; 0 otherwise). An Offset below zero means "no
// source" (tests, offline replays): the offset guard is skipped.
//
// The guard applies a statement only when (Offset, Index) is after the
// learner's applied position of Partition. When a re-key stage forwarded
// the statement, Origin is its position in the topic it was first read
// from: the guard also requires (Origin.Offset, Origin.Index) to be after
// the learner's applied position of Origin.Partition, so a statement the
// re-key stage produced twice (a retried batch, a crash before its commit)
// is applied once, however many other statements lie between the copies.
type Source struct {
	Partition int32
	Index     int32
	Offset    int64
	Origin    Origin
}

// Origin is a statement's position in the topic it was first read from.
// Valid is false when there is none (no re-key stage, or a record without
// the unpair-source headers).
type Origin struct {
	Partition int32
	Index     int32
	Offset    int64
	Valid     bool
}

// NoSource is evidence without a Kafka position.
var NoSource = Source{Partition: -1, Offset: -1}

// Outcome says what Apply did with a piece of evidence.
type Outcome uint8

const (
	Applied       Outcome = iota // state updated (possibly without a decision change)
	Duplicate                    // a statement id already in the window: no-op
	Stale                        // offset <= the applied offset of its partition: no-op
	VoidUnmatched                // a void whose target is not in the window: remembered, counted
	Voided                       // a statement voided before it arrived: dropped
	Ignored                      // no content, or a kind that changes no state
)

var outcomeNames = [...]string{"applied", "duplicate", "stale", "void_unmatched", "voided", "ignored"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Engine applies evidence to learners. Not safe for concurrent use.
type Engine struct {
	cfg Config
	cat *catalog.Catalog

	snap *catalog.Snapshot // the snapshot the caches below were resolved against

	eloCut, eloBand float64 // eloMastered: logit of the Elo threshold, and the band around it computed exactly

	contentIDs   map[string]uint32
	lastVerb     string // verbCode's previous verb and its code
	lastVerbCode uint16
	contents     []contentInfo // index 0 unused
	skillIDs     map[string]uint32
	skills       []skillInfo // index 0 unused
	setIDs       map[string]uint32
	sets         [][]uint32 // skill sets; sets[0] is the empty set
	setHash      []uint64   // per set: hash of its skill names (decision fingerprints)

	// compaction (compact.go): table sizes after the last compaction, and
	// what it did
	compactBase [3]int
	compacted   CompactStats

	keyBuf  []byte
	scratch []entry

	// engagement recording: on while a statement with a source is applied
	recording   bool
	stmtContent uint32 // the statement's own content: its change is recorded whole
	voidSnaps   []pairSnap
	voidIDs     []uint32
	voidSkills  []skillCell

	// marshal scratch (AppendBinary): index of each content, skill and set
	// in the encoded tables, valid when its stamp equals mGen
	mGen     uint32
	mContent []tableIdx
	mSkill   []tableIdx
	mSet     []tableIdx
	mTable   []string
	mSetList []uint32
	mItems   []int
	mSkills  []int

	// flush scratch: explanation, event id and fingerprint bytes, skill
	// names per set
	expBuf       []byte
	idBuf        []byte
	fpBuf        []byte
	setNameCache [][]string

	hook func(where string) // tests: called inside cache refreshes (may panic)
}

// enter resets the scratch state an entry point may find half-set by a
// panic inside an earlier call that the caller recovered (the shard
// does): Apply, Changes, AppendBinary, Override, Due and
// SweepBarelyTouched call it first. The rest of the scratch (buffers,
// marshal stamps) is reset where it is used, and the catalog caches are
// committed whole (resolve, skillParams).
func (e *Engine) enter() {
	e.recording, e.stmtContent = false, 0
}

// tableIdx is the index of an id in one AppendBinary's tables, valid for
// the marshal whose generation is gen.
type tableIdx struct {
	gen, idx uint32
}

type contentInfo struct {
	name       string
	snap       *catalog.Snapshot // snapshot of the resolution below
	inCatalog  bool
	set        uint32 // catalog skill set
	difficulty float64
}

type skillInfo struct {
	name   string
	snap   *catalog.Snapshot
	hasBKT bool
	bkt    mastery.BKT
	gen    uint32 // bumped when hasBKT or bkt change: published skills are handed out again
}

// New returns an engine with the given policy over the catalog (nil: an
// empty catalog).
func New(cfg Config, cat *catalog.Catalog) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("engine config: %w", err)
	}
	if cat == nil {
		cat = catalog.NewCatalog(nil)
	}
	e := &Engine{
		cfg: cfg, cat: cat,
		contentIDs: map[string]uint32{},
		contents:   make([]contentInfo, 1),
		skillIDs:   map[string]uint32{},
		skills:     make([]skillInfo, 1),
		setIDs:     map[string]uint32{"": 0},
		sets:       [][]uint32{nil},
		setHash:    []uint64{0},
	}
	e.setEloCut()
	return e, nil
}

// Config returns the engine's policy.
func (e *Engine) Config() Config { return e.cfg }

func (e *Engine) contentID(name string) uint32 {
	if id, ok := e.contentIDs[name]; ok {
		return id
	}
	id := uint32(len(e.contents))
	e.contents = append(e.contents, contentInfo{name: name})
	e.contentIDs[name] = id
	return id
}

// verbCode is engagement.VerbCode with the previous verb remembered: a
// stream repeats a few verbs.
func (e *Engine) verbCode(iri string) uint16 {
	if iri == "" {
		return 0
	}
	if iri != e.lastVerb {
		e.lastVerb, e.lastVerbCode = iri, engagement.VerbCode(iri)
	}
	return e.lastVerbCode
}

func (e *Engine) skillID(name string) uint32 {
	if id, ok := e.skillIDs[name]; ok {
		return id
	}
	id := uint32(len(e.skills))
	e.skills = append(e.skills, skillInfo{name: name})
	e.skillIDs[name] = id
	return id
}

// skillSet interns a set of skill names (in the given order, without
// duplicates) and returns its id; 0 is the empty set.
func (e *Engine) skillSet(names []string) uint32 {
	if len(names) == 0 {
		return 0
	}
	b := e.keyBuf[:0]
	for _, n := range names {
		b = append(b, n...)
		b = append(b, 0)
	}
	e.keyBuf = b
	if id, ok := e.setIDs[string(b)]; ok {
		return id
	}
	set := make([]uint32, 0, len(names))
next:
	for _, n := range names {
		id := e.skillID(n)
		for _, s := range set {
			if s == id {
				continue next
			}
		}
		set = append(set, id)
	}
	id := uint32(len(e.sets))
	e.sets = append(e.sets, set)
	e.setIDs[string(b)] = id
	// The set's hash names its skills (deduplicated, in order), not its
	// engine-local id, which compaction changes: decision fingerprints
	// include it.
	b = b[:0]
	for _, s := range set {
		b = append(b, e.skills[s].name...)
		b = append(b, 0)
	}
	e.keyBuf = b
	e.setHash = append(e.setHash, xxhash.Sum64(b))
	return id
}

// resolve refreshes a content's catalog entry when the catalog changed.
// The entry is written whole, its snapshot last, so that a panic while
// resolving (recovered by the caller) leaves it stale rather than marked
// current with half of it from the previous snapshot.
func (e *Engine) resolve(id uint32, snap *catalog.Snapshot) *contentInfo {
	ci := &e.contents[id]
	if ci.snap == snap {
		return ci
	}
	r := contentInfo{name: ci.name, snap: snap, difficulty: snap.Defaults().Difficulty}
	if it, ok := snap.Item(ci.name); ok {
		r.inCatalog = true
		r.difficulty = it.Difficulty
		r.set = e.skillSet(it.Skills)
	}
	if e.hook != nil {
		e.hook("resolve")
	}
	ci = &e.contents[id] // skillSet does not grow contents, but stay safe
	*ci = r
	return ci
}

// skillParams returns a skill's BKT parameters, or ok=false for the streak
// rule (listed without parameters, or unlisted with no default BKT).
func (e *Engine) skillParams(id uint32, snap *catalog.Snapshot) (mastery.BKT, bool) {
	si := &e.skills[id]
	if si.snap != snap {
		// Computed aside and committed together (snapshot included), so
		// that a panic in between leaves the entry stale, not half-set.
		var bkt mastery.BKT
		has := false
		if sk, ok := snap.Skill(si.name); ok {
			if sk.BKT != nil {
				bkt, has = *sk.BKT, true
			}
		} else if d := snap.Defaults(); d.BKT != nil {
			bkt, has = *d.BKT, true
		}
		if e.hook != nil {
			e.hook("skill")
		}
		if has != si.hasBKT || bkt != si.bkt {
			si.gen++
		}
		si.hasBKT, si.bkt, si.snap = has, bkt, snap
	}
	return si.bkt, si.hasBKT
}

// itemParams returns the BKT parameters of item-level state.
func itemParams(snap *catalog.Snapshot) (mastery.BKT, bool) {
	if d := snap.Defaults(); d.BKT != nil {
		return *d.BKT, true
	}
	return mastery.BKT{}, false
}

func (e *Engine) snapshot() *catalog.Snapshot {
	s := e.cat.Snapshot()
	e.snap = s
	return s
}
