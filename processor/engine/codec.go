package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/unpair/unpair/schema"
)

// Serialized learner state, version 4. All integers are varints unless
// noted; strings are a uvarint length and bytes; times are unix seconds.
//
//	"UP" 0x04                  magic and version
//	key, partition
//	n × (partition, offset, index)  applied by-learner positions
//	n × (partition, offset, index)  applied origin positions (re-keyed input)
//	n × string                 name table: content and skill ids
//	n × (n × name index)       skill sets (set 0, the empty set, implicit)
//	n × item                   content name index, itemState, manual kind,
//	                           reason, suppressed, saved flag, manual at and
//	                           until, since, until, mastered mark, barely flag
//	itemState                  cell, set, completed at, feedback at, rating,
//	                           engagement: first, last, started, completed,
//	                           spent ms, launches, attempts, completions,
//	                           progress, verb, kind byte, flags byte
//	n × skill                  skill name index, cell, saved flag
//	n × entry, split           window (with duration ms, progress, verb)
//	n × ckItem, split          item checkpoints (older epoch first)
//	n × ckSkill, split         skill checkpoints
//	n × 16 bytes               voids waiting for their statement
//
// Engine-local ids never leave the process: names are written instead, and
// remapped on load. Floats are fixed-width bit patterns, so a round trip is
// exact. Version 3 (applied offsets as (partition, offset), no origin
// positions) is still read: its positions load with index 0 and no origin
// positions, which is exact (it never applied a statement after index 0 of
// a message, nor tracked origins). Versions 1 (times in ms, one checkpoint
// record for items and skills) and 2 (no engagement) are not read: no
// state of them was ever deployed.
//
// The publication state of skills (what Changes handed out) is not
// encoded: a loaded learner hands out every skill at its next Changes.
const codecVersion = 4

var errCorrupt = errors.New("corrupt learner state")

// ErrNewerFormat is returned (wrapped; test with errors.Is) by
// UnmarshalBinary and LoadLearner for a state whose format version is
// above the newest this code reads: a newer release wrote it. It is not
// corrupt, and must not be replaced: a caller that starts the learner new
// and writes it back would wipe its history during a rollback or a
// mixed-version rolling deploy. The shard retries such a load with backoff
// (backpressure) until an owner that reads it takes the learner over.
var ErrNewerFormat = errors.New("learner state written by a newer release")

// Manual override kinds as encoded.
const (
	manualNone uint8 = iota
	manualSuppress
	manualLift
)

// MarshalBinary encodes the learner's full state.
func (l *Learner) MarshalBinary() ([]byte, error) { return l.AppendBinary(nil) }

