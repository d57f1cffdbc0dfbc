package simulate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"time"
)

// This file holds an xAPI structure check written for these tests, from
// xAPI 1.0.3 Data 2.2-2.4: it accepts what the generator means as valid and
// must reject every Defect. It is deliberately independent of the
// generator's code.

var (
	reUUID     = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	reDuration = regexp.MustCompile(`^P(?:\d+Y)?(?:\d+M)?(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?)?$`)
)

type jobj = map[string]any

// checkStatement returns why raw is not a valid xAPI statement, or nil.
func checkStatement(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var st jobj
	if err := dec.Decode(&st); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("trailing data")
	}
	if err := noNulls(st, ""); err != nil {
		return err
	}
	id, _ := st["id"].(string)
	if !reUUID.MatchString(id) {
		return fmt.Errorf("id: not a UUID: %q", id)
	}
	if v, _ := st["version"].(string); len(v) < 3 || v[:3] != "1.0" {
		return fmt.Errorf("version: %q", v)
	}
	for _, f := range []string{"timestamp", "stored"} {
		ts, _ := st[f].(string)
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	actor, ok := st["actor"].(jobj)
	if !ok {
		return fmt.Errorf("actor: missing")
	}
	if err := checkAgent(actor); err != nil {
		return fmt.Errorf("actor: %w", err)
	}
	verb, ok := st["verb"].(jobj)
	if !ok {
		return fmt.Errorf("verb: missing")
	}
	if vid, _ := verb["id"].(string); !isIRI(vid) {
		return fmt.Errorf("verb.id: not an IRI: %q", vid)
	}
	if d, ok := verb["display"].(jobj); !ok || len(d) == 0 {
		return fmt.Errorf("verb.display: missing")
	}
	obj, ok := st["object"].(jobj)
	if !ok {
		return fmt.Errorf("object: missing")
	}
	oid, _ := obj["id"].(string)
	activity := false
	switch obj["objectType"] {
	case "Activity", nil:
		activity = true
		if !isIRI(oid) {
			return fmt.Errorf("object.id: not an IRI: %q", oid)
		}
	case "StatementRef":
		if !reUUID.MatchString(oid) {
			return fmt.Errorf("object.id: StatementRef needs a UUID, got %q", oid)
		}
		if vid, _ := verb["id"].(string); vid != "http://adlnet.gov/expapi/verbs/voided" {
			return fmt.Errorf("object: StatementRef with verb %s (generator only voids)", vid)
		}
	default:
		return fmt.Errorf("object.objectType: %v", obj["objectType"])
	}
	if r, ok := st["result"]; ok {
		res, ok := r.(jobj)
		if !ok {
			return fmt.Errorf("result: not an object")
		}
		if err := checkResult(res); err != nil {
			return fmt.Errorf("result: %w", err)
		}
	}
	if c, ok := st["context"]; ok {
		ctx, ok := c.(jobj)
		if !ok {
			return fmt.Errorf("context: not an object")
		}
		if r, ok := ctx["registration"]; ok {
			if s, _ := r.(string); !reUUID.MatchString(s) {
				return fmt.Errorf("context.registration: not a UUID")
			}
		}
		if _, ok := ctx["platform"]; ok && !activity {
			return fmt.Errorf("context.platform: only allowed when the object is an Activity")
		}
	}
	return nil
}

func checkAgent(a jobj) error {
	n := 0
	if m, ok := a["mbox"]; ok {
		n++
		s, _ := m.(string)
		if len(s) < 8 || s[:7] != "mailto:" {
			return fmt.Errorf("mbox: not a mailto IRI: %q", s)
		}
	}
	if acc, ok := a["account"]; ok {
		n++
		m, _ := acc.(jobj)
		hp, _ := m["homePage"].(string)
		name, _ := m["name"].(string)
		if !isIRI(hp) || name == "" {
			return fmt.Errorf("account: needs homePage IRI and name")
		}
	}
	for _, k := range []string{"mbox_sha1sum", "openid"} {
		if _, ok := a[k]; ok {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("an Agent needs exactly one IFI, has %d", n)
	}
	return nil
}

func checkResult(res jobj) error {
	if sc, ok := res["score"]; ok {
		score, ok := sc.(jobj)
		if !ok {
			return fmt.Errorf("score: not an object")
		}
		get := func(k string) (float64, bool) {
			n, ok := score[k].(json.Number)
			if !ok {
				return 0, false
			}
			f, err := n.Float64()
			return f, err == nil
		}
		if s, ok := get("scaled"); ok && (s < -1 || s > 1) {
			return fmt.Errorf("score.scaled %v outside [-1, 1]", s)
		}
		lo, hasLo := get("min")
		hi, hasHi := get("max")
		if hasLo && hasHi && lo > hi {
			return fmt.Errorf("score.min > score.max")
		}
		if raw, ok := get("raw"); ok {
			if hasLo && raw < lo || hasHi && raw > hi {
				return fmt.Errorf("score.raw %v outside [min, max]", raw)
			}
		}
	}
	if d, ok := res["duration"]; ok {
		s, _ := d.(string)
		if !reDuration.MatchString(s) || s == "P" || s == "PT" {
			return fmt.Errorf("duration: not ISO 8601: %q", s)
		}
	}
	for _, k := range []string{"success", "completion"} {
		if v, ok := res[k]; ok {
			if _, ok := v.(bool); !ok {
				return fmt.Errorf("%s: not a boolean", k)
			}
		}
	}
	return nil
}

// noNulls rejects null values outside extensions (Data 2.2).
func noNulls(v any, path string) error {
	switch x := v.(type) {
	case nil:
		return fmt.Errorf("%s: null value", path)
	case jobj:
		for k, e := range x {
			if k == "extensions" {
				continue
			}
			if err := noNulls(e, path+"."+k); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := noNulls(e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func isIRI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && (u.Host != "" || u.Opaque != "")
}

// mean and binomial tolerance helpers.
func within(got, want float64, n int, sigmas float64) bool {
	sd := math.Sqrt(want * (1 - want) / float64(n))
	return math.Abs(got-want) <= sigmas*sd+1e-9
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
