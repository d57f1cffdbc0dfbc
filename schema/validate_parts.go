package schema

import (
	"bytes"
	"math"
	"strconv"
)

// The parts of a statement: actors, objects, result, context, attachments.

type actorInfo struct {
	ifi   ifi
	group bool
	ok    bool
}

var agentKeys = []string{"objectType", "name", "mbox", "mbox_sha1sum", "openid", "account", "member"}

// agentOrGroup validates an Agent or a Group (Data 2.4.2).
func (v *validator) agentOrGroup(i int32) actorInfo {
	var info actorInfo
	if !v.want(i, jObject, "an Agent or Group object") {
		return info
	}
	ms := v.obj(i)
	for _, m := range ms {
		if string(v.p.key(m)) == "objectType" && v.kind(m.val) == jString {
			switch s := v.p.str(m.val); string(s) {
			case "Agent":
			case "Group":
				info.group = true
			default:
				n := v.push("objectType")
				v.failf("must be \"Agent\" or \"Group\", got %q", clip(s))
				v.pop(n)
			}
		}
	}
	nIFI := 0
	members := int32(-1)
	for _, m := range ms {
		n := v.push(bstr(v.p.key(m)))
		if v.kind(m.val) == jNull {
			v.fail("must not be null")
			v.pop(n)
			continue
		}
		switch string(v.p.key(m)) {
		case "objectType", "name":
			v.want(m.val, jString, "a string")
		case "mbox":
			nIFI++
			if s, ok := v.str(m.val); ok {
				if isMailto(s) {
					info.ifi = ifi{kind: ifiMbox, a: s}
				} else {
					v.fail(mailtoProblem(s))
				}
			}
		case "mbox_sha1sum":
			nIFI++
			if s, ok := v.str(m.val); ok {
				if isHexLen(s, 40) {
					info.ifi = ifi{kind: ifiSha1, a: s}
				} else {
					v.fail(sha1Problem(s))
				}
			}
		case "openid":
			nIFI++
			if s, ok := v.str(m.val); ok {
				if isIRI(s) {
					info.ifi = ifi{kind: ifiOpenID, a: s}
				} else {
					v.fail("must be a URI with a scheme (\"https://openid.example.com/name\"); the value is not shown (personal data)")
				}
			}
		case "account":
			nIFI++
			if a, ok := v.account(m.val); ok {
				info.ifi = a
			}
		case "member":
			if !info.group {
				v.fail("not allowed on an Agent (a Group needs objectType \"Group\")")
			} else {
				members = m.val
			}
		default:
			v.pop(n)
			v.unknown(v.p.key(m), agentKeys)
			continue
		}
		v.pop(n)
	}
	nMembers := 0
	if members >= 0 {
		n := v.push("member")
		nMembers = v.members(members)
		v.pop(n)
	}
	switch {
	case nIFI > 1:
		v.failf("must have exactly one inverse functional identifier (mbox, mbox_sha1sum, openid or account), got %d", nIFI)
		info.ifi = ifi{}
	case nIFI == 0 && !info.group:
		v.fail("an Agent must have exactly one inverse functional identifier (mbox, mbox_sha1sum, openid or account)")
	case nIFI == 0 && members < 0:
		v.missing("member", "required for an anonymous Group (a Group without an identifier)")
	case nIFI == 0 && nMembers == 0:
		n := v.push("member")
		v.fail("an anonymous Group needs at least one member")
		v.pop(n)
	}
	info.ok = true
	return info
}

// Rules broken by an identifier (mbox, mbox_sha1sum, openid, account
// name) never quote the value: rejections travel to dead-letter headers
// and logs, which must not carry personal data. They say what is wrong
// instead.

func mailtoProblem(s []byte) string {
	const rule = "must be a mailto IRI (\"mailto:name@example.com\"); the value is not shown (personal data): "
	if len(s) < 7 || !eqFoldASCII(s[:7], "mailto:") {
		if len(s) == 0 {
			return rule + "it is empty"
		}
		return rule + "it does not start with \"mailto:\""
	}
	at := 0
	for _, c := range s[7:] {
		if c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == '"' {
			return rule + "it holds white space, a control character or one of <>\""
		}
		if c == '@' {
			at++
		}
	}
	if at != 1 {
		return rule + "the address must hold exactly one @, got " + itoa(at)
	}
	return rule + "the address needs text before and after the @"
}

