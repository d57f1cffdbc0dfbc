package engine

import (
	"errors"
	"iter"
)

// Intern table compaction. The engine interns content ids, skill ids and
// skill sets into small integers (engine.go); the tables only grow as
// statements name new ids. A producer sending ever-new content ids, or a
// catalog churning over months, would grow them without bound even after
// the learners holding those ids are evicted. Compact drops every entry no
// held learner references and renumbers the rest.
//
// The renumbering is monotone (surviving ids keep their relative order),
// so every learner's sorted slices (items by content, skills by skill,
// links by skill and content) stay sorted and nothing a learner hands out
// changes order: the state, decisions, events and engagement changes are
// those of a never-compacted engine (TestCompactionIsExact). An id dropped
// and interned again later gets a new, larger id; only the order of
// Changes.Skills (by engine-local skill id, which means nothing to
// readers) can then differ from a never-compacted engine's.

// DefaultCompactFloor is the table size below which CompactDue never asks
// for a compaction.
const DefaultCompactFloor = 1 << 16

// CompactStats says what the last compaction did.
type CompactStats struct {
	Learners                                    int // learners remapped
	Pairs                                       int // learner-content pairs remapped
	Contents, Skills, Sets                      int // entries kept
	DroppedContents, DroppedSkills, DroppedSets int
}

// Interned returns the number of entries in the intern tables: content
// ids, skill ids and skill sets (the empty set included).
func (e *Engine) Interned() (contents, skills, sets int) {
	return len(e.contents) - 1, len(e.skills) - 1, len(e.sets)
}

// LastCompaction returns what the last Compact did.
func (e *Engine) LastCompaction() CompactStats { return e.compacted }

// CompactDue reports whether one of the intern tables has grown past
// max(2 x its size after the last compaction, floor) entries (floor <= 0:
// DefaultCompactFloor). It costs three comparisons: callers check it
// between batches.
func (e *Engine) CompactDue(floor int) bool {
	if floor <= 0 {
		floor = DefaultCompactFloor
	}
	for i, n := range [3]int{len(e.contents), len(e.skills), len(e.sets)} {
		if n > max(2*e.compactBase[i], floor) {
			return true
		}
	}
	return false
}

// errForeignLearner: Compact was given a learner of another engine.
var errForeignLearner = errors.New("engine: compact: learners: nil or made by another engine")

// errLearnerTwice: Compact was given a learner twice (it would be
// remapped twice).
var errLearnerTwice = errors.New("engine: compact: learners: a learner listed twice")

// Compact drops the interned content ids, skill ids and skill sets that no
// learner of learners references, renumbers the rest (keeping their
// order) and remaps every reference in those learners: items, skill
// cells, the skill index, window entries, checkpoints, pending events,
// engagement changes and overrides. Catalog resolutions of the contents
// kept are kept (with the skill sets they name), so compaction costs no
// catalog lookup later.
//
// learners must yield every live Learner of the engine (it is iterated
// twice): a learner not yielded must never be used with the engine again
// (drop it; reload its stored state with LoadLearner if needed). A learner
// of another engine is an error, returned before anything changes. The
// cost is linear in the tables and the learners' state; it allocates the
// new tables and maps, and drops the engine's marshal scratch.
//
// The engine's tables are replaced only at the end, by assignments: if a
// panic (a bug) interrupts Compact, the tables are the old ones, intact,
// but some learners may be remapped already: the caller must drop every
// learner it passed and reload them (the shard rebuilds them).
func (e *Engine) Compact(learners iter.Seq[*Learner]) error {
	e.enter()
	live := compactMarks{
		contents: make([]uint32, len(e.contents)),
		skills:   make([]uint32, len(e.skills)),
		sets:     make([]uint32, len(e.sets)),
	}
	var st CompactStats
	seen := map[*Learner]struct{}{}
	for l := range learners {
		if l == nil || l.eng != e {
			return errForeignLearner
		}
		if _, dup := seen[l]; dup {
			return errLearnerTwice
		}
		seen[l] = struct{}{}
		st.Learners++
		st.Pairs += len(l.items)
		live.learner(l)
	}
	live.contents[0], live.skills[0] = 0, 0 // "none": entries without content
	// Catalog resolutions of the contents kept name their sets; sets name
	// their skills.
	for c := 1; c < len(e.contents); c++ {
		if live.contents[c] != 0 {
			live.sets[e.contents[c].set] = 1
		}
	}
	live.sets[0] = 1
	for s := range e.sets {
		if live.sets[s] != 0 {
			for _, sk := range e.sets[s] {
				live.skills[sk] = 1
			}
		}
	}
	// Renumber (monotone); index 0 of contents and skills stays unused,
	// set 0 stays the empty set.
	st.Contents = renumber(live.contents, false)
	st.Skills = renumber(live.skills, false)
	st.Sets = renumber(live.sets, true)
	st.DroppedContents = len(e.contents) - 1 - st.Contents
	st.DroppedSkills = len(e.skills) - 1 - st.Skills
	st.DroppedSets = len(e.sets) - st.Sets

	contents := make([]contentInfo, 1, 1+st.Contents+st.Contents/4)
	contentIDs := make(map[string]uint32, st.Contents)
	for c := 1; c < len(e.contents); c++ {
		if live.contents[c] != 0 {
			ci := e.contents[c]
			ci.set = live.sets[ci.set]
			contents = append(contents, ci)
			contentIDs[ci.name] = live.contents[c]
		}
	}
	skills := make([]skillInfo, 1, 1+st.Skills+st.Skills/4)
	skillIDs := make(map[string]uint32, st.Skills)
	for s := 1; s < len(e.skills); s++ {
		if live.skills[s] != 0 {
			skills = append(skills, e.skills[s])
			skillIDs[e.skills[s].name] = live.skills[s]
		}
	}
	sets := make([][]uint32, 0, st.Sets+st.Sets/4)
	setHash := make([]uint64, 0, cap(sets))
	names := make([][]string, 0, min(len(e.setNameCache), st.Sets))
	for s := range e.sets {
		if live.sets[s] == 0 && s != 0 {
			continue
		}
		var set []uint32 // a copy: the old tables stay intact until the swap below
		if len(e.sets[s]) > 0 {
			set = make([]uint32, len(e.sets[s]))
			for i, sk := range e.sets[s] {
				set[i] = live.skills[sk]
			}
		}
		sets = append(sets, set)
		setHash = append(setHash, e.setHash[s])
		if s < len(e.setNameCache) {
			names = append(names, e.setNameCache[s]) // the set's names, built once
		}
	}
	setIDs := make(map[string]uint32, st.Sets)
	for k, s := range e.setIDs {
		if s == 0 || live.sets[s] != 0 {
			setIDs[k] = live.sets[s]
		}
	}
	for l := range learners {
		live.remap(l)
	}
	e.contents, e.contentIDs = contents, contentIDs
	e.skills, e.skillIDs = skills, skillIDs
	e.sets, e.setHash, e.setIDs = sets, setHash, setIDs
	e.setNameCache = names
	// The marshal stamps are indexed by id: drop them (a marshal
	// reallocates them to the new sizes), and the scratch holding ids.
	e.mContent, e.mSkill, e.mSet = nil, nil, nil
	e.scratch, e.voidIDs = e.scratch[:0], e.voidIDs[:0]
	e.compactBase = [3]int{len(e.contents), len(e.skills), len(e.sets)}
	e.compacted = st
	return nil
}

