package engagement

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/unpair/unpair/schema"
)

// MaxStatementDuration caps the result.duration one statement may add to a
// pair's time spent: a tab left open for a week is not a week of study, and
// one absurd value must not dominate a content's time figures.
const MaxStatementDuration = 24 * time.Hour

// Pair flags.
const (
	flagHasProgress = 1 << iota // some statement reported progress
)

// FlagHasProgress is the Pair.Flags bit set once a statement reported
// progress, for code that rebuilds a Pair from another form (the engine
// keeps pairs in a compact form of its own).
const FlagHasProgress uint8 = flagHasProgress

// Pair is the engagement of one learner with one content item. It is a
// fixed-size value the engine keeps beside the mastery state of the pair and
// serializes with it (AppendBinary / DecodePair, PairSize bytes).
//
// Times are unix nanoseconds; 0 means "never". An event stamped exactly at
// the epoch is recorded as 1 ns after it, so 0 stays unambiguous.
type Pair struct {
	FirstSeen   int64 // earliest evidence of any kind
	LastSeen    int64 // latest evidence of any kind
	StartedAt   int64 // earliest launch, attempt, completion, progress or experience
	CompletedAt int64 // earliest completion; 0 = not completed
	MasteredAt  int64 // when the pair became suppressed as mastered; 0 = not (set by the engine)
	TimeSpent   int64 // sum of result.duration in nanoseconds (each capped at MaxStatementDuration)

	Starts      uint32 // launch events: launched, initialized, resumed, ...
	Attempts    uint32 // attempts, including scored completions (passed with a score)
	Completions uint32 // completion events

	Progress float32     // furthest progress share in [0, 1]
	LastVerb uint16      // VerbCode of the latest statement's verb (0: not in the table)
	LastKind schema.Kind // kind of the latest statement
	Flags    uint8
}

// PairSize is the length of a serialized Pair.
const PairSize = 1 + 6*8 + 3*4 + 4 + 2 + 1 + 1

const pairVersion = 1

// Started reports whether the learner did anything with the content beyond
// rating or commenting it.
func (p *Pair) Started() bool { return p.StartedAt != 0 }

// Completed reports whether the learner completed the content.
func (p *Pair) Completed() bool { return p.CompletedAt != 0 }

// Mastered reports whether the engine marked the pair as suppressed because
// the learner already masters it.
func (p *Pair) Mastered() bool { return p.MasteredAt != 0 }

// HasProgress reports whether any statement reported progress.
func (p *Pair) HasProgress() bool { return p.Flags&flagHasProgress != 0 }

// LastVerbIRI returns the IRI of the latest verb, "" when it was not in the
// verb table (LastKind still tells its meaning).
func (p *Pair) LastVerbIRI() string { return VerbIRI(p.LastVerb) }

func stamp(t int64) int64 {
	if t == 0 {
		return 1
	}
	return t
}

func addSat32(a uint32) uint32 {
	if a == math.MaxUint32 {
		return a
	}
	return a + 1
}

// engages reports whether a kind counts as starting the content.
func engages(k schema.Kind) bool {
	switch k {
	case schema.KindLaunch, schema.KindAttempt, schema.KindCompletion, schema.KindProgress, schema.KindExperience:
		return true
	}
	return false
}

// completes reports whether a statement completes the content: a completion
// verb unless result.completion says false, or result.completion true on any
// statement that engages with the content.
func completes(ev *schema.Evidence) bool {
	if ev.Kind == schema.KindCompletion {
		return !(ev.HasCompletion && !ev.Completion)
	}
	return engages(ev.Kind) && ev.HasCompletion && ev.Completion
}

// Apply folds one statement about this pair into it. It never fails: odd
// values (negative durations, progress outside [0, 1], NaN) are ignored or
// clamped. Voids are recorded as seen but do not undo counts (see doc.go).
func (p *Pair) Apply(ev *schema.Evidence) {
	t := stamp(ev.Time)
	if p.FirstSeen == 0 || t < p.FirstSeen {
		p.FirstSeen = t
	}
	if t >= p.LastSeen {
		p.LastSeen = t
		p.LastVerb = VerbCode(ev.Verb)
		p.LastKind = ev.Kind
	}
	switch ev.Kind {
	case schema.KindLaunch:
		p.Starts = addSat32(p.Starts)
	case schema.KindAttempt:
		p.Attempts = addSat32(p.Attempts)
	case schema.KindCompletion:
		if ev.Scored() {
			p.Attempts = addSat32(p.Attempts)
		}
	}
	if engages(ev.Kind) && (p.StartedAt == 0 || t < p.StartedAt) {
		p.StartedAt = t
	}
	if completes(ev) {
		p.Completions = addSat32(p.Completions)
		if p.CompletedAt == 0 || t < p.CompletedAt {
			p.CompletedAt = t
		}
	}
	if ev.HasProgress && !math.IsNaN(ev.Progress) {
		pr := float32(min(max(ev.Progress, 0), 1))
		if !p.HasProgress() || pr > p.Progress {
			p.Progress = pr
		}
		p.Flags |= flagHasProgress
	}
	if d := ev.Duration; d > 0 && engages(ev.Kind) {
		d = min(d, int64(MaxStatementDuration))
		if p.TimeSpent > math.MaxInt64-d {
			p.TimeSpent = math.MaxInt64
		} else {
			p.TimeSpent += d
		}
	}
}

