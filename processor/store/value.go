package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

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
// holds '|' (which would break the head) or the content is empty.
func EncodeDecision(d decision.Decision) ([]byte, error) {
	if d.Content == "" {
		return nil, errors.New("decision content: required")
	}
	if strings.IndexByte(string(d.Reason), '|') >= 0 {
		return nil, fmt.Errorf("decision reason %q: must not contain '|'", d.Reason)
	}
	js, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("cannot encode decision for content %q: %w", d.Content, err)
	}
	b := make([]byte, 0, len(js)+len(d.Reason)+24)
	if d.Suppressed {
		b = append(b, '1', '|')
	} else {
		b = append(b, '0', '|')
	}
	b = append(b, d.Reason...)
	b = append(b, '|')
	b = strconv.AppendInt(b, d.Until, 10)
	b = append(b, '|')
	return append(b, js...), nil
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
