package replay

import (
	"crypto/sha1"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/unpair/unpair/schema"
)

// DefaultHomePage is the account home page of a dataset's learners, and the
// base of its activity ids.
func DefaultHomePage(dataset string) string {
	return "https://replay.unpair.example/" + dataset
}

// Verb IRIs used by the generator.
const (
	VerbAnswered     = "http://adlnet.gov/expapi/verbs/answered"
	activityQuestion = "http://adlnet.gov/expapi/activities/cmi.interaction"
)

// extBase prefixes the extension IRIs of replayed statements.
const extBase = "https://unpair.example/xapi/extensions/"

// namespace of the version-5 UUIDs of replayed statements.
var namespace = schema.UUID{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

// Generator renders attempts of one dataset as xAPI statements.
type Generator struct {
	ds       *Dataset
	home     string // account home page and activity base, JSON-escaped, no quotes
	dataset  string // dataset name, JSON-escaped
	keyer    *schema.LearnerKeyer
	itemBase string
}

// NewGenerator returns a generator for ds. homePage "" means
// DefaultHomePage(ds.Name). keyer derives Kafka keys in learner key mode
// (nil: the zero keyer, an empty secret).
func NewGenerator(ds *Dataset, homePage string, keyer *schema.LearnerKeyer) *Generator {
	if homePage == "" {
		homePage = DefaultHomePage(ds.Name)
	}
	homePage = strings.TrimRight(homePage, "/")
	return &Generator{
		ds:       ds,
		home:     string(appendEscaped(nil, homePage)),
		dataset:  string(appendEscaped(nil, ds.Name)),
		keyer:    keyer,
		itemBase: homePage + "/items/",
	}
}

// ContentID is the activity id of an item: the content key the engine and
// the catalog use.
func (g *Generator) ContentID(item int64) string {
	return g.itemBase + strconv.FormatInt(item, 10)
}

// SkillID is the category activity id of a skill index.
func SkillID(homePage string, skill int64) string {
	return strings.TrimRight(homePage, "/") + "/skills/" + strconv.FormatInt(skill, 10)
}

// SetSkillID is the skill id given to an item the q-matrix lacks.
func SetSkillID(homePage string, set int64) string {
	return strings.TrimRight(homePage, "/") + "/skills/set-" + strconv.FormatInt(set, 10)
}

// ContentID is the activity id of an item under a home page.
func ContentID(homePage string, item int64) string {
	return strings.TrimRight(homePage, "/") + "/items/" + strconv.FormatInt(item, 10)
}

// StatementID returns the deterministic id of an attempt's statement.
func (g *Generator) StatementID(a *Attempt) schema.UUID {
	var buf [256]byte
	b := append(buf[:0], g.ds.Name...)
	b = append(b, '/')
	b = append(b, g.ds.Files[a.File]...)
	b = append(b, '#')
	b = strconv.AppendInt(b, int64(a.Line), 10)
	return NameUUID(b)
}

// NameUUID returns the version-5 (SHA-1, name-based) UUID of name in the
// replay namespace.
func NameUUID(name []byte) schema.UUID {
	var buf [320]byte
	b := append(append(buf[:0], namespace[:]...), name...)
	s := sha1.Sum(b)
	var u schema.UUID
	copy(u[:], s[:16])
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return u
}

// registration returns the learner's registration UUID.
func (g *Generator) registration(user int64) schema.UUID {
	var buf [128]byte
	b := append(buf[:0], "registration/"...)
	b = append(b, g.ds.Name...)
	b = append(b, '/')
	b = strconv.AppendInt(b, user, 10)
	return NameUUID(b)
}

// LearnerKey returns the learner key of an attempt's actor, as the
// processor derives it (HMAC of the canonical account IFI).
func (g *Generator) LearnerKey(user int64) string {
	home := strings.TrimSuffix(g.itemBase, "/items/")
	return g.keyer.Key(schema.CanonicalAccount(home, strconv.FormatInt(user, 10)))
}

// Append renders the statement of a and appends it to dst.
func (g *Generator) Append(dst []byte, a *Attempt) []byte {
	id := g.StatementID(a)
	dst = append(dst, `{"id":"`...)
	dst = appendUUID(dst, id)
	dst = append(dst, `","version":"1.0.3","timestamp":"`...)
	dst = time.Unix(0, a.Time).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	dst = append(dst, `","actor":{"objectType":"Agent","account":{"homePage":"`...)
	dst = append(dst, g.home...)
	dst = append(dst, `","name":"`...)
	dst = strconv.AppendInt(dst, a.User, 10)
	dst = append(dst, `"}},"verb":{"id":"`+VerbAnswered+`","display":{"en-US":"answered"}},"object":{"objectType":"Activity","id":"`...)
	dst = append(dst, g.home...)
	dst = append(dst, `/items/`...)
	dst = strconv.AppendInt(dst, a.Item, 10)
	dst = append(dst, `","definition":{"type":"`+activityQuestion+`","interactionType":"fill-in","name":{"en-US":"Problem `...)
	dst = strconv.AppendInt(dst, a.Item, 10)
	dst = append(dst, `"}}},"result":{"success":`...)
	dst = strconv.AppendBool(dst, a.Correct)
	if a.Correct {
		dst = append(dst, `,"score":{"scaled":1,"raw":1,"min":0,"max":1},"response":"correct"`...)
	} else {
		dst = append(dst, `,"score":{"scaled":0,"raw":0,"min":0,"max":1},"response":"incorrect"`...)
	}
	if a.Duration > 0 {
		dst = append(dst, `,"duration":"PT`...)
		dst = appendSeconds(dst, a.Duration)
		dst = append(dst, `S"`...)
	}
	dst = append(dst, `,"extensions":{"`...)
	dst = append(dst, extBase+`first-attempt":true}},"context":{"registration":"`...)
	dst = appendUUID(dst, g.registration(a.User))
	dst = append(dst, `","platform":"ASSISTments","language":"en-US","contextActivities":{"parent":[{"objectType":"Activity","id":"`...)
	dst = append(dst, g.home...)
	dst = append(dst, `/problem-sets/`...)
	dst = strconv.AppendInt(dst, a.SkillSet, 10)
	dst = append(dst, `","definition":{"type":"http://adlnet.gov/expapi/activities/assessment","name":{"en-US":"Problem set `...)
	dst = strconv.AppendInt(dst, a.SkillSet, 10)
	dst = append(dst, `"}}}],"grouping":[{"objectType":"Activity","id":"`...)
	dst = append(dst, g.home...)
	dst = append(dst, `","definition":{"type":"http://adlnet.gov/expapi/activities/course","name":{"en-US":"`...)
	dst = append(dst, g.dataset...)
	dst = append(dst, `"}}}],"category":[`...)
	skills := g.ds.Skills[a.Item]
	if len(skills) == 0 {
		dst = append(dst, `{"objectType":"Activity","id":"`...)
		dst = append(dst, g.home...)
		dst = append(dst, `/skills/set-`...)
		dst = strconv.AppendInt(dst, a.SkillSet, 10)
		dst = append(dst, `","definition":{"type":"http://adlnet.gov/expapi/activities/objective"}}`...)
	}
	for i, s := range skills {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"objectType":"Activity","id":"`...)
		dst = append(dst, g.home...)
		dst = append(dst, `/skills/`...)
		dst = strconv.AppendInt(dst, s, 10)
		dst = append(dst, `","definition":{"type":"http://adlnet.gov/expapi/activities/objective","name":{"en-US":"Skill `...)
		dst = strconv.AppendInt(dst, s, 10)
		dst = append(dst, `"}}}`...)
	}
	dst = append(dst, `]},"extensions":{"`...)
	dst = append(dst, extBase+`dataset":"`...)
	dst = append(dst, g.dataset...)
	dst = append(dst, `","`...)
	dst = append(dst, extBase+`row":"`...)
	dst = appendEscaped(dst, g.ds.Files[a.File])
	dst = append(dst, '#')
	dst = strconv.AppendInt(dst, int64(a.Line), 10)
	dst = append(dst, `","`...)
	dst = append(dst, extBase+`answer-index":`...)
	dst = strconv.AppendInt(dst, int64(a.Index), 10)
	dst = append(dst, `}}}`...)
	return dst
}

// appendSeconds appends d as seconds with up to three decimals.
func appendSeconds(dst []byte, d int64) []byte {
	ms := d / int64(time.Millisecond)
	dst = strconv.AppendInt(dst, ms/1000, 10)
	if r := ms % 1000; r != 0 {
		dst = append(dst, '.', byte('0'+r/100), byte('0'+r/10%10), byte('0'+r%10))
	}
	return dst
}

const hexDigits = "0123456789abcdef"

func appendUUID(dst []byte, u schema.UUID) []byte {
	for i, b := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexDigits[b>>4], hexDigits[b&15])
	}
	return dst
}

// appendEscaped appends s escaped for the inside of a JSON string; invalid
// UTF-8 becomes U+FFFD.
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return dst
}
