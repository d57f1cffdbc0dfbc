package schema

import (
	"bytes"
	"fmt"
	"strconv"
)

// validator walks one parsed statement, checks every rule of the xAPI data
// model, and gathers the facts the normalizer needs (facts), in one pass.
// Paths are built in a byte buffer and turned into strings only when a
// violation is recorded, so a valid statement costs no allocation here.
type validator struct {
	p        *jparser
	tolerant bool
	spec     specRules // rules of the statement being walked
	maxErrs  int

	path    []byte
	viols   []Violation
	fatal   int
	omitted int
	devs    DeviationSet

	inSub bool     // walking a SubStatement: facts are not collected
	ids   dupIndex // interaction component ids seen (components)
	f     facts
}

// specRules is the version-dependent part of the rules.
type specRules struct {
	ts      tsRules
	allow20 bool // contextAgents / contextGroups allowed
}

type objKind uint8

const (
	objActivity objKind = iota
	objAgent
	objGroup
	objStatementRef
	objSubStatement
	objUnknown
)

// facts are the values of one statement the normalizer needs; byte slices
// point into the parser's buffers.
type facts struct {
	hasID bool
	id    UUID

	learner     ifi
	actorIsAnon bool

	verb []byte

	obj      objKind
	objID    []byte // activity id
	objRefID UUID

	hasResult     bool
	hasSuccess    bool
	success       bool
	hasCompletion bool
	completion    bool
	duration      int64
	hasScaled     bool
	scaled        float64
	hasRaw        bool
	raw           float64
	hasMin        bool
	min           float64
	hasMax        bool
	max           float64
	hasProgExt    bool
	progExt       float64

	hasTimestamp bool
	timestamp    int64
	hasStored    bool
	stored       int64

	skillsExt  int32   // node of the skills extension value, -1 when absent
	categories []int32 // context category activities of the statement
	catIdx     []int32 // index of each in its array, -1 for a lone object
	skillIDs   []int32 // scratch of Decoder.skills: distinct skill id nodes
}

// ifi is an agent's identifier as sent.
type ifi struct {
	kind     ifiKind
	a, b     []byte // mbox / sha1 / openid in a; account homePage in a and name in b
	homeless bool   // account without homePage (tolerant)
}

type ifiKind uint8

const (
	ifiNone ifiKind = iota
	ifiMbox
	ifiSha1
	ifiOpenID
	ifiAccount
)

func (v *validator) reset(p *jparser, tolerant bool, maxErrs int) {
	v.p = p
	v.tolerant = tolerant
	v.maxErrs = maxErrs
	v.path = v.path[:0]
	v.viols = v.viols[:0]
	v.fatal = 0
	v.omitted = 0
	v.devs = 0
	v.inSub = false
	v.f = facts{skillsExt: -1, categories: v.f.categories[:0], catIdx: v.f.catIdx[:0], skillIDs: v.f.skillIDs[:0]}
}

// --- paths and reporting ---

func (v *validator) push(key string) int {
	n := len(v.path)
	if n > 0 {
		v.path = append(v.path, '.')
	}
	v.path = append(v.path, key...)
	return n
}

func (v *validator) pushIdx(i int) int {
	n := len(v.path)
	v.path = append(v.path, '[')
	v.path = strconv.AppendInt(v.path, int64(i), 10)
	v.path = append(v.path, ']')
	return n
}

func (v *validator) pop(n int) { v.path = v.path[:n] }

func (v *validator) fail(rule string) {
	v.fatal++
	if len(v.viols) >= v.maxErrs {
		v.omitted++
		return
	}
	v.viols = append(v.viols, Violation{Path: string(v.path), Rule: rule})
}

// missing reports a required key that is absent, at path.key.
func (v *validator) missing(key, rule string) {
	n := v.push(key)
	v.fail(rule)
	v.pop(n)
}