func sha1Problem(s []byte) string {
	const rule = "must be 40 hex digits (SHA-1 of the mailto IRI); the value is not shown: "
	if len(s) != 40 {
		return rule + "it has " + itoa(len(s)) + " characters"
	}
	return rule + "it holds a character that is not a hex digit"
}

// members validates a Group's member array and returns its length.
func (v *validator) members(i int32) int {
	if !v.want(i, jArray, "an array of Agents") {
		return 0
	}
	es := v.p.arrElems(i)
	for k, e := range es {
		n := v.pushIdx(k)
		if v.kind(e) == jObject {
			for _, m := range v.p.objMembers(e) {
				if string(v.p.key(m)) == "objectType" && string(v.p.str(m.val)) == "Group" {
					v.fail("a Group's member must be an Agent, not a Group")
				}
			}
		}
		v.agentOrGroup(e)
		v.pop(n)
	}
	return len(es)
}

func (v *validator) account(i int32) (ifi, bool) {
	if !v.want(i, jObject, "an Account object") {
		return ifi{}, false
	}
	var home, name []byte
	hasHome, hasName, ok := false, false, true
	for _, m := range v.obj(i) {
		n := v.push(bstr(v.p.key(m)))
		switch string(v.p.key(m)) {
		case "homePage":
			hasHome = true
			var good bool
			if home, good = v.iri(m.val, "an IRL"); !good {
				ok = false
			}
		case "name":
			hasName = true
			var good bool
			if name, good = v.str(m.val); !good {
				ok = false
			}
		default:
			v.pop(n)
			if eqFoldASCII(v.p.key(m), "homePage") || eqFoldASCII(v.p.key(m), "name") {
				v.unknown(v.p.key(m), []string{"homePage", "name"})
			} else {
				n = v.push(bstr(v.p.key(m)))
				v.deviate(DevAccountUnknownProperty, "unknown property in account (only homePage and name are allowed)")
				v.pop(n)
			}
			continue
		}
		v.pop(n)
	}
	if !hasName {
		v.missing("name", "required")
		return ifi{}, false
	}
	if !hasHome {
		n := v.push("homePage")
		v.deviate(DevAccountMissingHomePage, "required")
		v.pop(n)
		if !v.tolerant {
			return ifi{}, false
		}
	}
	return ifi{kind: ifiAccount, a: home, b: name, homeless: !hasHome}, ok
}

// actor validates the statement's actor, a context instructor, etc.
func (v *validator) actor(i int32, _ bool) actorInfo { return v.agentOrGroup(i) }

func (v *validator) authority(i int32) {
	info := v.agentOrGroup(i)
	if !info.group {
		return
	}
	if info.ifi.kind != ifiNone {
		v.fail("a Group authority must be an anonymous Group (OAuth consumer and user), not an identified Group")
		return
	}
	for _, m := range v.p.objMembers(i) {
		if string(v.p.key(m)) == "member" && v.kind(m.val) == jArray && v.p.nodes[m.val].n != 2 {
			n := v.push("member")
			v.failf("a Group authority must have exactly two members, got %d", v.p.nodes[m.val].n)
			v.pop(n)
		}
	}
}

