package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/unpair/unpair/processor/decision"
)

// A decision is stored as one hash field value:
//
//	<flag>|<reason>|<until>|<decision JSON>
//
// flag is "1" (suppressed) or "0", reason the decision.Reason, until unix
// milliseconds (0 = no end). A reader decides "suppressed now?" from the
// head alone, without parsing JSON: flag == "1" && (until == 0 || now < until).
// The JSON is decision.Decision as published, for explanations.

// Head is the part of an encoded decision a reader needs to decide.
type Head struct {
	Suppressed bool
	Reason     decision.Reason
	Until      int64 // unix ms, 0 = no end
}

// Active reports whether the head suppresses its content at nowMs (unix
// milliseconds): suppressed and its until, if any, not yet reached.
func (h Head) Active(nowMs int64) bool {
	return h.Suppressed && (h.Until == 0 || nowMs < h.Until)
}

// EncodeDecision returns the stored form of d. It fails when the reason
// holds '|' (which would break the head), the content is empty, or a float
// is NaN or infinite (not representable in JSON).
func EncodeDecision(d decision.Decision) ([]byte, error) {
	n := 160 + len(d.Content) + 2*len(d.Reason) + len(d.Explanation) + len(d.Evidence.Model)
	for _, s := range d.Evidence.Skills {
		n += len(s) + 3
	}
	b, err := AppendDecision(make([]byte, 0, n+n/8), &d)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// AppendDecision appends the stored form of *d to b (EncodeDecision without
// the copy and with the caller's buffer). The JSON body is written by hand,
// byte for byte what encoding/json writes for decision.Decision (field
// order, omitempty, float format, string escaping with HTML characters,
// U+2028/U+2029 and invalid UTF-8), so readers keep decoding it with
// encoding/json. On error b is returned unextended.
func AppendDecision(b []byte, d *decision.Decision) ([]byte, error) {
	if d.Content == "" {
		return b, errors.New("decision content: required")
	}
	if strings.IndexByte(string(d.Reason), '|') >= 0 {
		return b, fmt.Errorf("decision reason %q: must not contain '|'", d.Reason)
	}
	for _, f := range [...]struct {
		name string
		v    float64
	}{{"evidence.p_known", d.Evidence.PKnown}, {"evidence.rating", d.Evidence.Rating}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return b, fmt.Errorf("cannot encode decision for content %q: %s: must be a finite number, got %v", d.Content, f.name, f.v)
		}
	}
	if d.Suppressed {
		b = append(b, '1', '|')
	} else {
		b = append(b, '0', '|')
	}
	b = append(b, d.Reason...)
	b = append(b, '|')
	b = strconv.AppendInt(b, d.Until, 10)
	b = append(b, '|')
	return appendDecisionJSON(b, d), nil
}

// appendDecisionJSON appends json.Marshal(d), which the caller checked to
// hold finite floats only.
func appendDecisionJSON(b []byte, d *decision.Decision) []byte {
	b = append(b, `{"content":`...)
	b = appendJSONString(b, d.Content)
	b = append(b, `,"suppressed":`...)
	b = strconv.AppendBool(b, d.Suppressed)
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, string(d.Reason))
	b = append(b, `,"explanation":`...)
	b = appendJSONString(b, d.Explanation)
	b = append(b, `,"since":`...)
	b = strconv.AppendInt(b, d.Since, 10)
	b = append(b, `,"until":`...)
	b = strconv.AppendInt(b, d.Until, 10)
	ev := &d.Evidence
	b = append(b, `,"evidence":{"attempts":`...)
	b = strconv.AppendInt(b, int64(ev.Attempts), 10)
	b = append(b, `,"correct":`...)
	b = strconv.AppendInt(b, int64(ev.Correct), 10)
	if ev.PKnown != 0 {
		b = append(b, `,"p_known":`...)
		b = appendJSONFloat(b, ev.PKnown)
	}
	if ev.Streak != 0 {
		b = append(b, `,"streak":`...)
		b = strconv.AppendInt(b, int64(ev.Streak), 10)
	}
	if ev.Model != "" {
		b = append(b, `,"model":`...)
		b = appendJSONString(b, ev.Model)
	}
	if len(ev.Skills) != 0 {
		b = append(b, `,"skills":[`...)
		for i, s := range ev.Skills {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		b = append(b, ']')
	}
	if ev.LastPractice != 0 {
		b = append(b, `,"last_practice":`...)
		b = strconv.AppendInt(b, ev.LastPractice, 10)
	}
	if ev.Rating != 0 {
		b = append(b, `,"rating":`...)
		b = appendJSONFloat(b, ev.Rating)
	}
	return append(b, '}', '}')
}

// appendJSONFloat formats a finite float64 as encoding/json does: like
// ES6 number-to-string, 'f' format except for very small or large
// magnitudes, which use 'e' with a one-digit exponent where possible.
func appendJSONFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// jsonSafe marks the ASCII bytes encoding/json writes as they are (with
// HTML escaping on, as json.Marshal has it): printable, not '"', '\\',
// '<', '>' or '&'.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONString appends s as a JSON string exactly as json.Marshal
// writes it: \b \f \n \r \t and \" \\ short escapes, other control
// characters and <, >, & as \u00XX, U+2028 and U+2029 escaped, each byte
// of invalid UTF-8 replaced by \ufffd.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// ParseHead reads the head of a stored decision and returns it with the
// JSON body that follows.
func ParseHead(v string) (Head, string, error) {
	var h Head
	if len(v) < 2 || v[1] != '|' || (v[0] != '0' && v[0] != '1') {
		return h, "", errors.New("stored decision: must start with \"0|\" or \"1|\"")
	}
	h.Suppressed = v[0] == '1'
	rest := v[2:]
	i := strings.IndexByte(rest, '|')
	if i < 0 {
		return h, "", errors.New("stored decision: missing '|' after reason")
	}
	h.Reason = decision.Reason(rest[:i])
	rest = rest[i+1:]
	j := strings.IndexByte(rest, '|')
	if j < 0 {
		return h, "", errors.New("stored decision: missing '|' after until")
	}
	until, err := strconv.ParseInt(rest[:j], 10, 64)
	if err != nil {
		return h, "", fmt.Errorf("stored decision: until %q is not an integer", rest[:j])
	}
	h.Until = until
	return h, rest[j+1:], nil
}

// DecodeDecision parses a stored decision completely.
func DecodeDecision(v string) (Head, decision.Decision, error) {
	h, body, err := ParseHead(v)
	if err != nil {
		return h, decision.Decision{}, err
	}
	var d decision.Decision
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		return h, decision.Decision{}, fmt.Errorf("stored decision: body is not decision JSON: %w", err)
	}
	return h, d, nil
}