// AppendBinary appends the encoded state to b. It allocates nothing but
// b's growth: the name and set tables are indexed through generation-stamped
// arrays in the engine and the canonical order (items and skills by name)
// is a reused index slice sorted with slices.SortFunc, so equal states
// still encode to equal bytes whatever the engine-local ids.
func (l *Learner) AppendBinary(b []byte) ([]byte, error) {
	e := l.eng
	e.enter()
	e.mGen++
	if e.mGen == 0 { // wrapped: no stamp may read as current
		clear(e.mContent)
		clear(e.mSkill)
		clear(e.mSet)
		e.mGen = 1
	}
	gen := e.mGen
	e.mContent = stretch(e.mContent, len(e.contents))
	e.mSkill = stretch(e.mSkill, len(e.skills))
	e.mSet = stretch(e.mSet, len(e.sets))
	contentIdx, skillIdx, setIdxs := e.mContent, e.mSkill, e.mSet
	table := e.mTable[:0]
	defer func() { clear(table); e.mTable = table[:0] }()
	name := func(id uint32, skill bool) uint64 {
		var slot *tableIdx
		if skill {
			slot = &skillIdx[id]
		} else {
			slot = &contentIdx[id]
		}
		if slot.gen == gen {
			return uint64(slot.idx)
		}
		*slot = tableIdx{gen: gen, idx: uint32(len(table))}
		if skill {
			table = append(table, e.skills[id].name)
		} else {
			table = append(table, e.contents[id].name)
		}
		return uint64(slot.idx)
	}
	setIdxs[0] = tableIdx{gen: gen}
	setList := e.mSetList[:0]
	defer func() { e.mSetList = setList[:0] }()
	setIdx := func(s uint32) uint64 {
		if slot := &setIdxs[s]; slot.gen == gen {
			return uint64(slot.idx)
		}
		for _, sk := range e.sets[s] {
			name(sk, true)
		}
		setList = append(setList, s)
		setIdxs[s] = tableIdx{gen: gen, idx: uint32(len(setList))}
		return uint64(len(setList))
	}
	sets := func(s uint32) uint64 { return uint64(setIdxs[s].idx) } // after the first pass
	// First pass: collect names and sets in a canonical order (items and
	// skills by name), so equal states encode to equal bytes whatever the
	// engine-local ids.
	items := e.mItems[:0]
	for i := range l.items {
		items = append(items, i)
	}
	defer func() { e.mItems = items[:0] }()
	slices.SortFunc(items, func(i, j int) int {
		return strings.Compare(e.contents[l.items[i].content].name, e.contents[l.items[j].content].name)
	})
	skills := e.mSkills[:0]
	for i := range l.skills {
		skills = append(skills, i)
	}
	defer func() { e.mSkills = skills[:0] }()
	slices.SortFunc(skills, func(i, j int) int {
		return strings.Compare(e.skills[l.skills[i].skill].name, e.skills[l.skills[j].skill].name)
	})
	for _, i := range items {
		name(l.items[i].content, false)
		setIdx(l.items[i].st.set)
	}
	for _, i := range skills {
		name(l.skills[i].skill, true)
	}
	for i := range l.win {
		if l.win[i].content != 0 {
			name(l.win[i].content, false)
			setIdx(l.win[i].set)
		}
	}
	for i := range l.ckI {
		name(l.ckI[i].content, false)
		setIdx(l.ckI[i].st.set)
	}
	for i := range l.ckS {
		name(l.ckS[i].skill, true)
	}

	if e.hook != nil {
		e.hook("marshal")
	}
	b = append(b, 'U', 'P', codecVersion)
	b = appendString(b, l.key)
	b = binary.AppendVarint(b, int64(l.partition))
	b = l.appendPositions(b)
	b = binary.AppendUvarint(b, uint64(len(table)))
	for _, s := range table {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(setList)))
	for _, s := range setList {
		set := e.sets[s]
		b = binary.AppendUvarint(b, uint64(len(set)))
		for _, sk := range set {
			b = binary.AppendUvarint(b, name(sk, true))
		}
	}
	b = binary.AppendUvarint(b, uint64(len(l.items)))
	for _, i := range items {
		it := &l.items[i]
		b = binary.AppendUvarint(b, name(it.content, false))
		b = appendItemState(b, &it.st, sets(it.st.set))
		var mAt, mUntil uint32
		manual := manualNone
		if it.bits&(iManualSuppress|iManualLift) != 0 {
			if m := l.manualOf(it.content); m != nil {
				mAt, mUntil = m.at, m.until
				manual = manualSuppress
				if it.bits&iManualLift != 0 {
					manual = manualLift
				}
			}
		}
		b = append(b, manual, it.reason, boolByte(it.suppressed()), boolByte(it.saved == l.epoch))
		b = binary.AppendUvarint(b, uint64(mAt))
		b = binary.AppendUvarint(b, uint64(mUntil))
		b = binary.AppendUvarint(b, uint64(it.since))
		b = binary.AppendUvarint(b, uint64(it.until))
		b = binary.AppendUvarint(b, uint64(it.mastered))
		b = append(b, boolByte(it.bits&iBarely != 0))
	}
	b = binary.AppendUvarint(b, uint64(len(l.skills)))
	for _, i := range skills {
		sc := &l.skills[i]
		b = binary.AppendUvarint(b, name(sc.skill, true))
		b = appendCell(b, &sc.m)
		b = append(b, boolByte(sc.saved == l.epoch))
	}
	b = binary.AppendUvarint(b, uint64(len(l.win)))
	for i := range l.win {
		en := &l.win[i]
		b = append(b, en.id[:]...)
		b = binary.AppendUvarint(b, uint64(en.time))
		b = append(b, byte(en.kind), en.flags)
		if en.content != 0 {
			b = binary.AppendUvarint(b, name(en.content, false)+1)
			b = binary.AppendUvarint(b, sets(en.set))
		} else {
			b = append(b, 0)
		}
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(en.scaled))
		b = binary.AppendUvarint(b, uint64(en.dur))
		b = binary.AppendUvarint(b, uint64(en.progress))
		b = binary.AppendUvarint(b, uint64(en.verb))
	}
	b = binary.AppendUvarint(b, uint64(l.split))
	b = binary.AppendUvarint(b, uint64(len(l.ckI)))
	for i := range l.ckI {
		b = binary.AppendUvarint(b, name(l.ckI[i].content, false))
		b = appendItemState(b, &l.ckI[i].st, sets(l.ckI[i].st.set))
	}
	b = binary.AppendUvarint(b, uint64(l.ckISplit))
	b = binary.AppendUvarint(b, uint64(len(l.ckS)))
	for i := range l.ckS {
		b = binary.AppendUvarint(b, name(l.ckS[i].skill, true))
		b = appendCell(b, &l.ckS[i].m)
	}
	b = binary.AppendUvarint(b, uint64(l.ckSSplit))
	var pend []schema.UUID
	if l.x != nil {
		pend = l.x.pendVoid
	}
	b = binary.AppendUvarint(b, uint64(len(pend)))
	for _, id := range pend {
		b = append(b, id[:]...)
	}
	return b, nil
}