// object validates the statement's object (Data 2.4.4) and returns its kind.
func (v *validator) object(i int32, sub bool) objKind {
	if !v.want(i, jObject, "an object") {
		return objUnknown
	}
	ot := []byte(nil)
	for _, m := range v.p.objMembers(i) {
		if string(v.p.key(m)) == "objectType" {
			if v.kind(m.val) != jString {
				n := v.push("objectType")
				v.want(m.val, jString, "a string")
				v.pop(n)
				return objUnknown
			}
			ot = v.p.str(m.val)
		}
	}
	top := !v.inSub && !sub
	switch string(ot) {
	case "", "Activity":
		v.activity(i, top, false)
		return objActivity
	case "GroupActivity":
		n := v.push("objectType")
		v.deviate(DevGroupActivity, `must be one of Activity, Agent, Group, StatementRef, SubStatement, got "GroupActivity"`)
		v.pop(n)
		v.activity(i, top, false)
		return objActivity
	case "Agent", "Group":
		v.agentOrGroup(i)
		if top {
			v.f.obj = objAgent
		}
		if string(ot) == "Group" {
			if top {
				v.f.obj = objGroup
			}
			return objGroup
		}
		return objAgent
	case "StatementRef":
		id, ok := v.statementRef(i)
		if top {
			v.f.obj = objStatementRef
			if ok {
				v.f.objRefID = id
			}
		}
		return objStatementRef
	case "SubStatement":
		if sub || v.inSub {
			v.fail("a SubStatement must not contain a SubStatement")
			return objSubStatement
		}
		if top {
			v.f.obj = objSubStatement
		}
		v.inSub = true
		v.statement(i, true)
		v.inSub = false
		return objSubStatement
	}
	n := v.push("objectType")
	v.failf("must be one of Activity, Agent, Group, StatementRef, SubStatement, got %q", clip(ot))
	v.pop(n)
	return objUnknown
}

func (v *validator) statementRef(i int32) (UUID, bool) {
	if !v.want(i, jObject, "a StatementRef object") {
		return UUID{}, false
	}
	var id UUID
	ok, hasType, hasID := false, false, false
	for _, m := range v.obj(i) {
		n := v.push(bstr(v.p.key(m)))
		switch string(v.p.key(m)) {
		case "objectType":
			hasType = true
			if s, good := v.str(m.val); good && string(s) != "StatementRef" {
				v.failf("must be \"StatementRef\", got %q", clip(s))
			}
		case "id":
			hasID = true
			id, ok = v.uuid(m.val)
		default:
			v.pop(n)
			v.unknown(v.p.key(m), []string{"objectType", "id"})
			continue
		}
		v.pop(n)
	}
	if !hasType {
		v.missing("objectType", "required (\"StatementRef\")")
	}
	if !hasID {
		v.missing("id", "required")
	}
	return id, ok
}

var activityKeys = []string{"objectType", "id", "definition"}

// activity validates an Activity. top marks the statement's own object
// (whose id becomes the content key); ctx marks a context activity.
func (v *validator) activity(i int32, top, ctx bool) {
	if !v.want(i, jObject, "an Activity object") {
		return
	}
	hasID := false
	for _, m := range v.obj(i) {
		n := v.push(bstr(v.p.key(m)))
		if v.kind(m.val) == jNull {
			v.fail("must not be null")
			v.pop(n)
			continue
		}
		switch string(v.p.key(m)) {
		case "objectType":
			if s, ok := v.str(m.val); ok && string(s) != "Activity" && string(s) != "GroupActivity" {
				v.failf("must be \"Activity\", got %q", clip(s))
			} else if ok && string(s) == "GroupActivity" && ctx {
				v.deviate(DevGroupActivity, `must be "Activity", got "GroupActivity"`)
			}
		case "id":
			hasID = true
			s, ok := v.str(m.val)
			if !ok {
				break
			}
			switch {
			case len(s) == 0:
				v.fail("must be an IRI, got an empty string")
			case !isIRI(s):
				v.deviate(DevActivityIDNotIRI, "must be an IRI, got "+quote(s))
				if v.tolerant && top {
					v.f.objID = s
				}
			case top:
				v.f.objID = s
			}
		case "definition":
			v.definition(m.val, top)
		case "extensions":
			v.deviate(DevExtensionsOutsideDef, "not allowed on an Activity: extensions belong in definition.extensions")
			v.extensions(m.val)
		default:
			v.pop(n)
			v.unknown(v.p.key(m), activityKeys)
			continue
		}
		v.pop(n)
	}
	if !hasID {
		if ctx {
			n := v.push("id")
			v.deviate(DevActivityMissingID, "required")
			v.pop(n)
		} else {
			v.missing("id", "required")
		}
	}
}