func (v *validator) failf(format string, args ...any) {
	if len(v.viols) >= v.maxErrs {
		v.fatal++
		v.omitted++
		return
	}
	v.fail(fmt.Sprintf(format, args...))
}

// deviate records d: a violation in strict mode, an accepted deviation in
// tolerant mode.
func (v *validator) deviate(d Deviation, rule string) {
	if !v.tolerant {
		v.fail(rule)
		return
	}
	v.devs = v.devs.Add(d)
	if len(v.viols) < v.maxErrs {
		v.viols = append(v.viols, Violation{Path: string(v.path), Rule: rule, Deviation: d})
	}
}

// --- generic shapes ---

func (v *validator) kind(i int32) jkind { return v.p.nodes[i].kind }

// want checks that node i has kind k ("must be a string, got a number").
func (v *validator) want(i int32, k jkind, what string) bool {
	got := v.kind(i)
	if got == k || k == jTrue && got == jFalse {
		return true
	}
	if got == jNull {
		v.fail("must not be null")
		return false
	}
	v.failf("must be %s, got %s", what, got)
	return false
}

// obj returns the members of object node i, reporting duplicate keys.
func (v *validator) obj(i int32) []jmember {
	ms := v.p.objMembers(i)
	if !v.p.nodes[i].dup {
		return ms
	}
	// Pairwise for a few keys, else through the parser's dupIndex (the
	// parser is done with it), so that a large object costs linear time.
	big := len(ms) > smallDup
	if big {
		v.p.dups.reset(len(ms))
	}
	for a, m := range ms {
		var repeated bool
		if big {
			repeated = v.p.dups.seen(v.p, m.off, m.n, true)
		} else {
			for b := 0; b < a && !repeated; b++ {
				repeated = m.n == ms[b].n && bytes.Equal(v.p.key(m), v.p.key(ms[b]))
			}
		}
		if repeated {
			n := v.push(bstr(v.p.key(m)))
			v.fail("duplicate key: a property may appear only once")
			v.pop(n)
		}
	}
	return ms
}

// unknown reports a key the object does not define: a wrong-case spelling
// of a defined key is always fatal; anything else is an unknown property.
func (v *validator) unknown(key []byte, defined []string) {
	for _, d := range defined {
		if eqFoldASCII(key, d) {
			n := v.push(bstr(key))
			v.failf("wrong case: the property is %q", d)
			v.pop(n)
			return
		}
	}
	n := v.push(bstr(key))
	v.deviate(DevUnknownProperty, "unknown property")
	v.pop(n)
}

func (v *validator) str(i int32) ([]byte, bool) {
	if !v.want(i, jString, "a string") {
		return nil, false
	}
	return v.p.str(i), true
}

func (v *validator) iri(i int32, what string) ([]byte, bool) {
	s, ok := v.str(i)
	if !ok {
		return nil, false
	}
	if !isIRI(s) {
		if len(s) == 0 {
			v.failf("must be %s, got an empty string", what)
		} else {
			v.failf("must be %s, got %q", what, clip(s))
		}
		return s, false
	}
	return s, true
}

func (v *validator) uuid(i int32) (UUID, bool) {
	s, ok := v.str(i)
	if !ok {
		return UUID{}, false
	}
	u, ok := parseUUID(s)
	if !ok {
		v.failf("must be a UUID (8-4-4-4-12 hex digits), got %q", clip(s))
	}
	return u, ok
}

func (v *validator) boolean(i int32) (bool, bool) {
	if !v.want(i, jTrue, "a boolean") {
		return false, false
	}
	return v.kind(i) == jTrue, true
}

func (v *validator) number(i int32) (float64, bool) {
	if !v.want(i, jNumber, "a number") {
		return 0, false
	}
	f, ok := v.p.num(i)
	if !ok {
		v.fail("number out of range")
	}
	return f, ok
}