// compactMarks holds, per old id, first a live mark (non-zero), then the
// new id (renumber).
type compactMarks struct {
	contents, skills, sets []uint32
}

// renumber turns live marks into new ids in order: the k-th live entry
// gets k (from 1, or from 0 for sets, whose entry 0 is always kept).
// Dead entries stay 0. It returns the number of live entries (besides
// index 0 for contents and skills).
func renumber(marks []uint32, fromZero bool) int {
	next := uint32(1)
	start := 1
	if fromZero {
		next, start = 0, 0
	}
	n := 0
	for i := start; i < len(marks); i++ {
		if marks[i] != 0 || fromZero && i == 0 {
			marks[i] = next
			next++
			n++
		}
	}
	return n
}

// learner marks every id the learner references.
func (m *compactMarks) learner(l *Learner) {
	c, s, set := m.contents, m.skills, m.sets
	for i := range l.items {
		c[l.items[i].content], set[l.items[i].st.set] = 1, 1
	}
	for i := range l.skills {
		s[l.skills[i].skill] = 1
	}
	// links name the items' contents and their sets' skills: covered.
	for i := range l.win {
		c[l.win[i].content], set[l.win[i].set] = 1, 1
	}
	for i := range l.ckI {
		c[l.ckI[i].content], set[l.ckI[i].st.set] = 1, 1
	}
	for i := range l.ckS {
		s[l.ckS[i].skill] = 1
	}
	for i := range l.events {
		c[l.events[i].it.content], set[l.events[i].it.st.set] = 1, 1
	}
	for i := range l.engCh {
		p := &l.engCh[i]
		c[p.content], c[p.en.content], set[p.en.set] = 1, 1, 1
	}
	if l.x != nil {
		for i := range l.x.manual {
			c[l.x.manual[i].content] = 1
		}
	}
}

// remap rewrites every id the learner holds to its new number. The
// renumbering is monotone, so sorted slices stay sorted.
func (m *compactMarks) remap(l *Learner) {
	c, s, set := m.contents, m.skills, m.sets
	for i := range l.items {
		it := &l.items[i]
		it.content, it.st.set = c[it.content], set[it.st.set]
	}
	for i := range l.skills {
		l.skills[i].skill = s[l.skills[i].skill]
	}
	for i := range l.links {
		k := &l.links[i]
		k.skill, k.content = s[k.skill], c[k.content]
	}
	for i := range l.win {
		en := &l.win[i]
		en.content, en.set = c[en.content], set[en.set]
	}
	for i := range l.ckI {
		ck := &l.ckI[i]
		ck.content, ck.st.set = c[ck.content], set[ck.st.set]
	}
	for i := range l.ckS {
		l.ckS[i].skill = s[l.ckS[i].skill]
	}
	for i := range l.events {
		it := &l.events[i].it
		it.content, it.st.set = c[it.content], set[it.st.set]
	}
	for i := range l.engCh {
		p := &l.engCh[i]
		p.content, p.en.content, p.en.set = c[p.content], c[p.en.content], set[p.en.set]
	}
	if l.x != nil {
		for i := range l.x.manual {
			l.x.manual[i].content = c[l.x.manual[i].content]
		}
	}
}