func quote(b []byte) string { return "\"" + clip(b) + "\"" }

var interactionTypes = []string{"true-false", "choice", "fill-in", "long-fill-in", "matching", "performance", "sequencing", "likert", "numeric", "other"}

var definitionKeys = []string{"name", "description", "type", "moreInfo", "extensions", "interactionType",
	"correctResponsesPattern", "choices", "scale", "source", "target", "steps"}

func (v *validator) definition(i int32, top bool) {
	if !v.want(i, jObject, "an Activity Definition object") {
		return
	}
	var itype []byte
	hasIType := false
	interactionProp := ""
	var lists [5]int32
	listNames := [5]string{"choices", "scale", "source", "target", "steps"}
	for k := range lists {
		lists[k] = -1
	}
	for _, m := range v.obj(i) {
		n := v.push(bstr(v.p.key(m)))
		if v.kind(m.val) == jNull {
			v.fail("must not be null")
			v.pop(n)
			continue
		}
		switch key := bstr(v.p.key(m)); key {
		case "name", "description":
			v.langMap(m.val)
		case "type":
			v.iri(m.val, "an IRI")
		case "moreInfo":
			v.iri(m.val, "an IRL")
		case "extensions":
			v.extensions(m.val)
			if top && v.kind(m.val) == jObject {
				for _, e := range v.p.objMembers(m.val) {
					if string(v.p.key(e)) == ExtSkills {
						v.f.skillsExt = e.val
					}
				}
			}
		case "interactionType":
			hasIType = true
			if s, ok := v.str(m.val); ok {
				itype = s
				if !oneOf(s, interactionTypes) {
					v.failf("must be one of %v, got %q", interactionTypes, clip(s))
				}
			}
		case "correctResponsesPattern":
			interactionProp = key
			if v.want(m.val, jArray, "an array of strings") {
				for k, e := range v.p.arrElems(m.val) {
					n2 := v.pushIdx(k)
					v.want(e, jString, "a string")
					v.pop(n2)
				}
			}
		case "choices", "scale", "source", "target", "steps":
			interactionProp = key
			for k, name := range listNames {
				if name == key {
					lists[k] = m.val
				}
			}
			v.components(m.val)
		default:
			v.pop(n)
			v.unknown(v.p.key(m), definitionKeys)
			continue
		}
		v.pop(n)
	}
	if interactionProp != "" && !hasIType {
		v.failf("interactionType: required when %s is present", interactionProp)
	}
	if itype == nil {
		return
	}
	allowed := ""
	switch string(itype) {
	case "choice", "sequencing":
		allowed = "choices"
	case "likert":
		allowed = "scale"
	case "matching":
		allowed = "source target"
	case "performance":
		allowed = "steps"
	}
	for k, l := range lists {
		if l >= 0 && !containsWord(allowed, listNames[k]) {
			n := v.push(listNames[k])
			v.deviate(DevUnknownProperty, "not allowed with interactionType "+quote(itype))
			v.pop(n)
		}
	}
}

func oneOf(s []byte, set []string) bool {
	for _, x := range set {
		if string(s) == x {
			return true
		}
	}
	return false
}

func containsWord(list, w string) bool {
	for len(list) > 0 {
		i := 0
		for i < len(list) && list[i] != ' ' {
			i++
		}
		if list[:i] == w {
			return true
		}
		if i == len(list) {
			break
		}
		list = list[i+1:]
	}
	return false
}

