package schema

import (
	"math"
)

// Format checks for the xAPI data types (Data 4.x): IRIs, UUIDs, RFC 5646
// language tags, ISO 8601 timestamps and durations, mailto IRIs, hashes and
// media types. They work on bytes, allocate nothing, and never panic.

// isIRI reports whether s is an absolute IRI: a scheme (ALPHA *(ALPHA /
// DIGIT / "+" / "-" / ".")), a colon, and a non-empty rest made of
// characters an IRI may hold (no white space, controls, or <>"{}|\^`, and
// percent signs followed by two hex digits). This is the "best-effort IRI
// validation" Data 2.2 permits; it rejects every non-IRI the conformance
// suite sends (no scheme, "ab=c://", spaces, relative references).
func isIRI(s []byte) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if isAlpha(c) || i > 0 && (isDigit(c) || c == '+' || c == '-' || c == '.') {
			continue
		}
		break
	}
	if i == 0 || i >= len(s) || s[i] != ':' || i+1 == len(s) {
		return false
	}
	j := i + 1
	// Four bytes at a time while all are plain (class iriOK is 0).
	for ; j+4 <= len(s); j += 4 {
		if iriClass[s[j]]|iriClass[s[j+1]]|iriClass[s[j+2]]|iriClass[s[j+3]] != iriOK {
			break
		}
	}
	for ; j < len(s); j++ {
		switch iriClass[s[j]] {
		case iriBad:
			return false
		case iriPct:
			if j+2 >= len(s) || !isHexDigit(s[j+1]) || !isHexDigit(s[j+2]) {
				return false
			}
		}
	}
	return true
}

const (
	iriOK uint8 = iota
	iriBad
	iriPct
)

// iriClass classifies the bytes after an IRI's scheme.
var iriClass = func() (t [256]uint8) {
	for c := 0; c <= 0x20; c++ {
		t[c] = iriBad
	}
	for _, c := range "\x7f<>\"{}|\\^`" {
		t[c] = iriBad
	}
	t['%'] = iriPct
	return t
}()

func isAlpha(c byte) bool    { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool    { return '0' <= c && c <= '9' }
func isAlnum(c byte) bool    { return isAlpha(c) || isDigit(c) }
func isHexDigit(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func hexVal(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// parseUUID parses the standard 8-4-4-4-12 hex form, either case.
func parseUUID(s []byte) (UUID, bool) {
	var u UUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
			continue
		}
		a, b := s[i], s[i+1]
		if !isHexDigit(a) || !isHexDigit(b) {
			return u, false
		}
		u[j] = hexVal(a)<<4 | hexVal(b)
		j++
		i += 2
	}
	return u, true
}

// String formats u in the canonical lower-case 8-4-4-4-12 form.
func (u UUID) String() string {
	const hx = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hx[c>>4], hx[c&15]
		j += 2
	}
	return string(b[:])
}

// isHexLen reports whether s is exactly n hex digits.
func isHexLen(s []byte, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !isHexDigit(c) {
			return false
		}
	}
	return true
}

// isSha2 accepts the hex form of SHA-224, -256, -384 and -512 digests.
func isSha2(s []byte) bool {
	switch len(s) {
	case 56, 64, 96, 128:
		return isHexLen(s, len(s))
	}
	return false
}

// isMailto reports whether s is "mailto:" followed by local@domain with no
// white space. The scheme is matched case-insensitively (RFC 3986 3.1).
func isMailto(s []byte) bool {
	if len(s) < 10 || !eqFoldASCII(s[:7], "mailto:") {
		return false
	}
	addr := s[7:]
	at := -1
	for i, c := range addr {
		if c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == '"' {
			return false
		}
		if c == '@' {
			if at >= 0 {
				return false
			}
			at = i
		}
	}
	return at > 0 && at < len(addr)-1
}

func eqFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		d := s[i]
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// isMediaType checks RFC 2046 type "/" subtype with optional ";" parameters.
func isMediaType(s []byte) bool {
	i := 0
	tok := func() int {
		st := i
		for i < len(s) && isTChar(s[i]) {
			i++
		}
		return i - st
	}
	if tok() == 0 || i >= len(s) || s[i] != '/' {
		return false
	}
	i++
	if tok() == 0 {
		return false
	}
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) || s[i] != ';' {
			return false
		}
		i++
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if tok() == 0 || i >= len(s) || s[i] != '=' {
			return false
		}
		i++
		if i < len(s) && s[i] == '"' {
			i++
			for i < len(s) && s[i] != '"' {
				i++
			}
			if i >= len(s) {
				return false
			}
			i++
		} else if tok() == 0 {
			return false
		}
	}
	return true
}

func isTChar(c byte) bool {
	if isAlnum(c) {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// isLangTag checks the RFC 5646 well-formedness of a language tag:
//
//	language ["-" script] ["-" region] *("-" variant) *("-" extension) ["-" privateuse]
//
// or a private-use tag ("x-..."), or one of the irregular grandfathered tags.
// Subtags are compared case-insensitively.
func isLangTag(s []byte) bool {
	switch {
	case len(s) == 0:
		return false
	case len(s) <= 3:
		if len(s) >= 2 && allAlpha(s) { // language alone: "en", "fil"
			return true
		}
	case len(s) <= 6 && s[len(s)-3] == '-':
		// language and region, the usual shape: "en-US", "fil-PH"
		if allAlpha(s[:len(s)-3]) && len(s) >= 5 && isAlpha(s[len(s)-2]) && isAlpha(s[len(s)-1]) {
			return true
		}
	}
	return isLangTagFull(s)
}

// isLangTagFull is isLangTag without the fast paths for common shapes.
func isLangTagFull(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	var subs [32][]byte
	n := 0
	st := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '-' {
			if i == st || n == len(subs) {
				return false
			}
			subs[n] = s[st:i]
			n++
			st = i + 1
			continue
		}
		if !isAlnum(s[i]) {
			return false
		}
	}
	tags := subs[:n]
	for _, t := range tags {
		if len(t) > 8 {
			return false
		}
	}
	if isGrandfathered(s) {
		return true
	}
	if eqFoldASCII(tags[0], "x") {
		return privateUse(tags[1:])
	}
	k := 0
	// language
	l := tags[0]
	if !allAlpha(l) || len(l) < 2 {
		return false
	}
	k = 1
	if len(l) <= 3 {
		// up to three extlang subtags
		for e := 0; e < 3 && k < len(tags) && len(tags[k]) == 3 && allAlpha(tags[k]); e++ {
			k++
		}
	}
	if k < len(tags) && len(tags[k]) == 4 && allAlpha(tags[k]) {
		k++ // script
	}
	if k < len(tags) && (len(tags[k]) == 2 && allAlpha(tags[k]) || len(tags[k]) == 3 && allDigit(tags[k])) {
		k++ // region
	}
	for k < len(tags) && isVariant(tags[k]) {
		k++
	}
	for k < len(tags) && len(tags[k]) == 1 && !eqFoldASCII(tags[k], "x") {
		// extension: singleton 1*("-" 2*8alphanum)
		k++
		m := 0
		for k < len(tags) && len(tags[k]) >= 2 {
			k++
			m++
		}
		if m == 0 {
			return false
		}
	}
	if k < len(tags) && eqFoldASCII(tags[k], "x") {
		return privateUse(tags[k+1:])
	}
	return k == len(tags)
}

func privateUse(tags [][]byte) bool { return len(tags) > 0 } // 1*8alphanum each, checked above

func isVariant(t []byte) bool {
	return len(t) >= 5 || len(t) == 4 && isDigit(t[0])
}

func allAlpha(b []byte) bool {
	for _, c := range b {
		if !isAlpha(c) {
			return false
		}
	}
	return true
}

func allDigit(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

var grandfathered = []string{
	"en-GB-oed", "i-ami", "i-bnn", "i-default", "i-enochian", "i-hak", "i-klingon", "i-lux",
	"i-mingo", "i-navajo", "i-pwn", "i-tao", "i-tay", "i-tsu", "sgn-BE-FR", "sgn-BE-NL", "sgn-CH-DE",
}

func isGrandfathered(s []byte) bool {
	for _, g := range grandfathered {
		if eqFoldASCII(s, g) {
			return true
		}
	}
	return false
}

// tsRules selects the timestamp grammar: xAPI 1.0.3 accepts ISO 8601
// extended or basic format and a missing time zone; 2.0 requires RFC 3339.
type tsRules uint8

const (
	ts103 tsRules = iota
	ts200
	tsEither
)

// parseTimestamp parses an xAPI timestamp and returns unix nanoseconds and
// the rule it broke, if any.
func parseTimestamp(s []byte, rules tsRules) (int64, string) {
	const bad = "must be an ISO 8601 / RFC 3339 date-time, e.g. 2024-03-01T10:00:00.000Z"
	i := 0
	num := func(n int) (int, bool) {
		if i+n > len(s) {
			return 0, false
		}
		v := 0
		for _, c := range s[i : i+n] {
			if !isDigit(c) {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		i += n
		return v, true
	}
	sep := func(c byte) bool {
		if i < len(s) && s[i] == c {
			i++
			return true
		}
		return false
	}
	year, ok := num(4)
	if !ok {
		return 0, bad
	}
	extended := sep('-')
	month, ok := num(2)
	if !ok {
		return 0, bad
	}
	if extended && !sep('-') {
		return 0, bad
	}
	day, ok := num(2)
	if !ok {
		return 0, bad
	}
	if i >= len(s) {
		return 0, "must hold a time as well as a date"
	}
	switch c := s[i]; {
	case c == 'T' || c == 't':
		i++
	case c == ' ' && rules != ts103:
		i++
	default:
		return 0, bad
	}
	hour, ok := num(2)
	if !ok {
		return 0, bad
	}
	if extended && !sep(':') {
		return 0, bad
	}
	minute, ok := num(2)
	if !ok {
		return 0, bad
	}
	if extended && !sep(':') {
		return 0, bad
	}
	sec, ok := num(2)
	if !ok {
		return 0, bad
	}
	var nanos int64
	if i < len(s) && (s[i] == '.' || s[i] == ',') {
		i++
		st := i
		scale := int64(100000000)
		for i < len(s) && isDigit(s[i]) {
			nanos += int64(s[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == st {
			return 0, bad
		}
	}
	offset := 0
	hasZone := false
	if i < len(s) {
		switch c := s[i]; c {
		case 'Z', 'z':
			i++
			hasZone = true
		case '+', '-':
			i++
			oh, ok := num(2)
			if !ok {
				return 0, bad
			}
			om := 0
			if i < len(s) {
				colon := sep(':')
				if colon != extended {
					return 0, "must not mix ISO 8601 basic and extended format"
				}
				if om, ok = num(2); !ok {
					return 0, bad
				}
			} else if rules == ts200 {
				return 0, "time zone offset must be ±hh:mm (RFC 3339)"
			}
			if oh > 23 || om > 59 {
				return 0, "time zone offset out of range"
			}
			if c == '-' && oh == 0 && om == 0 {
				return 0, "must not use the offset -00:00 (unknown local offset); use Z or +00:00"
			}
			offset = oh*3600 + om*60
			if c == '-' {
				offset = -offset
			}
			hasZone = true
		default:
			return 0, bad
		}
	}
	if i != len(s) {
		return 0, bad
	}
	if !hasZone && rules == ts200 {
		return 0, "must carry a time zone (RFC 3339)"
	}
	if !extended && rules == ts200 {
		return 0, "must use the extended format (RFC 3339)"
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return 0, "is not a calendar date"
	}
	if hour > 23 || minute > 59 || sec > 60 {
		return 0, "time of day out of range"
	}
	days := daysFromCivil(year, month, day)
	secs := days*86400 + int64(hour*3600+minute*60+sec) - int64(offset)
	if secs < minUnixSec || secs > maxUnixSec || secs == maxUnixSec && nanos > math.MaxInt64-maxUnixSec*1_000_000_000 {
		return 0, "must lie within the years 1678-2262 (precisely 1677-09-21T00:12:44Z to 2262-04-11T23:47:16Z, the range of int64 unix nanoseconds)"
	}
	return secs*1e9 + nanos, ""
}

// The unix seconds whose nanoseconds fit in an int64 (the range of
// time.Time.UnixNano): minUnixSec*1e9 + any fraction is >= MinInt64; only
// maxUnixSec itself needs a check of its fraction.
const (
	minUnixSec = math.MinInt64 / 1_000_000_000 // 1677-09-21T00:12:44Z
	maxUnixSec = math.MaxInt64 / 1_000_000_000 // 2262-04-11T23:47:16Z
)

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns days since 1970-01-01 (H. Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// parseDuration parses an ISO 8601 duration as Data 4.6 allows it
// (PnYnMnDTnHnMnS or PnW; only the last component may carry a fraction) and
// returns nanoseconds, with years counted as 365 days and months as 30 days.
// The result saturates at math.MaxInt64.
func parseDuration(s []byte) (int64, string) {
	const bad = "must be an ISO 8601 duration, e.g. PT1H30M or P4W"
	if len(s) < 2 || s[0] != 'P' {
		return 0, bad
	}
	const (
		sec  = 1e9
		day  = 86400 * sec
		week = 7 * day
	)
	units := []struct {
		c   byte
		ns  float64
		inT bool
	}{{'Y', 365 * day, false}, {'M', 30 * day, false}, {'W', week, false}, {'D', day, false},
		{'H', 3600 * sec, true}, {'M', 60 * sec, true}, {'S', sec, true}}
	i := 1
	next := 0
	inT := false
	total := 0.0
	comps := 0
	fraction := false
	weeks := false
	tComps := 0
	for i < len(s) {
		if s[i] == 'T' {
			if inT {
				return 0, bad
			}
			inT = true
			i++
			if i == len(s) {
				return 0, "must have at least one component after T"
			}
			for next < len(units) && !units[next].inT {
				next++
			}
			continue
		}
		if fraction {
			return 0, "only the smallest component may have a fraction"
		}
		st := i
		v := 0.0
		for i < len(s) && isDigit(s[i]) {
			v = v*10 + float64(s[i]-'0')
			i++
		}
		if i == st {
			return 0, bad
		}
		if i < len(s) && (s[i] == '.' || s[i] == ',') {
			i++
			fs := i
			scale := 0.1
			for i < len(s) && isDigit(s[i]) {
				v += float64(s[i]-'0') * scale
				scale /= 10
				i++
			}
			if i == fs {
				return 0, bad
			}
			fraction = true
		}
		if i >= len(s) {
			return 0, bad
		}
		c := s[i]
		i++
		found := false
		for next < len(units) {
			u := units[next]
			next++
			if u.c == c && u.inT == inT {
				total += v * u.ns
				found = true
				break
			}
		}
		if !found {
			return 0, bad
		}
		if c == 'W' && !inT {
			weeks = true
		}
		comps++
		if inT {
			tComps++
		}
	}
	if comps == 0 || inT && tComps == 0 {
		return 0, bad
	}
	if weeks && comps > 1 {
		return 0, "weeks (PnW) cannot be combined with other components"
	}
	if total >= math.MaxInt64 {
		return math.MaxInt64, ""
	}
	return int64(total), ""
}
