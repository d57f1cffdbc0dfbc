package store

import (
	"errors"
	"fmt"
	"strings"
)

// Version is the key schema version carried in every key. A change of the
// layout or of the value format gets a new version, so old and new readers
// can run side by side during a migration.
const Version = "v1"

// DefaultPrefix is the first component of every key unless Options.Prefix
// says otherwise.
const DefaultPrefix = "unpair"

// MaxLearnerKeyLen bounds a learner key; schema.LearnerKeyer produces 32.
const MaxLearnerKeyLen = 128

// Schema builds the keys of the v1 layout for one prefix. The zero value is
// not usable; use NewSchema.
type Schema struct {
	prefix string // "<prefix>:v1:{"
}

// NewSchema returns the schema for prefix ("" means DefaultPrefix). A prefix
// may not hold '{' or '}' (they would move the cluster hash tag) nor spaces.
func NewSchema(prefix string) (Schema, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if strings.ContainsAny(prefix, "{} \t\r\n") {
		return Schema{}, fmt.Errorf("prefix %q: must not contain braces or whitespace", prefix)
	}
	return Schema{prefix: prefix + ":" + Version + ":{"}, nil
}

// Prefix returns the prefix the schema was built with.
func (s Schema) Prefix() string {
	return strings.TrimSuffix(s.prefix, ":"+Version+":{")
}

// Key suffixes of the v1 layout. Every key of a learner is
// "<prefix>:v1:{<learnerKey>}:<suffix>".
const (
	SuffixDecisions  = "d" // hash: content id -> encoded decision (see EncodeDecision)
	SuffixState      = "s" // string: the engine's opaque resume state
	SuffixOffsets    = "o" // hash: source partition -> last applied offset
	SuffixEngagement = "e" // hash: engagement fields written by the engine
	SuffixSkills     = "k" // hash: skill name -> mastery.AppendSkill encoding
)

// Keys are the Redis keys of one learner; all share the {learnerKey} hash
// tag and so one cluster slot.
type Keys struct {
	Decisions  string
	State      string
	Offsets    string
	Engagement string
	Skills     string
}

// All returns every key of the learner, in the order the write script takes
// them (KEYS[1..5]).
func (k Keys) All() []string {
	return []string{k.Decisions, k.State, k.Offsets, k.Engagement, k.Skills}
}

// Keys returns the keys of a learner. It does not validate the learner key;
// call ValidateLearnerKey first for keys from outside.
func (s Schema) Keys(learner string) Keys {
	base := s.prefix + learner + "}:"
	return Keys{
		Decisions:  base + SuffixDecisions,
		State:      base + SuffixState,
		Offsets:    base + SuffixOffsets,
		Engagement: base + SuffixEngagement,
		Skills:     base + SuffixSkills,
	}
}

// DecisionsKey returns only the decisions hash key, the one readers need.
func (s Schema) DecisionsKey(learner string) string {
	return s.prefix + learner + "}:" + SuffixDecisions
}

var errLearnerEmpty = errors.New("learner key: required")

// ValidateLearnerKey checks that learner looks like a learner key: 1 to
// MaxLearnerKeyLen characters of [0-9A-Za-z_-]. The rule keeps raw
// identifiers out of keys (no '@', ':', '.', '|', '/') and keeps the hash tag
// intact (no braces). schema.LearnerKeyer always produces 32 lower-case hex.
func ValidateLearnerKey(learner string) error {
	if learner == "" {
		return errLearnerEmpty
	}
	if len(learner) > MaxLearnerKeyLen {
		return fmt.Errorf("learner key: %d bytes, must be at most %d", len(learner), MaxLearnerKeyLen)
	}
	for i := 0; i < len(learner); i++ {
		c := learner[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-') {
			// The key itself is not echoed: a rejected key may be a raw identity.
			return fmt.Errorf("learner key: byte %d (%q) is not allowed; a learner key holds only [0-9A-Za-z_-] (derive it with schema.LearnerKeyer)", i, c)
		}
	}
	return nil
}
