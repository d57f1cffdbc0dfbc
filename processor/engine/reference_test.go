package engine

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/schema"
)

// appendBinaryReference is the map- and sort.Slice-based encoder the
// allocation-free AppendBinary replaced, kept to prove the bytes unchanged.
func (l *Learner) appendBinaryReference(b []byte) []byte {
	return l.appendBinaryReferenceVersion(b, codecVersion)
}

// appendBinaryReferenceVersion encodes in format version 3 (offsets
// without index, no origins) or 4.
func (l *Learner) appendBinaryReferenceVersion(b []byte, version byte) []byte {
	e := l.eng
	// Scratch tables live in the engine and are reused: marshalling runs
	// for every changed learner at every flush.
	names := map[uint32]uint64{} // content id or skill id|1<<31 -> index
	var table []string
	name := func(id uint32, skill bool) uint64 {
		k := id
		if skill {
			k |= 1 << 31
		}
		if i, ok := names[k]; ok {
			return i
		}
		i := uint64(len(table))
		names[k] = i
		if skill {
			table = append(table, e.skills[id].name)
		} else {
			table = append(table, e.contents[id].name)
		}
		return i
	}
	sets := map[uint32]uint64{0: 0}
	var setList []uint32
	setIdx := func(s uint32) uint64 {
		if i, ok := sets[s]; ok {
			return i
		}
		for _, sk := range e.sets[s] {
			name(sk, true)
		}
		setList = append(setList, s)
		i := uint64(len(setList))
		sets[s] = i
		return i
	}
	// First pass: collect names and sets in a canonical order (items and
	// skills by name), so equal states encode to equal bytes whatever the
	// engine-local ids.
	var items []int
	for i := range l.items {
		items = append(items, i)
	}
	sort.Slice(items, func(i, j int) bool {
		return e.contents[l.items[items[i]].content].name < e.contents[l.items[items[j]].content].name
	})
	skills := make([]int, len(l.skills))
	for i := range skills {
		skills[i] = i
	}
	sort.Slice(skills, func(i, j int) bool {
		return e.skills[l.skills[skills[i]].skill].name < e.skills[l.skills[skills[j]].skill].name
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

	b = append(b, 'U', 'P', version)
	b = appendString(b, l.key)
	b = binary.AppendVarint(b, int64(l.partition))
	offsets := l.Offsets()
	b = binary.AppendUvarint(b, uint64(len(offsets)))
	for _, o := range offsets {
		b = binary.AppendVarint(b, int64(o.Partition))
		b = binary.AppendVarint(b, o.Offset)
		if version >= 4 {
			b = binary.AppendVarint(b, int64(o.Index))
		}
	}
	if version >= 4 {
		origins := l.Origins()
		b = binary.AppendUvarint(b, uint64(len(origins)))
		for _, o := range origins {
			b = binary.AppendVarint(b, int64(o.Partition))
			b = binary.AppendVarint(b, o.Offset)
			b = binary.AppendVarint(b, int64(o.Index))
		}
	}
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
		b = appendItemState(b, &it.st, sets[it.st.set])
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
			b = binary.AppendUvarint(b, sets[en.set])
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
		b = appendItemState(b, &l.ckI[i].st, sets[l.ckI[i].st.set])
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
	return b
}

func dayRef(ms int64) string { return time.UnixMilli(ms).UTC().Format("2 Jan 2006") }

func pctRef(x float64) string { return strconv.Itoa(int(math.Round(x*100))) + "%" }

// answers says how many answers were correct, in words.
func answersRef(correct, attempts int) string {
	switch {
	case attempts == 1 && correct == 1:
		return "your only answer correct"
	case attempts == 1:
		return "your only answer wrong"
	case attempts == 2 && correct == 2:
		return "both your answers correct"
	case correct == attempts:
		return fmt.Sprintf("all %d of your answers correct", attempts)
	case correct == 0:
		return fmt.Sprintf("none of your %d answers correct", attempts)
	}
	return fmt.Sprintf("%d of your %d answers correct", correct, attempts)
}

// explainReference is the fmt-based explanation the append-based one
// replaced, kept to prove the sentences unchanged.
func (e *Engine) explainReference(it *item, d *decision.Decision, mv view) string {
	ev := &d.Evidence
	ans := answersRef(ev.Correct, ev.Attempts)
	weakest := ""
	if mv.skills > 1 {
		weakest = fmt.Sprintf(" on the weakest of its %d skills", mv.skills)
	}
	var estimate string
	switch mv.model {
	case ModelStreak:
		estimate = fmt.Sprintf("%d correct in a row%s (%s)", ev.Streak, weakest, ans)
	case ModelEWMA:
		estimate = fmt.Sprintf("recent accuracy %s%s, after %s", pctRef(mv.est), weakest, ans)
	case ModelElo:
		estimate = fmt.Sprintf("%s chance you'd answer this right%s, after %s", pctRef(mv.est), weakest, ans)
	default:
		estimate = fmt.Sprintf("%s sure you know it%s, after %s", pctRef(mv.est), weakest, ans)
	}
	switch it.reason {
	case rMastered:
		return fmt.Sprintf("Mastered: %s; review due %s.", estimate, dayRef(d.Until))
	case rCompleted:
		return fmt.Sprintf("Completed successfully on %s; review due %s.", dayRef(ms(it.st.completedAt)), dayRef(d.Until))
	case rFeedback:
		if it.st.rating < 0 {
			return fmt.Sprintf("Hidden because you said it is not for you on %s; it comes back on %s.", dayRef(ms(it.st.feedbackAt)), dayRef(d.Until))
		}
		return fmt.Sprintf("Hidden because you rated it %d of 5 on %s; it comes back on %s.",
			int(math.Round(1+4*float64(it.st.rating))), dayRef(ms(it.st.feedbackAt)), dayRef(d.Until))
	case rManual:
		if d.Until != 0 {
			return fmt.Sprintf("Hidden by your instructor until %s.", dayRef(d.Until))
		}
		return "Hidden by your instructor."
	case rWrongAnswer:
		return fmt.Sprintf("Back for practice: your latest answer was wrong (%s).", estimate)
	case rReviewDue:
		return fmt.Sprintf("Back for review: last practised %s, and memory fades (%s).", dayRef(ms(mv.last)), estimate)
	case rVoided:
		return fmt.Sprintf("Back: some of the evidence behind hiding it was withdrawn (%s).", estimate)
	case rExpired:
		return "Back: the time it was hidden for has run out."
	case rOverride:
		return "Shown again by your instructor."
	}
	if ev.Attempts == 0 {
		return "No answers yet."
	}
	if mv.mastered {
		return fmt.Sprintf("Mastered earlier: %s; kept visible since then.", estimate)
	}
	return fmt.Sprintf("Not mastered yet: %s.", estimate)
}
