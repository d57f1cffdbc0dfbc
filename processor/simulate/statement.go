package simulate

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// uuid is a statement or registration id.
type uuid [16]byte

// verb is one verb the simulated LMS sends.
type verb struct{ id, display string }

var (
	verbLaunched    = verb{"http://adlnet.gov/expapi/verbs/launched", "launched"}
	verbInitialized = verb{"http://adlnet.gov/expapi/verbs/initialized", "initialized"}
	verbAnswered    = verb{"http://adlnet.gov/expapi/verbs/answered", "answered"}
	verbProgressed  = verb{"http://adlnet.gov/expapi/verbs/progressed", "progressed"}
	verbPassed      = verb{"http://adlnet.gov/expapi/verbs/passed", "passed"}
	verbFailed      = verb{"http://adlnet.gov/expapi/verbs/failed", "failed"}
	verbCompleted   = verb{"http://adlnet.gov/expapi/verbs/completed", "completed"}
	verbTerminated  = verb{"http://adlnet.gov/expapi/verbs/terminated", "terminated"}
	verbAbandoned   = verb{"https://w3id.org/xapi/adl/verbs/abandoned", "abandoned"}
	verbRated       = verb{"http://id.tincanapi.com/verb/rated", "rated"}
	verbDisliked    = verb{"https://w3id.org/xapi/acrossx/verbs/disliked", "disliked"}
	verbVoided      = verb{"http://adlnet.gov/expapi/verbs/voided", "voided"}
)

const (
	extSessionID = "https://w3id.org/xapi/cmi5/context/extensions/sessionid"
	extProgress  = "https://w3id.org/xapi/cmi5/result/extensions/progress"
	extRating    = "http://id.tincanapi.com/extension/quality-rating"
	extMasteryTh = "https://w3id.org/xapi/cmi5/context/extensions/masteryscore"
	// extVoidReason follows Config.HomePage: the LMS's own extension.
	extVoidReason = "/xapi/extensions/void-reason"
)

// Defect names one way a statement is made invalid. Message.Defect holds it.
type Defect string

// Defects lists the defects InvalidShare draws from, uniformly.
var Defects = []Defect{
	"broken JSON",            // the bytes are cut off mid-document
	"missing actor",          // no actor property
	"missing verb",           // no verb property
	"actor without IFI",      // an Agent with a name only
	"mbox not a mailto IRI",  // "mbox": "name@host"
	"score scaled above 1",   // result.score.scaled 1.5
	"score raw above max",    // result.score raw 14 with max 10
	"id not a UUID",          // "id": "stmt-1234abcd"
	"timestamp not ISO 8601", // "timestamp": "2025-13-45 25:61"
	"object without id",      // an Activity with no id
	"verb id not an IRI",     // "verb": {"id": "answered"}
	"null result",            // "result": null
}

// spec is everything one statement says, before it is written.
type spec struct {
	id   uuid
	at   int64 // unix ms
	l    *learner
	s    *session
	verb verb

	content int32 // object: index into the catalog's Content, or -1 with ref
	ref     uuid  // object: StatementRef when content < 0

	hasScore            bool
	scaled, raw, lo, hi float64
	hasSuccess          bool
	success             bool
	hasCompletion       bool
	response            string
	duration            int64 // ms; 0 = absent
	progress            int   // percent; -1 = absent
	rating              bool  // adds the quality-rating extension
}

// writer appends one statement's JSON into a reused buffer.
type writer struct {
	b      []byte
	cat    *itemCatalog
	cfg    *Config
	minute int64  // unix ms of the minute prefix holds
	prefix []byte // "2006-01-02T15:04:" of that minute
}

func (w *writer) raw(s string) { w.b = append(w.b, s...) }

// str appends s as a JSON string.
func (w *writer) str(s string) {
	w.b = append(w.b, '"')
	i := 0
	for i < len(s) && s[i] >= 0x20 && s[i] < utf8.RuneSelf && s[i] != '"' && s[i] != '\\' {
		i++
	}
	w.b = append(w.b, s[:i]...) // the common case: nothing to escape
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				w.b = append(w.b, '\\', c)
			case c < 0x20:
				w.b = append(w.b, '\\', 'u', '0', '0', hexdigits[c>>4], hexdigits[c&15])
			default:
				w.b = append(w.b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			w.b = append(w.b, `\ufffd`...)
		} else {
			w.b = append(w.b, s[i:i+n]...)
		}
		i += n
	}
	w.b = append(w.b, '"')
}

const hexdigits = "0123456789abcdef"

func (w *writer) uuid(u uuid) {
	w.b = append(w.b, '"')
	w.b = appendUUID(w.b, u)
	w.b = append(w.b, '"')
}