// appendPositions appends the applied by-learner positions, then the
// origin positions, each as (partition, offset, index).
func (l *Learner) appendPositions(b []byte) []byte {
	nOff := 0
	if l.off0.offset >= 0 {
		nOff++
	}
	var offs, origins []pos
	if l.x != nil {
		offs, origins = l.x.offsets, l.x.origins
	}
	b = binary.AppendUvarint(b, uint64(nOff+len(offs)))
	if l.off0.offset >= 0 {
		b = appendPos(b, &l.off0)
	}
	for i := range offs {
		b = appendPos(b, &offs[i])
	}
	b = binary.AppendUvarint(b, uint64(len(origins)))
	for i := range origins {
		b = appendPos(b, &origins[i])
	}
	return b
}

func appendPos(b []byte, p *pos) []byte {
	b = binary.AppendVarint(b, int64(p.partition))
	b = binary.AppendVarint(b, p.offset)
	return binary.AppendVarint(b, int64(p.index))
}

// stretch returns s with at least n elements, the new ones zero.
func stretch(s []tableIdx, n int) []tableIdx {
	if len(s) >= n {
		return s
	}
	return append(s, make([]tableIdx, n-len(s)+n/4)...)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendCell(b []byte, c *cell) []byte {
	b = binary.LittleEndian.AppendUint32(b, c.pk[0])
	b = binary.LittleEndian.AppendUint32(b, c.pk[1])
	b = binary.AppendUvarint(b, uint64(c.last))
	b = binary.AppendUvarint(b, uint64(c.lastWrong))
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(c.ewma))
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(c.ability))
	b = binary.AppendUvarint(b, uint64(c.attempts))
	b = binary.AppendUvarint(b, uint64(c.correct))
	b = binary.AppendUvarint(b, uint64(c.streak))
	return append(b, c.flags)
}

