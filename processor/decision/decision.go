// Package decision holds what unpair publishes for one learner-content pair:
// the Decision stored in Redis and read by clients, and the Event announced
// on the decisions topic when a decision changes. It is the contract between
// the engine (which makes decisions), the store and the query client.
package decision

// Reason says why a pair is suppressed, or why it stopped being.
type Reason string

const (
	// Suppression reasons.
	Mastered  Reason = "mastered"  // the mastery model says the learner knows it
	Completed Reason = "completed" // completed with success
	Feedback  Reason = "feedback"  // low rating or dislike: "not for me"
	Manual    Reason = "manual"    // an operator's override

	// Reasons a suppression ended.
	WrongAnswer Reason = "wrong_answer" // a wrong answer on a suppressed skill
	ReviewDue   Reason = "review_due"   // forgetting makes a review worth it
	Voided      Reason = "voided"       // the evidence behind it was voided
	Expired     Reason = "expired"      // a feedback suppression's time-to-live ran out
	Override    Reason = "override"     // an operator lifted it
)

// Decision is the published state of one learner-content pair. Times are
// unix milliseconds; zero means unset. It holds no personal data: the learner
// appears only as its key, in the Redis key or the event.
type Decision struct {
	Content     string   `json:"content"`
	Suppressed  bool     `json:"suppressed"`
	Reason      Reason   `json:"reason"`
	Explanation string   `json:"explanation"` // a sentence the learner can read
	Since       int64    `json:"since"`       // when the current state began
	Until       int64    `json:"until"`       // review due or TTL end; 0 = no end
	Evidence    Evidence `json:"evidence"`
}

// Evidence is what a decision rests on.
type Evidence struct {
	Attempts     int      `json:"attempts"`
	Correct      int      `json:"correct"`
	PKnown       float64  `json:"p_known,omitempty"` // model estimate, when a model decided
	Streak       int      `json:"streak,omitempty"`
	Model        string   `json:"model,omitempty"` // bkt, streak, ewma, elo
	Skills       []string `json:"skills,omitempty"`
	LastPractice int64    `json:"last_practice,omitempty"`
	Rating       float64  `json:"rating,omitempty"` // scaled [0,1], feedback only
}

// EventKind names a decision event.
type EventKind string

const (
	EventSuppressed    EventKind = "suppressed"
	EventUnsuppressed  EventKind = "unsuppressed"
	EventBarelyTouched EventKind = "barely_touched"
	EventForgotten     EventKind = "forgotten" // all data about a learner erased
)

// Event is one message on the decisions topic, keyed by learner key. ID is
// deterministic (learner, content, source partition and offset), so a
// consumer can drop the duplicates an at-least-once producer may send.
type Event struct {
	ID       string    `json:"id"`
	Kind     EventKind `json:"kind"`
	Learner  string    `json:"learner"` // learner key, never the raw identity
	At       int64     `json:"at"`      // unix ms of the evidence that caused it
	Decision Decision  `json:"decision"`
}
