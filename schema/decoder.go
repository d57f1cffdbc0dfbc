package schema

import (
	"bytes"
	"crypto/sha1"
	"math"
	"strings"
	"sync"
	"time"
)

// Mode selects how strictly statements are judged.
type Mode uint8

const (
	// Tolerant (the zero value, the default for ingestion) accepts the
	// deviations listed by Deviations() and records them in Evidence.Notes
	// and Evidence.Deviations; it rejects what cannot be interpreted.
	Tolerant Mode = iota
	// Strict applies the xAPI spec as the shared test vectors decide.
	Strict
)

func (m Mode) String() string {
	if m == Strict {
		return "strict"
	}
	return "tolerant"
}

// SpecVersion selects the xAPI version whose rules apply.
type SpecVersion uint8

const (
	// SpecAuto (default): a statement with version 1.0.x is judged by
	// 1.0.3, one with 2.0.x by 2.0; without a version property, whatever
	// either version allows is accepted.
	SpecAuto SpecVersion = iota
	// Spec103 judges every statement by xAPI 1.0.3 (version 2.0.0 rejected).
	Spec103
	// Spec200 judges every statement by xAPI 2.0 (IEEE 9274.1.1).
	Spec200
)

// Defaults for Options.
const (
	DefaultMaxBytes  = 1 << 20
	DefaultMaxDepth  = 32
	DefaultMaxErrors = 20
	// DefaultMaxActivityIDBytes bounds the content key (object.id): IRIs
	// rarely exceed 2 KB (browsers and servers commonly cap URLs near it).
	DefaultMaxActivityIDBytes = 2048
	// DefaultMaxSkills bounds the distinct skill ids of one statement.
	DefaultMaxSkills = 32
	// DefaultMaxSkillIDBytes bounds each skill id.
	DefaultMaxSkillIDBytes = 256
)

// DefaultSkipCategories are context category ids (prefixes) that mark a
// profile or a platform rather than a skill: cmi5, SCORM, video, LMS
// markers under w3id.org/xapi, and H5P content-type libraries.
var DefaultSkipCategories = []string{"https://w3id.org/xapi/", "http://h5p.org/libraries/"}

// Options configure a Decoder. The zero value is usable: tolerant mode,
// automatic version, default limits, default verbs, an empty-secret keyer.
type Options struct {
	Mode      Mode
	Spec      SpecVersion
	MaxBytes  int // largest document accepted; default DefaultMaxBytes
	MaxDepth  int // deepest nesting of objects and arrays; default DefaultMaxDepth
	MaxErrors int // violations kept per statement; default DefaultMaxErrors
	// Resource limits of Normalize, applied in both modes (the engine keeps
	// content and skill ids for good, so a producer sending huge or
	// endless distinct ids must not grow it without bound); <= 0 means the
	// default. Validate does not apply them.
	MaxActivityIDBytes int           // longest content key (object.id); default DefaultMaxActivityIDBytes
	MaxSkills          int           // most distinct skill ids per statement; default DefaultMaxSkills
	MaxSkillIDBytes    int           // longest skill id; default DefaultMaxSkillIDBytes
	Keyer              *LearnerKeyer // learner keys; nil uses the empty secret (tests only)
	Verbs              VerbMap       // verb IRI -> Kind; nil uses DefaultVerbs()
	// SkipCategories lists prefixes of context category ids that are not
	// skills; nil uses DefaultSkipCategories, an empty non-nil slice skips none.
	SkipCategories []string
}

// Decoder validates and normalizes xAPI statements. It is safe for
// concurrent use: its configuration is read-only and per-call scratch
// buffers come from a sync.Pool.
type Decoder struct {
	opt   Options
	verbs map[string]verbEntry
	pool  sync.Pool
}

type verbEntry struct {
	iri  string
	kind Kind
}

type scratch struct {
	p   jparser
	v   validator
	mac *keyMAC
}