// SetMastered marks the pair as suppressed because the learner masters the
// content, from time at (unix ns). The engine calls it when it publishes a
// suppression with reason decision.Mastered, and ClearMastered when that
// suppression ends; the per-content "already mastered" share counts these.
func (p *Pair) SetMastered(at int64) {
	if p.MasteredAt == 0 {
		p.MasteredAt = stamp(at)
	}
}

// ClearMastered removes the mark set by SetMastered.
func (p *Pair) ClearMastered() { p.MasteredAt = 0 }

// AppendBinary appends the PairSize-byte encoding of p to b. It never fails;
// the error is there to satisfy encoding.BinaryAppender.
func (p *Pair) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, pairVersion)
	for _, v := range [...]int64{p.FirstSeen, p.LastSeen, p.StartedAt, p.CompletedAt, p.MasteredAt, p.TimeSpent} {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	b = binary.LittleEndian.AppendUint32(b, p.Starts)
	b = binary.LittleEndian.AppendUint32(b, p.Attempts)
	b = binary.LittleEndian.AppendUint32(b, p.Completions)
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(p.Progress))
	b = binary.LittleEndian.AppendUint16(b, p.LastVerb)
	return append(b, byte(p.LastKind), p.Flags), nil
}

// MarshalBinary returns the encoding of p.
func (p *Pair) MarshalBinary() ([]byte, error) { return p.AppendBinary(make([]byte, 0, PairSize)) }

// UnmarshalBinary decodes exactly one Pair.
func (p *Pair) UnmarshalBinary(data []byte) error {
	q, n, err := DecodePair(data)
	if err != nil {
		return err
	}
	if n != len(data) {
		return fmt.Errorf("engagement pair: %d trailing bytes after the %d-byte encoding", len(data)-n, PairSize)
	}
	*p = q
	return nil
}

var errPairShort = errors.New("engagement pair: input shorter than the encoding")

// DecodePair decodes a Pair from the front of b and returns it with the
// number of bytes used, so the engine can embed pairs in a larger record.
// Any input is safe: short input, an unknown version or out-of-range values
// give an error, never a panic.
func DecodePair(b []byte) (Pair, int, error) {
	if len(b) < PairSize {
		return Pair{}, 0, fmt.Errorf("%w: have %d bytes, need %d", errPairShort, len(b), PairSize)
	}
	if b[0] != pairVersion {
		return Pair{}, 0, fmt.Errorf("engagement pair: version %d is not supported (want %d)", b[0], pairVersion)
	}
	var p Pair
	s := b[1:]
	for _, f := range [...]*int64{&p.FirstSeen, &p.LastSeen, &p.StartedAt, &p.CompletedAt, &p.MasteredAt, &p.TimeSpent} {
		*f = int64(binary.LittleEndian.Uint64(s))
		s = s[8:]
	}
	p.Starts = binary.LittleEndian.Uint32(s)
	p.Attempts = binary.LittleEndian.Uint32(s[4:])
	p.Completions = binary.LittleEndian.Uint32(s[8:])
	p.Progress = math.Float32frombits(binary.LittleEndian.Uint32(s[12:]))
	p.LastVerb = binary.LittleEndian.Uint16(s[16:])
	p.LastKind = schema.Kind(s[18])
	p.Flags = s[19]
	switch {
	case p.Progress != p.Progress || p.Progress < 0 || p.Progress > 1:
		return Pair{}, 0, fmt.Errorf("engagement pair: progress %v is outside [0, 1]", p.Progress)
	case p.TimeSpent < 0:
		return Pair{}, 0, fmt.Errorf("engagement pair: time spent %d is negative", p.TimeSpent)
	case p.Flags&^flagHasProgress != 0:
		return Pair{}, 0, fmt.Errorf("engagement pair: unknown flags %#x", p.Flags)
	}
	return p, PairSize, nil
}