func appendItemState(b []byte, st *itemState, set uint64) []byte {
	b = appendCell(b, &st.m)
	b = binary.AppendUvarint(b, set)
	b = binary.AppendUvarint(b, uint64(st.completedAt))
	b = binary.AppendUvarint(b, uint64(st.feedbackAt))
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(st.rating))
	return appendEng(b, &st.g)
}

func appendEng(b []byte, g *eng) []byte {
	for _, v := range [...]uint32{g.first, g.last, g.started, g.completed, g.spent,
		uint32(g.launches), uint32(g.attempts), uint32(g.completions), uint32(g.progress), uint32(g.verb)} {
		b = binary.AppendUvarint(b, uint64(v))
	}
	return append(b, byte(g.kind), g.flags)
}

// decoder reads with bounds checks; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errCorrupt, what)
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b) < n {
		d.fail(what)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte1(what string) byte {
	v := d.bytes(1, what)
	if v == nil {
		return 0
	}
	return v[0]
}

// secs reads a time in seconds.
func (d *decoder) secs(what string) uint32 {
	v := d.uvarint(what)
	if v > math.MaxUint32 {
		d.fail(what + ": beyond 32 bits")
		return 0
	}
	return uint32(v)
}

// short reads a window or checkpoint split.
func (d *decoder) short(what string, limit int) uint16 {
	v := d.uvarint(what)
	if d.err == nil && (v > uint64(limit) || v > math.MaxUint16) {
		d.fail(what + ": beyond its list")
		return 0
	}
	return uint16(v)
}

func (d *decoder) u32(what string) uint32 {
	v := d.bytes(4, what)
	if v == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(v)
}

// count reads a length and rejects lengths that cannot fit in the rest of
// the input (each element takes at least min bytes).
func (d *decoder) count(minSize int, what string) int {
	n := d.uvarint(what)
	if d.err == nil && n > uint64(len(d.b)/minSize) {
		d.fail(what + ": length exceeds input")
		return 0
	}
	return int(n)
}

func (d *decoder) cell(c *cell) {
	if v := d.bytes(8, "cell.pk"); v != nil {
		c.pk = [2]uint32{binary.LittleEndian.Uint32(v), binary.LittleEndian.Uint32(v[4:])}
	}
	c.last = d.secs("cell.last")
	c.lastWrong = d.secs("cell.last_wrong")
	c.ewma = math.Float32frombits(d.u32("cell.ewma"))
	c.ability = math.Float32frombits(d.u32("cell.ability"))
	c.attempts = uint16(min(d.uvarint("cell.attempts"), math.MaxUint16))
	c.correct = uint16(min(d.uvarint("cell.correct"), math.MaxUint16))
	c.streak = uint16(min(d.uvarint("cell.streak"), math.MaxUint16))
	c.flags = d.byte1("cell.flags")
}

// u16 reads a 16-bit value written as a uvarint.
func (d *decoder) i32(what string) int32 {
	v := d.varint(what)
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail(what + ": out of range")
		return 0
	}
	return int32(v)
}

func (d *decoder) u16(what string) uint16 {
	v := d.uvarint(what)
	if v > math.MaxUint16 {
		d.fail(what + ": beyond 16 bits")
		return 0
	}
	return uint16(v)
}

func (d *decoder) eng(g *eng) {
	g.first = d.secs("engagement.first")
	g.last = d.secs("engagement.last")
	g.started = d.secs("engagement.started")
	g.completed = d.secs("engagement.completed")
	g.spent = d.secs("engagement.spent")
	g.launches = d.u16("engagement.launches")
	g.attempts = d.u16("engagement.attempts")
	g.completions = d.u16("engagement.completions")
	g.progress = d.u16("engagement.progress")
	g.verb = d.u16("engagement.verb")
	g.kind = schema.Kind(d.byte1("engagement.kind"))
	g.flags = d.byte1("engagement.flags")
	if g.flags&^gHasProgress != 0 {
		d.fail("engagement.flags: unknown bits")
	}
	if g.progress > progressScale {
		d.fail("engagement.progress: above 1")
	}
}