// NewDecoder returns a decoder for opt, with defaults filled in.
func NewDecoder(opt Options) *Decoder {
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = DefaultMaxBytes
	}
	if opt.MaxDepth <= 0 {
		opt.MaxDepth = DefaultMaxDepth
	}
	if opt.MaxErrors <= 0 {
		opt.MaxErrors = DefaultMaxErrors
	}
	if opt.MaxActivityIDBytes <= 0 {
		opt.MaxActivityIDBytes = DefaultMaxActivityIDBytes
	}
	if opt.MaxSkills <= 0 {
		opt.MaxSkills = DefaultMaxSkills
	}
	if opt.MaxSkillIDBytes <= 0 {
		opt.MaxSkillIDBytes = DefaultMaxSkillIDBytes
	}
	if opt.Keyer == nil {
		opt.Keyer = &LearnerKeyer{}
	}
	if opt.Verbs == nil {
		opt.Verbs = defaultVerbs
	}
	if opt.SkipCategories == nil {
		opt.SkipCategories = DefaultSkipCategories
	}
	d := &Decoder{opt: opt, verbs: make(map[string]verbEntry, len(opt.Verbs))}
	for iri, k := range opt.Verbs {
		d.verbs[iri] = verbEntry{iri: iri, kind: k}
	}
	secret := opt.Keyer.secret
	d.pool.New = func() any {
		return &scratch{mac: newKeyMAC(secret)}
	}
	return d
}

// Options returns the decoder's options with defaults filled in.
func (d *Decoder) Options() Options { return d.opt }

func (d *Decoder) get() *scratch  { return d.pool.Get().(*scratch) }
func (d *Decoder) put(s *scratch) { d.pool.Put(s) }
func docError(r Reason, rule string) *Error {
	return &Error{Reason: r, Violations: []Violation{{Rule: rule}}}
}

// parse parses raw into s.p and returns the root, or an *Error.
func (d *Decoder) parse(s *scratch, raw []byte) (int32, *Error) {
	if len(raw) > d.opt.MaxBytes {
		return -1, docError(ReasonTooLarge, "document of "+itoa(len(raw))+" bytes exceeds the limit of "+itoa(d.opt.MaxBytes))
	}
	root := s.p.parse(raw, d.opt.MaxDepth)
	if root < 0 {
		return -1, docError(s.p.err.reason, "invalid JSON at "+s.p.err.Error())
	}
	return root, nil
}

// Normalize validates one statement and turns it into Evidence. raw must
// hold one statement (an array holding exactly one is accepted too); use
// NormalizeAll for batches. received is the time used when the statement
// has neither timestamp nor stored. A rejection is an *Error.
func (d *Decoder) Normalize(raw []byte, received time.Time) (Evidence, error) {
	s := d.get()
	defer d.put(s)
	root, perr := d.parse(s, raw)
	if perr != nil {
		return Evidence{}, perr
	}
	if s.p.nodes[root].kind == jArray {
		es := s.p.arrElems(root)
		if len(es) != 1 {
			return Evidence{}, docError(ReasonInvalid, "expected one statement, got an array of "+itoa(len(es)))
		}
		root = es[0]
	}
	ev, err := d.normalize(s, raw, root, received)
	if err != nil {
		return Evidence{}, err
	}
	return ev, nil
}

// NormalizeAll normalizes a document holding one statement or an array of
// statements and calls fn for each with its index (0 for a single
// statement). Statements of an array are judged one by one, so one bad
// statement does not drop the others (unlike the LRS batch rule). A
// document that cannot be parsed gives a single call with index -1.
func (d *Decoder) NormalizeAll(raw []byte, received time.Time, fn func(i int, e Evidence, err error)) {
	s := d.get()
	defer d.put(s)
	root, perr := d.parse(s, raw)
	if perr != nil {
		fn(-1, Evidence{}, perr)
		return
	}
	if s.p.nodes[root].kind != jArray {
		ev, err := d.normalize(s, raw, root, received)
		if err != nil {
			fn(0, Evidence{}, err)
		} else {
			fn(0, ev, nil)
		}
		return
	}
	es := s.p.arrElems(root)
	if len(es) == 0 {
		fn(-1, Evidence{}, docError(ReasonEmptyBatch, "an empty array holds no statements"))
		return
	}
	for i, e := range es {
		ev, err := d.normalize(s, raw, e, received)
		if err != nil {
			fn(i, Evidence{}, err)
		} else {
			fn(i, ev, nil)
		}
	}
}