// components validates an interaction component list.
func (v *validator) components(i int32) {
	if !v.want(i, jArray, "an array of interaction components") {
		return
	}
	es := v.p.arrElems(i)
	// Ids of the components before k: compared pairwise for a few, else
	// kept in v.ids, so that a long list costs linear time.
	big := len(es) > smallDup
	if big {
		v.ids.reset(len(es))
	}
	for k, e := range es {
		n := v.pushIdx(k)
		if !v.want(e, jObject, "an interaction component object") {
			v.pop(n)
			continue
		}
		hasID := false
		for _, m := range v.obj(e) {
			n2 := v.push(bstr(v.p.key(m)))
			switch string(v.p.key(m)) {
			case "id":
				hasID = true
				if s, ok := v.str(m.val); ok {
					if len(s) == 0 {
						v.fail("must not be empty")
					}
					if v.idBefore(es, k, m.val, big) {
						v.failf("duplicate component id %q: ids must be distinct", clip(s))
					}
				}
			case "description":
				v.langMap(m.val)
			default:
				v.pop(n2)
				v.unknown(v.p.key(m), []string{"id", "description"})
				continue
			}
			v.pop(n2)
		}
		if !hasID {
			v.missing("id", "required")
		}
		if id := v.componentID(e); big && id >= 0 {
			nd := &v.p.nodes[id]
			v.ids.seen(v.p, nd.lo, nd.n, true)
		}
		v.pop(n)
	}
}

// idBefore reports whether string node id equals the id of one of the
// components es[:k] (v.ids holds those when big).
func (v *validator) idBefore(es []int32, k int, id int32, big bool) bool {
	nd := &v.p.nodes[id]
	if big {
		return v.ids.seen(v.p, nd.lo, nd.n, false)
	}
	s := v.p.str(id)
	for _, prev := range es[:k] {
		if p := v.componentID(prev); p >= 0 && bytes.Equal(v.p.str(p), s) {
			return true
		}
	}
	return false
}

// componentID returns the string node of component e's first string id
// member, or -1.
func (v *validator) componentID(e int32) int32 {
	if v.kind(e) != jObject {
		return -1
	}
	for _, m := range v.p.objMembers(e) {
		if string(v.p.key(m)) == "id" && v.kind(m.val) == jString {
			return m.val
		}
	}
	return -1
}

var resultKeys = []string{"success", "completion", "response", "duration", "score", "extensions"}

func (v *validator) result(i int32) {
	if !v.want(i, jObject, "a Result object") {
		return
	}
	top := !v.inSub
	if top {
		v.f.hasResult = true
	}
	for _, m := range v.obj(i) {
		n := v.push(bstr(v.p.key(m)))
		if v.kind(m.val) == jNull {
			v.fail("must not be null")
			v.pop(n)
			continue
		}
		switch string(v.p.key(m)) {
		case "success":
			if b, ok := v.boolean(m.val); ok && top {
				v.f.success, v.f.hasSuccess = b, true
			}
		case "completion":
			if b, ok := v.boolean(m.val); ok && top {
				v.f.completion, v.f.hasCompletion = b, true
			}
		case "response":
			v.want(m.val, jString, "a string")
		case "duration":
			if s, ok := v.str(m.val); ok {
				d, rule := parseDuration(s)
				if rule != "" {
					v.failf("%s, got %q", rule, clip(s))
				} else if top {
					v.f.duration = d
				}
			}
		case "score":
			v.score(m.val, top)
		case "extensions":
			v.extensions(m.val)
			if top && v.kind(m.val) == jObject {
				for _, e := range v.p.objMembers(m.val) {
					if string(v.p.key(e)) == ExtCmi5Progress && v.kind(e.val) == jNumber {
						if f, ok := v.p.num(e.val); ok {
							v.f.progExt, v.f.hasProgExt = f, true
						}
					}
				}
			}
		default:
			v.pop(n)
			v.unknown(v.p.key(m), resultKeys)
			continue
		}
		v.pop(n)
	}
}