func (v *validator) timestamp(i int32) (int64, bool) {
	s, ok := v.str(i)
	if !ok {
		return 0, false
	}
	t, rule := parseTimestamp(s, v.spec.ts)
	if rule != "" {
		v.failf("%s, got %q", rule, clip(s))
		return 0, false
	}
	return t, true
}

func (v *validator) langMap(i int32) {
	if !v.want(i, jObject, "a language map (object)") {
		return
	}
	for _, m := range v.obj(i) {
		n := v.push(bstr(v.p.key(m)))
		if !isLangTag(v.p.key(m)) {
			v.failf("key %q is not an RFC 5646 language tag", clip(v.p.key(m)))
		}
		v.want(m.val, jString, "a string")
		v.pop(n)
	}
}

func (v *validator) extensions(i int32) {
	if !v.want(i, jObject, "an extensions object") {
		return
	}
	for _, m := range v.obj(i) {
		if !isIRI(v.p.key(m)) {
			v.failf("extension key %q must be an IRI", clip(v.p.key(m)))
		}
		n := v.push(bstr(v.p.key(m)))
		v.anyValue(m.val)
		v.pop(n)
	}
}

// anyValue walks free-form JSON (extension values): only duplicate keys
// are checked.
func (v *validator) anyValue(i int32) {
	switch v.kind(i) {
	case jObject:
		for _, m := range v.obj(i) {
			if v.p.nodes[m.val].kind >= jObject {
				n := v.push(bstr(v.p.key(m)))
				v.anyValue(m.val)
				v.pop(n)
			}
		}
	case jArray:
		for k, e := range v.p.arrElems(i) {
			if v.p.nodes[e].kind >= jObject {
				n := v.pushIdx(k)
				v.anyValue(e)
				v.pop(n)
			}
		}
	}
}

func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}

// --- statement ---

var statementKeys = []string{"id", "actor", "verb", "object", "result", "context", "timestamp", "stored", "authority", "version", "attachments"}

// statement validates a Statement, or a SubStatement when sub is set.
func (v *validator) statement(i int32, sub bool) {
	if !v.want(i, jObject, "a Statement object") {
		return
	}
	ms := v.obj(i)
	var actor, verb, object, context int32 = -1, -1, -1, -1
	objectType := false
	for _, m := range ms {
		key := bstr(v.p.key(m))
		if v.kind(m.val) == jNull {
			n := v.push(key)
			v.fail("must not be null")
			v.pop(n)
			continue
		}
		n := v.push(key)
		switch key {
		case "id":
			if sub {
				v.fail("not allowed in a SubStatement")
			} else if u, ok := v.uuid(m.val); ok {
				v.f.id, v.f.hasID = u, true
			}
		case "actor":
			actor = m.val
		case "verb":
			verb = m.val
		case "object":
			object = m.val
		case "result":
			v.result(m.val)
		case "context":
			context = m.val
		case "timestamp":
			if t, ok := v.timestamp(m.val); ok && !v.inSub {
				v.f.timestamp, v.f.hasTimestamp = t, true
			}
		case "stored":
			if sub {
				v.fail("not allowed in a SubStatement")
			} else if t, ok := v.timestamp(m.val); ok {
				v.f.stored, v.f.hasStored = t, true
			}
		case "authority":
			if sub {
				v.fail("not allowed in a SubStatement")
			} else {
				v.authority(m.val)
			}
		case "version":
			if sub {
				v.fail("not allowed in a SubStatement")
			} else {
				v.want(m.val, jString, "a string") // the value is checked in setVersion
			}
		case "attachments":
			v.attachments(m.val)
		case "objectType":
			if !sub {
				v.pop(n)
				v.unknown(v.p.key(m), statementKeys)
				continue
			}
			objectType = true
			if s, ok := v.str(m.val); ok && string(s) != "SubStatement" {
				v.failf("must be \"SubStatement\", got %q", clip(s))
			}
		case "voided":
			v.fail("not allowed: a statement is voided by a voiding statement (verb voided), not by a property")
		default:
			v.pop(n)
			v.unknown(v.p.key(m), statementKeys)
			continue
		}
		v.pop(n)
	}
	if sub && !objectType {
		v.missing("objectType", "required for a SubStatement")
	}
	if actor < 0 && !v.hasKey(ms, "actor") {
		v.missing("actor", "required")
	} else if actor >= 0 {
		n := v.push("actor")
		info := v.actor(actor, true)
		if !v.inSub {
			v.f.learner = info.ifi
			v.f.actorIsAnon = info.group && info.ifi.kind == ifiNone
		}
		v.pop(n)
	}
	var verbID []byte
	if verb < 0 && !v.hasKey(ms, "verb") {
		v.missing("verb", "required")
	} else if verb >= 0 {
		n := v.push("verb")
		verbID = v.verb(verb)
		if !v.inSub {
			v.f.verb = verbID
		}
		v.pop(n)
	}
	k := objUnknown
	if object < 0 && !v.hasKey(ms, "object") {
		v.missing("object", "required")
	} else if object >= 0 {
		n := v.push("object")
		k = v.object(object, sub)
		v.pop(n)
	}
	if object >= 0 && string(verbID) == VerbVoided && k != objStatementRef {
		n := v.push("object")
		v.fail("a voiding statement (verb voided) must have a StatementRef object")
		v.pop(n)
	}
	if context >= 0 {
		n := v.push("context")
		v.context(context, k)
		v.pop(n)
	}
}