// Validate checks a document (one statement or an array) against the spec
// in the decoder's mode and returns every violation, fatal ones and, in
// tolerant mode, the accepted deviations (Violation.Fatal tells them
// apart). Paths inside an array start with the index: "[2].verb.id".
// Validate does not apply the ingestion checks of Normalize (a learner
// key, a content key). Nil means valid with no deviation.
func (d *Decoder) Validate(raw []byte) []Violation {
	s := d.get()
	defer d.put(s)
	root, perr := d.parse(s, raw)
	if perr != nil {
		return perr.Violations
	}
	if s.p.nodes[root].kind != jArray {
		d.check(s, root, -1)
		return append([]Violation(nil), s.v.viols...)
	}
	var out []Violation
	es := s.p.arrElems(root)
	ids := make(map[UUID]int, len(es))
	for i, e := range es {
		d.check(s, e, i)
		out = append(out, s.v.viols...)
		if s.v.f.hasID {
			if j, dup := ids[s.v.f.id]; dup {
				out = append(out, Violation{Path: "[" + itoa(i) + "].id",
					Rule: "duplicates the id of statement [" + itoa(j) + "]: ids in a batch must be distinct"})
			} else {
				ids[s.v.f.id] = i
			}
		}
	}
	return out
}

// check runs the validator on node root; idx >= 0 prefixes paths with [idx].
func (d *Decoder) check(s *scratch, root int32, idx int) {
	v := &s.v
	v.reset(&s.p, d.opt.Mode == Tolerant, d.opt.MaxErrors)
	if idx >= 0 {
		v.pushIdx(idx)
	}
	v.setVersion(root, d.opt.Spec)
	v.statement(root, false)
}

