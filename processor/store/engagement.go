package store

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/unpair/unpair/processor/engagement"
	"github.com/unpair/unpair/schema"
)

// A pair's engagement is stored as one field of the learner's engagement
// hash (":e"), field = content id, value = 14 '|'-separated fields:
//
//	1|<first>|<last>|<started>|<completed>|<mastered>|<time_ms>|<launches>|<attempts>|<completions>|<progress>|<kind>|<verb>|<barely>
//
// "1" is the value format version; times are unix milliseconds (0 =
// never); time_ms the time spent in milliseconds; progress the furthest
// progress in [0, 1] as a decimal, empty when no statement reported one;
// kind the latest statement's kind (schema.Kind name: launch, attempt,
// completion, progress, experience, rating, dislike, other); verb its verb
// as a code into processor/engagement's verb table (0: not in the table;
// the table is append-only, engagement.VerbIRI resolves it); barely 1 when
// the sweep reported the pair barely touched since its latest activity.
// About 60-80 bytes a pair, absolute values only: a replay sets the same.
const engagementVersion = "1"

// Engagement is one learner-content pair's engagement as readers get it.
// Times are unix milliseconds; 0 means never.
type Engagement struct {
	Content       string   `json:"content"`
	FirstSeen     int64    `json:"first_seen"`             // earliest statement of any kind
	LastSeen      int64    `json:"last_seen"`              // latest statement of any kind
	StartedAt     int64    `json:"started_at,omitempty"`   // earliest launch, attempt, completion, progress or experience
	CompletedAt   int64    `json:"completed_at,omitempty"` // earliest completion
	MasteredAt    int64    `json:"mastered_at,omitempty"`  // suppressed as mastered since (as of the latest answer)
	TimeSpentMS   int64    `json:"time_spent_ms"`          // sum of result.duration, each capped at 24 h
	Launches      int64    `json:"launches"`
	Attempts      int64    `json:"attempts"` // attempts, scored completions included
	Completions   int64    `json:"completions"`
	Progress      *float64 `json:"progress,omitempty"`  // furthest progress in [0, 1]; absent when never reported
	LastKind      string   `json:"last_kind"`           // kind of the latest statement
	LastVerb      string   `json:"last_verb,omitempty"` // its verb IRI; empty when not in unpair's verb table
	BarelyTouched bool     `json:"barely_touched"`      // reported barely touched since the latest activity
}

func nsMs(ns int64) int64 {
	if ns == 0 {
		return 0
	}
	return max(ns/1e6, 1)
}

// EngagementOf returns the stored form of a pair's engagement.
func EngagementOf(content string, p *engagement.Pair, barely bool) Engagement {
	g := Engagement{
		Content:   content,
		FirstSeen: nsMs(p.FirstSeen), LastSeen: nsMs(p.LastSeen),
		StartedAt: nsMs(p.StartedAt), CompletedAt: nsMs(p.CompletedAt), MasteredAt: nsMs(p.MasteredAt),
		TimeSpentMS: p.TimeSpent / 1e6,
		Launches:    int64(p.Starts), Attempts: int64(p.Attempts), Completions: int64(p.Completions),
		LastKind: p.LastKind.String(), LastVerb: p.LastVerbIRI(),
		BarelyTouched: barely,
	}
	if p.HasProgress() {
		v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(p.Progress), 'g', -1, 32), 64)
		g.Progress = &v
	}
	return g
}

// EngagementField returns the engagement hash field of one pair, for
// LearnerWrite.Engagement.
func EngagementField(content string, p *engagement.Pair, barely bool) Field {
	g := EngagementOf(content, p, barely)
	return Field{Name: content, Value: EncodeEngagement(&g)}
}

// EncodeEngagement returns the stored value of g (not its content, the
// field name).
func EncodeEngagement(g *Engagement) string {
	b := make([]byte, 0, 96)
	b = append(b, engagementVersion...)
	for _, v := range [...]int64{g.FirstSeen, g.LastSeen, g.StartedAt, g.CompletedAt, g.MasteredAt,
		g.TimeSpentMS, g.Launches, g.Attempts, g.Completions} {
		b = append(b, '|')
		b = strconv.AppendInt(b, v, 10)
	}
	b = append(b, '|')
	if g.Progress != nil {
		b = strconv.AppendFloat(b, *g.Progress, 'g', -1, 64)
	}
	b = append(b, '|')
	b = append(b, g.LastKind...)
	b = append(b, '|')
	b = strconv.AppendUint(b, uint64(engagement.VerbCode(g.LastVerb)), 10)
	if g.BarelyTouched {
		b = append(b, "|1"...)
	} else {
		b = append(b, "|0"...)
	}
	return string(b)
}

// kindByName parses a schema.Kind name.
func kindByName(s string) (schema.Kind, bool) {
	for k := schema.Kind(0); k.String() != "unknown"; k++ {
		if k.String() == s {
			return k, true
		}
	}
	return 0, false
}

// DecodeEngagement parses a stored engagement value of a content. Any
// input is safe: a malformed value gives an error naming the field.
func DecodeEngagement(content, v string) (Engagement, error) {
	f := strings.Split(v, "|")
	if len(f) != 14 {
		return Engagement{}, fmt.Errorf("engagement of %q: %d fields, want 14", content, len(f))
	}
	if f[0] != engagementVersion {
		return Engagement{}, fmt.Errorf("engagement of %q: version %q is not supported (want %s)", content, f[0], engagementVersion)
	}
	g := Engagement{Content: content}
	names := [...]string{"first_seen", "last_seen", "started_at", "completed_at", "mastered_at", "time_spent_ms", "launches", "attempts", "completions"}
	for i, p := range [...]*int64{&g.FirstSeen, &g.LastSeen, &g.StartedAt, &g.CompletedAt, &g.MasteredAt,
		&g.TimeSpentMS, &g.Launches, &g.Attempts, &g.Completions} {
		n, err := strconv.ParseInt(f[1+i], 10, 64)
		if err != nil || n < 0 {
			return Engagement{}, fmt.Errorf("engagement of %q: %s %q must be a non-negative integer", content, names[i], f[1+i])
		}
		*p = n
	}
	if f[10] != "" {
		pr, err := strconv.ParseFloat(f[10], 64)
		if err != nil || math.IsNaN(pr) || pr < 0 || pr > 1 {
			return Engagement{}, fmt.Errorf("engagement of %q: progress %q must be a number in [0, 1]", content, f[10])
		}
		g.Progress = &pr
	}
	if _, ok := kindByName(f[11]); !ok {
		return Engagement{}, fmt.Errorf("engagement of %q: kind %q is not a statement kind", content, f[11])
	}
	g.LastKind = f[11]
	code, err := strconv.ParseUint(f[12], 10, 16)
	if err != nil {
		return Engagement{}, fmt.Errorf("engagement of %q: verb %q must be a verb code", content, f[12])
	}
	g.LastVerb = engagement.VerbIRI(uint16(code))
	switch f[13] {
	case "0":
	case "1":
		g.BarelyTouched = true
	default:
		return Engagement{}, fmt.Errorf("engagement of %q: barely %q must be 0 or 1", content, f[13])
	}
	return g, nil
}
