package schema

import (
	"strconv"
	"strings"
)

// Violation is one broken rule: the JSON path of the offending value
// ("result.score.scaled", "context.contextActivities.parent[0].id"; empty
// for the document itself) and the rule in words. In tolerant mode an
// accepted deviation is reported as a Violation with Deviation set; such a
// violation does not make the statement invalid.
type Violation struct {
	Path      string
	Rule      string
	Deviation Deviation // DevNone for a real violation
}

// String renders "path: rule" ("statement: rule" for the root).
func (v Violation) String() string {
	p := v.Path
	if p == "" {
		p = "statement"
	}
	return p + ": " + v.Rule
}

// Fatal reports whether v makes the statement invalid (it is not an
// accepted deviation).
func (v Violation) Fatal() bool { return v.Deviation == DevNone }

// Reason is the short, fixed cause of a rejection, meant for a dead-letter
// header and a metric label. Reasons() lists them all.
type Reason string

const (
	ReasonMalformed     Reason = "malformed_json"       // not JSON, or invalid UTF-8
	ReasonTooLarge      Reason = "too_large"            // more than Options.MaxBytes
	ReasonTooDeep       Reason = "too_deep"             // nested deeper than Options.MaxDepth
	ReasonInvalid       Reason = "invalid_statement"    // breaks the xAPI rules (see Violations)
	ReasonNoLearner     Reason = "no_learner"           // the actor identifies nobody
	ReasonAnonymousGrp  Reason = "anonymous_group"      // actor is a Group without an IFI
	ReasonNoContent     Reason = "no_content"           // no activity id to key the content by
	ReasonNotActivity   Reason = "object_not_activity"  // object is an Agent, Group, SubStatement or non-voiding StatementRef
	ReasonContradictory Reason = "contradictory_result" // e.g. verb passed with result.success false
	ReasonEmptyBatch    Reason = "empty_batch"          // an array with no statements
	ReasonIDTooLong     Reason = "id_too_long"          // object.id longer than Options.MaxActivityIDBytes, or a skill id longer than Options.MaxSkillIDBytes
	ReasonTooManySkills Reason = "too_many_skills"      // more distinct skill ids than Options.MaxSkills
)

// Reasons lists every Reason, for pre-declaring metric label values.
func Reasons() []Reason {
	return []Reason{ReasonMalformed, ReasonTooLarge, ReasonTooDeep, ReasonInvalid, ReasonNoLearner,
		ReasonAnonymousGrp, ReasonNoContent, ReasonNotActivity, ReasonContradictory, ReasonEmptyBatch,
		ReasonIDTooLong, ReasonTooManySkills}
}

// Error is a rejected statement. It carries every violation found (up to
// Options.MaxErrors; Omitted counts the rest) and a fixed Reason.
type Error struct {
	Reason     Reason
	Violations []Violation // fatal violations only
	Omitted    int
}

// Error returns the first violation and how many more there are, e.g.
// "invalid_statement: result.score.scaled: must be within [-1, 1], got 1.5 (and 1 more)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Reason))
	if len(e.Violations) > 0 {
		b.WriteString(": ")
		b.WriteString(e.Violations[0].String())
	}
	if more := len(e.Violations) - 1 + e.Omitted; more > 0 {
		b.WriteString(" (and ")
		b.WriteString(strconv.Itoa(more))
		b.WriteString(" more)")
	}
	return b.String()
}

// Detail joins all violations with "; ", for logs and the CLI.
func (e *Error) Detail() string {
	parts := make([]string, 0, len(e.Violations)+1)
	for _, v := range e.Violations {
		parts = append(parts, v.String())
	}
	if e.Omitted > 0 {
		parts = append(parts, strconv.Itoa(e.Omitted)+" more not shown")
	}
	return strings.Join(parts, "; ")
}

// Deviation is a kind of departure from the spec that tolerant mode accepts
// because the evidence stays unambiguous. The set is fixed so that the
// pipeline can count deviations by kind (String gives the label).
type Deviation uint8

const (
	DevNone                   Deviation = iota
	DevActivityIDNotIRI                 // an activity id that is not an IRI (bare UUID, "undefined?x=1"); used as is
	DevActivityMissingID                // a context activity without an id; ignored
	DevGroupActivity                    // objectType "GroupActivity" (Open edX); read as Activity
	DevAccountUnknownProperty           // an unknown property inside account (Marsha's mbox); ignored
	DevAccountMissingHomePage           // account with a name and no homePage (H5P without a server); keyed by name alone
	DevExtensionsOutsideDef             // extensions directly on an Activity instead of in its definition (H5P 2015)
	DevScoreMinEqualsMax                // score.min == score.max; raw is not turned into a scaled score
	DevUnknownProperty                  // a property the spec does not define; ignored
	DevScaledSymmetric                  // score.scaled given as 2(raw-min)/(max-min)-1 (Moodle); recomputed as (raw-min)/(max-min)
	DevDerivedID                        // no statement id: derived from the statement's bytes (not a spec deviation; counted)
	numDeviations
)

var deviationNames = [numDeviations]string{"none", "activity_id_not_iri", "activity_missing_id", "group_activity",
	"account_unknown_property", "account_missing_homepage", "extensions_outside_definition",
	"score_min_equals_max", "unknown_property", "scaled_symmetric", "derived_id"}

// String returns the deviation's label, e.g. "activity_id_not_iri".
func (d Deviation) String() string {
	if d < numDeviations {
		return deviationNames[d]
	}
	return "unknown"
}

// Deviations lists every deviation kind except DevNone.
func Deviations() []Deviation {
	out := make([]Deviation, 0, numDeviations-1)
	for d := DevNone + 1; d < numDeviations; d++ {
		out = append(out, d)
	}
	return out
}

// DeviationSet is a set of deviation kinds (a bit mask).
type DeviationSet uint32

// Has reports whether d is in the set.
func (s DeviationSet) Has(d Deviation) bool { return s&(1<<d) != 0 }

// Add returns the set with d added.
func (s DeviationSet) Add(d Deviation) DeviationSet { return s | 1<<d }

// List returns the kinds in the set in ascending order.
func (s DeviationSet) List() []Deviation {
	var out []Deviation
	for d := DevNone + 1; d < numDeviations; d++ {
		if s.Has(d) {
			out = append(out, d)
		}
	}
	return out
}