func (d *Decoder) normalize(s *scratch, raw []byte, root int32, received time.Time) (Evidence, error) {
	d.check(s, root, -1)
	v := &s.v
	f := &v.f
	if v.fatal > 0 {
		e := &Error{Reason: ReasonInvalid, Omitted: v.omitted}
		for _, x := range v.viols {
			if x.Fatal() {
				e.Violations = append(e.Violations, x)
			}
		}
		if v.fatal == 1 && f.obj == objActivity && f.objID == nil && len(e.Violations) == 1 && e.Violations[0].Path == "object.id" && e.Violations[0].Rule == "required" {
			e.Reason = ReasonNoContent
		}
		return Evidence{}, e
	}
	var ev Evidence
	reject := func(r Reason, path, rule string) (Evidence, error) {
		return Evidence{}, &Error{Reason: r, Violations: []Violation{{Path: path, Rule: rule}}}
	}
	// learner
	if f.learner.kind == ifiNone {
		if f.actorIsAnon {
			return reject(ReasonAnonymousGrp, "actor", "an anonymous Group has no identifier: the statement cannot be attributed to one learner")
		}
		return reject(ReasonNoLearner, "actor", "no usable identifier")
	}
	ev.Learner = d.learnerKey(s, f.learner)
	// verb and kind
	if e, ok := d.verbs[bstr(f.verb)]; ok {
		ev.Verb, ev.Kind = e.iri, e.kind
	} else {
		ev.Verb, ev.Kind = string(f.verb), KindOther
	}
	verb := ev.Verb
	// object
	switch {
	case verb == VerbVoided:
		ev.Kind = KindVoid
		ev.Voids = f.objRefID
	case f.obj != objActivity:
		return reject(ReasonNotActivity, "object", "is "+objName(f.obj)+"; only statements about an Activity carry evidence")
	case len(f.objID) == 0:
		return reject(ReasonNoContent, "object.id", "required: no content key can be derived")
	case len(f.objID) > d.opt.MaxActivityIDBytes:
		return reject(ReasonIDTooLong, "object.id", "an activity id of "+itoa(len(f.objID))+" bytes exceeds the limit of "+itoa(d.opt.MaxActivityIDBytes)+" bytes")
	default:
		ev.Content = string(f.objID)
	}
	// result
	if f.hasSuccess {
		if verb == VerbPassed && !f.success || verb == VerbFailed && f.success {
			return reject(ReasonContradictory, "result.success", "contradicts the verb "+verb)
		}
		ev.HasSuccess, ev.Success = true, f.success
	}
	if f.hasCompletion {
		if verb == VerbCompleted && !f.completion {
			return reject(ReasonContradictory, "result.completion", "false contradicts the verb "+verb)
		}
		ev.HasCompletion, ev.Completion = true, f.completion
	}
	ev.Duration = f.duration
	devs := v.devs
	linear, hasLinear := 0.0, f.hasRaw && f.hasMin && f.hasMax && f.max > f.min
	if hasLinear {
		linear = linearScore(f.raw, f.min, f.max)
	}
	switch {
	case ev.Kind == KindRating:
		switch {
		case hasLinear:
			ev.HasScore, ev.Scaled = true, linear
		case f.hasScaled:
			ev.HasScore, ev.Scaled = true, clamp01(f.scaled)
		}
	case f.hasScaled:
		ev.HasScore, ev.Scaled = true, f.scaled
		if hasLinear && math.Abs(f.scaled-linear) > 1e-9 && math.Abs(f.scaled-(2*linear-1)) < 1e-9 {
			ev.Scaled = linear
			devs = devs.Add(DevScaledSymmetric)
			ev.Notes = append(ev.Notes, "result.score.scaled: "+ftoa(f.scaled)+" is 2(raw-min)/(max-min)-1; used (raw-min)/(max-min) = "+ftoa(linear))
		}
	case hasLinear:
		ev.HasScore, ev.Scaled = true, linear
	}
	switch {
	case verb == VerbProgressed && f.hasScaled:
		ev.HasProgress, ev.Progress = true, clamp01(f.scaled)
	case f.hasProgExt && f.progExt >= 0 && f.progExt <= 100:
		ev.HasProgress, ev.Progress = true, f.progExt/100
	}
	if ev.Kind == KindAttempt && verb == VerbAttempted && !f.hasResult {
		ev.Kind = KindLaunch
	}
	// id and time
	if f.hasID {
		ev.ID = f.id
	} else {
		n := &s.p.nodes[root]
		ev.ID = derivedID(raw[n.start:n.end])
		devs = devs.Add(DevDerivedID)
		ev.Notes = append(ev.Notes, "id: absent; derived from a SHA-1 of the statement's bytes")
	}
	switch {
	case f.hasTimestamp:
		ev.Time, ev.TimeFrom = f.timestamp, TimeFromTimestamp
	case f.hasStored:
		ev.Time, ev.TimeFrom = f.stored, TimeFromStored
	default:
		ev.Time, ev.TimeFrom = received.UnixNano(), TimeFromReceived
	}
	if !finite(ev.Scaled) || !finite(ev.Progress) { // not reachable from JSON numbers; a guard for the engine
		return reject(ReasonInvalid, "result.score", "does not give a finite score")
	}
	skills, serr := d.skills(s)
	if serr != nil {
		return Evidence{}, serr
	}
	ev.Skills = skills
	for _, x := range v.viols {
		if !x.Fatal() {
			ev.Notes = append(ev.Notes, x.String())
		}
	}
	ev.Deviations = devs
	return ev, nil
}

func objName(k objKind) string {
	switch k {
	case objAgent:
		return "an Agent"
	case objGroup:
		return "a Group"
	case objStatementRef:
		return "a StatementRef"
	case objSubStatement:
		return "a SubStatement"
	}
	return "not an Activity"
}

func clamp01(f float64) float64 { return math.Max(0, math.Min(1, f)) }

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// linearScore is (raw-min)/(max-min) for min < max and raw in [min, max],
// in [0, 1]. When max-min overflows (a range wider than the largest
// float64, e.g. -1e308..1e308) the halves are used, which cannot overflow;
// the result is clamped against rounding, so it is never NaN or Inf.
func linearScore(raw, lo, hi float64) float64 {
	r := (raw - lo) / (hi - lo)
	if math.IsInf(hi-lo, 0) || math.IsInf(raw-lo, 0) {
		r = (raw/2 - lo/2) / (hi/2 - lo/2)
	}
	if math.IsNaN(r) {
		return 0
	}
	return clamp01(r)
}

// learnerKey derives the learner key from the actor's IFI, using the same
// canonical forms as CanonicalIFI and the same HMAC as LearnerKeyer.Key.
func (d *Decoder) learnerKey(s *scratch, id ifi) string { return s.mac.ifiKey(id) }