func (v *validator) hasKey(ms []jmember, key string) bool {
	for _, m := range ms {
		if string(v.p.key(m)) == key {
			return true
		}
	}
	return false
}

// setVersion reads the statement's version property (before the walk) and
// selects the rules.
func (v *validator) setVersion(root int32, want SpecVersion) {
	v.spec = specRules{ts: tsEither, allow20: true}
	switch want {
	case Spec103:
		v.spec = specRules{ts: ts103}
	case Spec200:
		v.spec = specRules{ts: ts200, allow20: true}
	}
	if v.kind(root) != jObject {
		return
	}
	for _, m := range v.p.objMembers(root) {
		if string(v.p.key(m)) != "version" || v.kind(m.val) != jString {
			continue
		}
		s := v.p.str(m.val)
		n := v.push("version")
		switch {
		case isVersion(s, '1'):
			if want == Spec200 {
				break // a 2.0 LRS still accepts 1.0.x statements
			}
			v.spec = specRules{ts: ts103}
		case isVersion(s, '2'):
			if want == Spec103 {
				v.failf("must start with \"1.0\" (xAPI 1.0.3), got %q", clip(s))
				break
			}
			v.spec = specRules{ts: ts200, allow20: true}
		default:
			v.failf("must be 1.0, 1.0.x or 2.0.x, got %q", clip(s))
		}
		v.pop(n)
	}
}

// isVersion matches "M.0" or "M.0.<digits>".
func isVersion(s []byte, major byte) bool {
	if len(s) < 3 || s[0] != major || s[1] != '.' || s[2] != '0' {
		return false
	}
	if len(s) == 3 {
		return major == '1'
	}
	if len(s) < 5 || s[3] != '.' {
		return false
	}
	return allDigit(s[4:])
}

func (v *validator) verb(i int32) []byte {
	if !v.want(i, jObject, "a Verb object") {
		return nil
	}
	var id []byte
	seen := false
	for _, m := range v.obj(i) {
		n := v.push(bstr(v.p.key(m)))
		switch string(v.p.key(m)) {
		case "id":
			seen = true
			id, _ = v.iri(m.val, "an IRI")
		case "display":
			v.langMap(m.val)
		default:
			v.pop(n)
			v.unknown(v.p.key(m), []string{"id", "display"})
			continue
		}
		v.pop(n)
	}
	if !seen {
		v.missing("id", "required")
	}
	return id
}