func (v *validator) score(i int32, top bool) {
	if !v.want(i, jObject, "a Score object") {
		return
	}
	var vals [4]float64
	var has [4]bool
	names := [4]string{"scaled", "raw", "min", "max"}
	for _, m := range v.obj(i) {
		n := v.push(bstr(v.p.key(m)))
		k := -1
		for j, name := range names {
			if string(v.p.key(m)) == name {
				k = j
			}
		}
		if k < 0 {
			v.pop(n)
			v.unknown(v.p.key(m), names[:])
			continue
		}
		if f, ok := v.number(m.val); ok {
			vals[k], has[k] = f, true
		}
		v.pop(n)
	}
	scaled, raw, lo, hi := vals[0], vals[1], vals[2], vals[3]
	if has[0] && (scaled < -1 || scaled > 1) {
		n := v.push("scaled")
		v.failf("must be within [-1, 1], got %g", scaled)
		v.pop(n)
	}
	if has[2] && has[3] {
		if lo > hi {
			n := v.push("min")
			v.failf("must be less than max (%g), got %g", hi, lo)
			v.pop(n)
		} else if lo == hi {
			n := v.push("min")
			v.deviate(DevScoreMinEqualsMax, "must be less than max, got min == max == "+ftoa(lo))
			v.pop(n)
		}
	}
	if has[1] {
		n := v.push("raw")
		switch {
		case has[2] && raw < lo && (!has[3] || lo <= hi):
			v.failf("must be within [min, max], got %g < min %g", raw, lo)
		case has[3] && raw > hi && (!has[2] || lo <= hi):
			v.failf("must be within [min, max], got %g > max %g", raw, hi)
		}
		v.pop(n)
	}
	if top {
		v.f.scaled, v.f.hasScaled = scaled, has[0]
		v.f.raw, v.f.hasRaw = raw, has[1]
		v.f.min, v.f.hasMin = lo, has[2]
		v.f.max, v.f.hasMax = hi, has[3]
	}
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

var contextKeys = []string{"registration", "instructor", "team", "contextActivities", "revision", "platform",
	"language", "statement", "extensions", "contextAgents", "contextGroups"}

func (v *validator) context(i int32, obj objKind) {
	if !v.want(i, jObject, "a Context object") {
		return
	}
	for _, m := range v.obj(i) {
		n := v.push(bstr(v.p.key(m)))
		if v.kind(m.val) == jNull {
			v.fail("must not be null")
			v.pop(n)
			continue
		}
		switch key := bstr(v.p.key(m)); key {
		case "registration":
			v.uuid(m.val)
		case "instructor":
			v.agentOrGroup(m.val)
		case "team":
			if info := v.agentOrGroup(m.val); info.ok && !info.group {
				v.fail("must be a Group (objectType \"Group\")")
			}
		case "contextActivities":
			v.contextActivities(m.val)
		case "revision", "platform":
			if v.want(m.val, jString, "a string") && obj != objActivity && obj != objUnknown {
				v.fail("only allowed when the statement's object is an Activity")
			}
		case "language":
			if s, ok := v.str(m.val); ok && !isLangTag(s) {
				v.failf("must be an RFC 5646 language tag, got %q", clip(s))
			}
		case "statement":
			v.statementRef(m.val)
		case "extensions":
			v.extensions(m.val)
		case "contextAgents", "contextGroups":
			if !v.spec.allow20 {
				v.fail("not defined in xAPI 1.0.x (set version 2.0.0 to use it)")
				break
			}
			v.contextAgents(m.val, key == "contextGroups")
		default:
			v.pop(n)
			v.unknown(v.p.key(m), contextKeys)
			continue
		}
		v.pop(n)
	}
}

func (v *validator) contextActivities(i int32) {
	if !v.want(i, jObject, "a contextActivities object") {
		return
	}
	for _, m := range v.obj(i) {
		n := v.push(bstr(v.p.key(m)))
		switch key := bstr(v.p.key(m)); key {
		case "parent", "grouping", "category", "other":
			category := key == "category" && !v.inSub
			switch v.kind(m.val) {
			case jArray:
				for k, e := range v.p.arrElems(m.val) {
					n2 := v.pushIdx(k)
					v.activity(e, false, true)
					if category {
						v.f.categories = append(v.f.categories, e)
						v.f.catIdx = append(v.f.catIdx, int32(k))
					}
					v.pop(n2)
				}
			case jObject:
				v.activity(m.val, false, true)
				if category {
					v.f.categories = append(v.f.categories, m.val)
					v.f.catIdx = append(v.f.catIdx, -1)
				}
			default:
				v.want(m.val, jArray, "an Activity or an array of Activities")
			}
		default:
			v.pop(n)
			v.unknown(v.p.key(m), []string{"parent", "grouping", "category", "other"})
			continue
		}
		v.pop(n)
	}
}

// contextAgents validates xAPI 2.0 contextAgents / contextGroups.
func (v *validator) contextAgents(i int32, groups bool) {
	wantType, inner := "contextAgent", "agent"
	if groups {
		wantType, inner = "contextGroup", "group"
	}
	if !v.want(i, jArray, "an array of "+wantType+" objects") {
		return
	}
	for k, e := range v.p.arrElems(i) {
		n := v.pushIdx(k)
		if !v.want(e, jObject, "a "+wantType+" object") {
			v.pop(n)
			continue
		}
		hasType, hasInner := false, false
		for _, m := range v.obj(e) {
			n2 := v.push(bstr(v.p.key(m)))
			switch string(v.p.key(m)) {
			case "objectType":
				hasType = true
				if s, ok := v.str(m.val); ok && string(s) != wantType {
					v.failf("must be %q, got %q", wantType, clip(s))
				}
			case inner:
				hasInner = true
				info := v.agentOrGroup(m.val)
				if info.ok && info.group != groups {
					if groups {
						v.fail("must be a Group")
					} else {
						v.fail("must be an Agent")
					}
				}
			case "relevantTypes":
				if v.want(m.val, jArray, "an array of IRIs") {
					es := v.p.arrElems(m.val)
					if len(es) == 0 {
						v.fail("must hold at least one IRI when present")
					}
					for q, t := range es {
						n3 := v.pushIdx(q)
						v.iri(t, "an IRI")
						v.pop(n3)
					}
				}
			default:
				v.pop(n2)
				v.unknown(v.p.key(m), []string{"objectType", inner, "relevantTypes"})
				continue
			}
			v.pop(n2)
		}
		if !hasType {
			v.missing("objectType", "required ("+strconv.Quote(wantType)+")")
		}
		if !hasInner {
			v.missing(inner, "required")
		}
		v.pop(n)
	}
}

var attachmentKeys = []string{"usageType", "display", "description", "contentType", "length", "sha2", "fileUrl"}

func (v *validator) attachments(i int32) {
	if !v.want(i, jArray, "an array of Attachments") {
		return
	}
	for k, e := range v.p.arrElems(i) {
		n := v.pushIdx(k)
		if !v.want(e, jObject, "an Attachment object") {
			v.pop(n)
			continue
		}
		var seen [7]bool
		for _, m := range v.obj(e) {
			n2 := v.push(bstr(v.p.key(m)))
			idx := -1
			for q, name := range attachmentKeys {
				if string(v.p.key(m)) == name {
					idx = q
				}
			}
			if idx >= 0 {
				seen[idx] = true
			}
			switch idx {
			case 0:
				v.iri(m.val, "an IRI")
			case 1, 2:
				v.langMap(m.val)
			case 3:
				if s, ok := v.str(m.val); ok && !isMediaType(s) {
					v.failf("must be an Internet Media Type (type/subtype), got %q", clip(s))
				}
			case 4:
				if f, ok := v.number(m.val); ok && (f < 0 || f != math.Trunc(f)) {
					v.failf("must be a non-negative integer, got %s", v.p.str(m.val))
				}
			case 5:
				if s, ok := v.str(m.val); ok && !isSha2(s) {
					v.failf("must be a hex SHA-2 digest, got %q", clip(s))
				}
			case 6:
				v.iri(m.val, "an IRL")
			default:
				v.pop(n2)
				v.unknown(v.p.key(m), attachmentKeys)
				continue
			}
			v.pop(n2)
		}
		for q, name := range attachmentKeys {
			if !seen[q] && name != "description" && name != "fileUrl" {
				v.missing(name, "required")
			}
		}
		v.pop(n)
	}
}