// derivedID is a name-based (version 5 layout) UUID of the statement bytes.
func derivedID(b []byte) UUID {
	sum := sha1.Sum(b)
	var u UUID
	copy(u[:], sum[:16])
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return u
}

// skills collects skill ids: context category activity ids that are not
// profile markers, and the strings of the skills extension, each once, in
// order. It enforces Options.MaxSkillIDBytes and Options.MaxSkills. The
// distinct ids are kept as string nodes (f.skillIDs) and compared pairwise
// while there are few, else through the validator's dupIndex (free once
// validation is done), so a statement of many skills costs linear time.
func (d *Decoder) skills(s *scratch) ([]string, *Error) {
	f := &s.v.f
	f.skillIDs = f.skillIDs[:0]
	for c, cat := range f.categories {
		id := int32(-1)
		skip := false
		for _, m := range s.p.objMembers(cat) {
			switch string(s.p.key(m)) {
			case "id":
				if s.p.nodes[m.val].kind == jString {
					id = m.val
				}
			case "definition":
				if s.p.nodes[m.val].kind == jObject {
					for _, dm := range s.p.objMembers(m.val) {
						if string(s.p.key(dm)) == "type" && string(s.p.str(dm.val)) == "http://id.tincanapi.com/activitytype/lms" {
							skip = true
						}
					}
				}
			}
		}
		if id < 0 || skip {
			continue
		}
		for _, p := range d.opt.SkipCategories {
			if strings.HasPrefix(bstr(s.p.str(id)), p) {
				skip = true
			}
		}
		if skip {
			continue
		}
		if err := d.addSkill(s, id, func() string {
			if k := f.catIdx[c]; k >= 0 {
				return "context.contextActivities.category[" + itoa(int(k)) + "].id"
			}
			return "context.contextActivities.category.id"
		}); err != nil {
			return nil, err
		}
	}
	if f.skillsExt >= 0 && s.p.nodes[f.skillsExt].kind == jArray {
		for k, e := range s.p.arrElems(f.skillsExt) {
			if s.p.nodes[e].kind != jString {
				continue
			}
			if err := d.addSkill(s, e, func() string {
				return "object.definition.extensions." + ExtSkills + "[" + itoa(k) + "]"
			}); err != nil {
				return nil, err
			}
		}
	}
	if len(f.skillIDs) == 0 {
		return nil, nil
	}
	out := make([]string, len(f.skillIDs))
	for i, id := range f.skillIDs {
		out[i] = string(s.p.str(id))
	}
	return out, nil
}

// addSkill adds string node id to f.skillIDs unless it is empty or already
// there; path names it in an error (called only then).
func (d *Decoder) addSkill(s *scratch, id int32, path func() string) *Error {
	f := &s.v.f
	nd := &s.p.nodes[id]
	if nd.n == 0 {
		return nil
	}
	if int(nd.n) > d.opt.MaxSkillIDBytes {
		return &Error{Reason: ReasonIDTooLong, Violations: []Violation{{Path: path(),
			Rule: "a skill id of " + itoa(int(nd.n)) + " bytes exceeds the limit of " + itoa(d.opt.MaxSkillIDBytes) + " bytes"}}}
	}
	ids := f.skillIDs
	if len(ids) <= smallDup {
		b := s.p.span(nd.lo, nd.n)
		for _, x := range ids {
			if bytes.Equal(s.p.str(x), b) {
				return nil
			}
		}
		if len(ids) == smallDup { // switching to the index: enter the ids so far
			s.v.ids.reset(2 * smallDup)
			for _, x := range ids {
				xn := &s.p.nodes[x]
				s.v.ids.seen(&s.p, xn.lo, xn.n, true)
			}
		}
	}
	if len(ids) >= smallDup && s.v.ids.seen(&s.p, nd.lo, nd.n, true) {
		return nil
	}
	if len(ids) >= d.opt.MaxSkills {
		return &Error{Reason: ReasonTooManySkills, Violations: []Violation{{Path: path(),
			Rule: "more than " + itoa(d.opt.MaxSkills) + " distinct skill ids (category activities and the skills extension together)"}}}
	}
	f.skillIDs = append(ids, id)
	return nil
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