// LoadLearner decodes a learner stored by MarshalBinary.
func (e *Engine) LoadLearner(key string, data []byte) (*Learner, error) {
	l := e.NewLearner(key)
	if err := l.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	if l.key != key {
		return nil, fmt.Errorf("%w: stored for another learner key", errCorrupt)
	}
	return l, nil
}

// UnmarshalBinary replaces the learner's state with the decoded one. The
// learner must come from Engine.NewLearner. Any input is safe: bad input
// returns an error wrapping "corrupt learner state" and leaves l unchanged;
// a state of a format version above codecVersion returns ErrNewerFormat
// (not corrupt: a newer release wrote it) and leaves l unchanged.
func (l *Learner) UnmarshalBinary(data []byte) error {
	e := l.eng
	if e == nil {
		return errors.New("engine: UnmarshalBinary on a learner not made by an Engine")
	}
	d := &decoder{b: data}
	if m := d.bytes(3, "header"); m == nil || m[0] != 'U' || m[1] != 'P' {
		return fmt.Errorf("%w: not a learner state", errCorrupt)
	} else if m[2] > codecVersion {
		return fmt.Errorf("%w: format version %d, this release reads up to %d", ErrNewerFormat, m[2], codecVersion)
	} else if m[2] != codecVersion && m[2] != 3 {
		return fmt.Errorf("%w: unknown version %d", errCorrupt, m[2])
	}
	version := data[2]
	n := e.NewLearner("")
	n.key = string(d.bytes(int(min(d.uvarint("key"), 1<<20)), "key"))
	partition := int32(d.varint("partition"))
	for range d.count(2, "offsets") {
		p := pos{partition: int32(d.varint("offset.partition")), offset: d.varint("offset")}
		if version >= 4 {
			p.index = d.i32("offset.index")
		}
		if d.err != nil {
			break
		}
		if p.offset < 0 || n.position(p.partition) != nil {
			d.fail("offsets: negative or partition listed twice")
			break
		}
		*n.addPosition(p.partition) = p
	}
	if version >= 4 {
		for range d.count(3, "origins") {
			p := pos{partition: int32(d.varint("origin.partition")), offset: d.varint("origin.offset"), index: d.i32("origin.index")}
			if d.err != nil {
				break
			}
			if p.offset < 0 || n.originPos(p.partition) != nil {
				d.fail("origins: negative or partition listed twice")
				break
			}
			x := n.more()
			x.origins = append(x.origins, p)
		}
	}
	n.partition = partition
	table := make([]string, d.count(1, "names"))
	for i := range table {
		table[i] = string(d.bytes(int(min(d.uvarint("name"), 1<<20)), "name"))
	}
	nameAt := func(what string) (string, bool) {
		i := d.uvarint(what)
		if d.err != nil || i >= uint64(len(table)) {
			d.fail(what + ": name index out of range")
			return "", false
		}
		return table[i], true
	}
	setIDs := []uint32{0}
	var names []string
	for range d.count(1, "sets") {
		names = names[:0]
		for range d.count(1, "set") {
			if s, ok := nameAt("set.skill"); ok {
				names = append(names, s)
			}
		}
		setIDs = append(setIDs, e.skillSet(names))
	}
	setAt := func(what string) uint32 {
		i := d.uvarint(what)
		if d.err != nil || i >= uint64(len(setIDs)) {
			d.fail(what + ": set index out of range")
			return 0
		}
		return setIDs[i]
	}
	itemState := func(st *itemState) {
		d.cell(&st.m)
		st.set = setAt("item.set")
		st.completedAt = d.secs("item.completed_at")
		st.feedbackAt = d.secs("item.feedback_at")
		st.rating = math.Float32frombits(d.u32("item.rating"))
		d.eng(&st.g)
	}
	for range d.count(8, "items") {
		var it item
		c, _ := nameAt("item.content")
		it.content = e.contentID(c)
		itemState(&it.st)
		manual := d.byte1("item.manual")
		it.reason = d.byte1("item.reason")
		if d.byte1("item.suppressed") == 1 {
			it.bits |= iSuppressed
		}
		if d.byte1("item.saved") == 1 {
			it.saved = n.epoch
		}
		mAt, mUntil := d.secs("item.manual_at"), d.secs("item.manual_until")
		it.since = d.secs("item.since")
		it.until = d.secs("item.until")
		it.mastered = d.secs("item.mastered")
		if d.byte1("item.barely") == 1 {
			it.bits |= iBarely
		}
		if manual > manualLift || it.reason >= numReasons {
			d.fail("item: manual or reason out of range")
		}
		n.items = append(n.items, it)
		switch manual {
		case manualSuppress:
			n.setManual(&n.items[len(n.items)-1], iManualSuppress, mAt, mUntil)
		case manualLift:
			n.setManual(&n.items[len(n.items)-1], iManualLift, mAt, mUntil)
		}
	}
	for range d.count(8, "skills") {
		var sc skillCell
		s, _ := nameAt("skill.id")
		sc.skill = e.skillID(s)
		d.cell(&sc.m)
		sc.bits = sDirty // not known published: handed out at the next Changes
		if d.byte1("skill.saved") == 1 {
			sc.saved = n.epoch
		}
		n.skills = append(n.skills, sc)
	}
	for range d.count(16, "window") {
		var en entry
		copy(en.id[:], d.bytes(16, "entry.id"))
		en.time = d.secs("entry.time")
		en.kind = schema.Kind(d.byte1("entry.kind"))
		en.flags = d.byte1("entry.flags")
		if c := d.uvarint("entry.content"); c > 0 {
			if c-1 >= uint64(len(table)) {
				d.fail("entry.content: name index out of range")
			} else {
				en.content = e.contentID(table[c-1])
				en.set = setAt("entry.set")
			}
		}
		en.scaled = math.Float32frombits(d.u32("entry.scaled"))
		en.dur = d.secs("entry.duration")
		en.progress = d.u16("entry.progress")
		if en.progress > progressScale {
			d.fail("entry.progress: above 1")
		}
		en.verb = d.u16("entry.verb")
		n.win = append(n.win, en)
	}
	n.split = d.short("split", len(n.win))
	for range d.count(8, "item checkpoints") {
		var ck ckItem
		c, _ := nameAt("checkpoint.content")
		ck.content = e.contentID(c)
		itemState(&ck.st)
		n.ckI = append(n.ckI, ck)
	}
	n.ckISplit = d.short("item checkpoint split", len(n.ckI))
	for range d.count(8, "skill checkpoints") {
		var ck ckSkill
		s, _ := nameAt("checkpoint.skill")
		ck.skill = e.skillID(s)
		d.cell(&ck.m)
		n.ckS = append(n.ckS, ck)
	}
	n.ckSSplit = d.short("skill checkpoint split", len(n.ckS))
	for range d.count(16, "pending voids") {
		var id schema.UUID
		copy(id[:], d.bytes(16, "pending void"))
		x := n.more()
		x.pendVoid = append(x.pendVoid, id)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return d.err
	}
	n.sortState()
	n.refilter()
	for i := 1; i < len(n.items); i++ {
		if n.items[i].content == n.items[i-1].content {
			return fmt.Errorf("%w: content listed twice", errCorrupt)
		}
	}
	for i := 1; i < len(n.skills); i++ {
		if n.skills[i].skill == n.skills[i-1].skill {
			return fmt.Errorf("%w: skill listed twice", errCorrupt)
		}
	}
	*l = *n
	return nil
}