func appendUUID(b []byte, u uuid) []byte {
	for i, x := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexdigits[x>>4], hexdigits[x&15])
	}
	return b
}

// time appends ms as a quoted RFC 3339 UTC timestamp with milliseconds.
// Formatting the date is the slow part, so the minute's prefix is cached.
func (w *writer) time(ms int64) {
	minute := ms - ((ms%60000)+60000)%60000
	if minute != w.minute || w.prefix == nil {
		w.minute = minute
		w.prefix = time.UnixMilli(minute).UTC().AppendFormat(w.prefix[:0], "2006-01-02T15:04:")
	}
	rest := ms - minute // [0, 60000)
	w.b = append(w.b, '"')
	w.b = append(w.b, w.prefix...)
	sec, milli := rest/1000, rest%1000
	w.b = append(w.b, byte('0'+sec/10), byte('0'+sec%10), '.', byte('0'+milli/100), byte('0'+milli/10%10), byte('0'+milli%10), 'Z', '"')
}

func (w *writer) num(x float64) {
	w.b = strconv.AppendFloat(w.b, math.Round(x*1e4)/1e4, 'f', -1, 64)
}

func (w *writer) int(x int64) { w.b = strconv.AppendInt(w.b, x, 10) }

// duration appends an ISO 8601 duration such as "PT4M12.5S".
func (w *writer) duration(ms int64) {
	w.raw(`"PT`)
	if h := ms / 3600000; h > 0 {
		w.int(h)
		w.raw("H")
		ms -= h * 3600000
	}
	if m := ms / 60000; m > 0 {
		w.int(m)
		w.raw("M")
		ms -= m * 60000
	}
	w.int(ms / 1000)
	if f := ms % 1000; f != 0 {
		w.b = append(w.b, '.', byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
	}
	w.raw(`S"`)
}

func (w *writer) lang(s string) {
	w.raw(`{"en-US":`)
	w.str(s)
	w.raw("}")
}

// statement writes sp with the given defect ("" for a valid statement) and
// returns the bytes, valid until the next call.
func (w *writer) statement(sp *spec, defect Defect) []byte {
	w.b = w.b[:0]
	w.raw(`{"id":`)
	if defect == "id not a UUID" {
		w.raw(`"stmt-`)
		w.b = append(w.b, hexdigits[sp.id[0]>>4], hexdigits[sp.id[0]&15], hexdigits[sp.id[1]>>4], hexdigits[sp.id[1]&15])
		w.raw(`"`)
	} else {
		w.uuid(sp.id)
	}
	w.raw(`,"version":"1.0.3","timestamp":`)
	if defect == "timestamp not ISO 8601" {
		w.raw(`"2025-13-45 25:61"`)
	} else {
		w.time(sp.at)
	}
	w.raw(`,"stored":`)
	w.time(sp.at + 180 + int64(sp.id[2])) // the LRS stores it a fraction of a second later
	if defect != "missing actor" {
		w.raw(`,"actor":`)
		w.actor(sp.l, defect)
	}
	if defect != "missing verb" {
		w.raw(`,"verb":{"id":`)
		if defect == "verb id not an IRI" {
			w.str(sp.verb.display)
		} else {
			w.str(sp.verb.id)
		}
		w.raw(`,"display":`)
		w.lang(sp.verb.display)
		w.raw("}")
	}
	w.raw(`,"object":`)
	if sp.content < 0 {
		w.raw(`{"objectType":"StatementRef","id":`)
		w.uuid(sp.ref)
		w.raw("}")
	} else {
		w.activity(sp.content, defect == "object without id")
	}
	w.result(sp, defect)
	w.context(sp)
	w.raw(`,"authority":{"objectType":"Agent","name":"Northwind LMS","account":{"homePage":`)
	w.str(w.cfg.HomePage)
	w.raw(`,"name":"xapi-forwarder"}}}`)
	return w.b
}

func (w *writer) actor(l *learner, defect Defect) {
	w.raw(`{"objectType":"Agent","name":`)
	w.str(l.name)
	switch {
	case defect == "actor without IFI":
	case defect == "mbox not a mailto IRI":
		w.raw(`,"mbox":`)
		w.str(l.email)
	case l.mbox:
		w.raw(`,"mbox":`)
		w.str("mailto:" + l.email)
	default:
		w.raw(`,"account":{"homePage":`)
		w.str(w.cfg.HomePage)
		w.raw(`,"name":`)
		w.str(l.account)
		w.raw("}")
	}
	w.raw("}")
}

func (w *writer) activity(ci int32, noID bool) {
	c := &w.cat.Content[ci]
	w.raw(`{"objectType":"Activity"`)
	if !noID {
		w.raw(`,"id":`)
		w.str(c.ID)
	}
	w.raw(`,"definition":{"name":`)
	w.lang(c.Name)
	if c.Type == typeInteraction {
		w.raw(`,"type":"` + typeInteraction +
			`","interactionType":"choice","correctResponsesPattern":["` + string(rune('a'+ci%4)) +
			`"],"choices":[{"id":"a","description":{"en-US":"Option A"}},{"id":"b","description":{"en-US":"Option B"}},` +
			`{"id":"c","description":{"en-US":"Option C"}},{"id":"d","description":{"en-US":"Option D"}}]}}`)
		return
	}
	w.raw(`,"description":{"en-US":"A short lesson with worked examples and practice questions. Take your time; you can come back to it later."},"type":"` + typeLesson + `"}}`)
}

func (w *writer) result(sp *spec, defect Defect) {
	switch defect {
	case "null result":
		w.raw(`,"result":null`)
		return
	case "score scaled above 1":
		w.raw(`,"result":{"score":{"scaled":1.5},"success":true}`)
		return
	case "score raw above max":
		w.raw(`,"result":{"score":{"raw":14,"min":0,"max":10},"success":true}`)
		return
	}
	if !sp.hasScore && !sp.hasSuccess && !sp.hasCompletion && sp.response == "" && sp.duration == 0 && sp.progress < 0 {
		return
	}
	w.raw(`,"result":{`)
	comma := false
	sep := func() {
		if comma {
			w.raw(",")
		}
		comma = true
	}
	if sp.hasScore {
		sep()
		w.raw(`"score":{"scaled":`)
		w.num(sp.scaled)
		w.raw(`,"raw":`)
		w.num(sp.raw)
		w.raw(`,"min":`)
		w.num(sp.lo)
		w.raw(`,"max":`)
		w.num(sp.hi)
		w.raw("}")
	}
	if sp.hasSuccess {
		sep()
		if sp.success {
			w.raw(`"success":true`)
		} else {
			w.raw(`"success":false`)
		}
	}
	if sp.hasCompletion {
		sep()
		w.raw(`"completion":true`)
	}
	if sp.response != "" {
		sep()
		w.raw(`"response":`)
		w.str(sp.response)
	}
	if sp.duration > 0 {
		sep()
		w.raw(`"duration":`)
		w.duration(sp.duration)
	}
	if sp.progress >= 0 || sp.rating {
		sep()
		w.raw(`"extensions":{`)
		if sp.progress >= 0 {
			w.raw(`"` + extProgress + `":`)
			w.int(int64(sp.progress))
		} else {
			w.raw(`"` + extRating + `":`)
			w.num(sp.raw)
		}
		w.raw("}")
	}
	w.raw("}")
}

func (w *writer) context(sp *spec) {
	w.raw(`,"context":{"registration":`)
	w.uuid(sp.l.registration)
	if sp.content >= 0 {
		w.raw(`,"platform":`)
		w.str(w.cfg.Platform)
	}
	w.raw(`,"contextActivities":{`)
	cat := w.cat
	if sp.content >= 0 {
		c := &cat.Content[sp.content]
		if c.Type == typeInteraction {
			lesson := &cat.Content[sp.s.skill]
			w.raw(`"parent":[{"id":`)
			w.str(lesson.ID)
			w.raw(`,"definition":{"type":"` + typeLesson + `"}}],"grouping":[`)
		} else {
			w.raw(`"parent":[`)
		}
		w.raw(`{"id":`)
		w.str(cat.Course)
		w.raw(`,"definition":{"name":{"en-US":"Math Foundations"},"type":"` + typeCourse + `"}}],"category":[`)
		for i, s := range c.Skills {
			if i > 0 {
				w.raw(",")
			}
			w.raw(`{"id":`)
			w.str(s)
			w.raw(`,"definition":{"type":"` + typeObjective + `"}}`)
		}
		w.raw("]")
	} else {
		w.raw(`"grouping":[{"id":`)
		w.str(cat.Course)
		w.raw(`,"definition":{"name":{"en-US":"Math Foundations"},"type":"` + typeCourse + `"}}]`)
	}
	w.raw(`},"extensions":{"` + extSessionID + `":`)
	w.uuid(sp.s.id)
	if sp.content >= 0 && cat.Content[sp.content].Type == typeLesson {
		w.raw(`,"` + extMasteryTh + `":`)
		w.num(w.cfg.PassMark)
	}
	if sp.content < 0 {
		w.raw(`,"` + w.cfg.HomePage + extVoidReason + `":"Attempt reset by the instructor at the learner's request"`)
	}
	w.raw("}}")
}
