package schema

// Kind is the primary category of a piece of evidence, decided by the verb
// mapping (see VerbMap). The engine decides mastery from the result fields,
// not from the kind alone: a "passed" statement is KindCompletion with
// HasSuccess set, and counts as a scored attempt too.
type Kind uint8

const (
	// KindOther is evidence unpair records for engagement (last seen, last
	// verb) but that says nothing about mastery: logged-in, commented, ...
	KindOther Kind = iota
	// KindLaunch: launched, initialized, attempted-without-result, resumed,
	// started. Counts as a start for engagement.
	KindLaunch
	// KindAttempt: answered, attempted with a result, scored, failed,
	// evaluated, ... A scored attempt when HasSuccess or HasScore is set.
	KindAttempt
	// KindCompletion: completed, passed, mastered, satisfied, ... May carry
	// success and score too.
	KindCompletion
	// KindProgress: progressed; Progress holds the share done in [0, 1].
	KindProgress
	// KindExperience: experienced, viewed, read, watched, terminated,
	// suspended: time spent (Duration) without a judgement.
	KindExperience
	// KindRating: rated, reviewed, voted-up/down, liked; Scaled holds the
	// rating normalized to [0, 1] (raw 2 of 1..5 gives 0.25).
	KindRating
	// KindDislike: disliked, not-interested, voted-down: the learner said
	// "not for me". Suppresses regardless of mastery.
	KindDislike
	// KindVoid: the voided verb; Voids holds the voided statement id.
	KindVoid
	numKinds
)

var kindNames = [numKinds]string{"other", "launch", "attempt", "completion", "progress", "experience", "rating", "dislike", "void"}

// String returns the kind's lower-case name, as used in metrics and events.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "unknown"
}

// TimeSource says where Evidence.Time came from.
type TimeSource uint8

const (
	TimeFromTimestamp TimeSource = iota // the statement's timestamp
	TimeFromStored                      // the LRS's stored property
	TimeFromReceived                    // the receive time given to Normalize
)

// UUID is a statement id in binary form; compare these, not strings, since
// UUIDs are case-insensitive on input.
type UUID [16]byte

// Evidence is one normalized statement: everything the engine needs, and
// nothing that identifies the person. It is a value type; Skills and Notes
// are the only slices and are nil for most statements.
type Evidence struct {
	ID      UUID   // statement id
	Learner string // LearnerKey of the actor: 32 lower-case hex characters
	Content string // content key: the object's activity id (or a derived id in tolerant mode)
	Verb    string // verb IRI as sent
	Kind    Kind

	Time     int64 // unix nanoseconds: timestamp, else stored, else receive time
	TimeFrom TimeSource

	HasSuccess    bool
	Success       bool
	HasScore      bool
	Scaled        float64 // result.score.scaled, or (raw-min)/(max-min) when only raw/min/max are given; in [-1, 1]
	HasCompletion bool
	Completion    bool
	Duration      int64 // result.duration in nanoseconds, 0 when absent
	HasProgress   bool
	Progress      float64 // progress share in [0, 1]

	Voids UUID // KindVoid only: the id of the voided statement

	Skills []string // skill ids carried by the statement (context category activities, or the skills extension)
	Notes  []string // tolerant mode: the deviations accepted, e.g. "object.id: not an IRI"

	// Deviations is the set of deviation kinds behind Notes, for counting
	// by kind (see Deviation); zero for a statement that follows the spec.
	Deviations DeviationSet
}

// Scored reports whether e is a judged attempt that mastery models consume.
func (e *Evidence) Scored() bool {
	return (e.Kind == KindAttempt || e.Kind == KindCompletion) && (e.HasSuccess || e.HasScore)
}

// Correct reports whether a scored attempt counts as correct: result.success
// when present, else the scaled score against passMark.
func (e *Evidence) Correct(passMark float64) bool {
	if e.HasSuccess {
		return e.Success
	}
	return e.HasScore && e.Scaled >= passMark
}
