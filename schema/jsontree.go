package schema

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// This file holds the token-level JSON reader the validator runs on. It
// parses one document into a flat arena (nodes, object members, array
// elements) that is reused from call to call, so the hot path allocates
// nothing for the tree itself. Unlike encoding/json it keeps every member
// of an object, so duplicate keys are visible, and it enforces the size and
// depth limits before any work is done.

type jkind uint8

const (
	jNull jkind = iota
	jFalse
	jTrue
	jNumber
	jString
	jObject
	jArray
)

func (k jkind) String() string {
	switch k {
	case jNull:
		return "null"
	case jFalse, jTrue:
		return "a boolean"
	case jNumber:
		return "a number"
	case jString:
		return "a string"
	case jObject:
		return "an object"
	case jArray:
		return "an array"
	}
	return "unknown"
}

// jnode is one JSON value. The arena holds no pointers (every reference is
// an int32 index or byte offset), so the GC neither scans it nor runs write
// barriers while the parser appends to it.
//
// lo and n index p.members (objects) or p.elems (arrays). For a string, lo
// and n are a span (see span): its decoded bytes. For a number, they are
// the span of its raw text in the source.
type jnode struct {
	kind       jkind
	dup        bool // object with a repeated key
	lo, n      int32
	start, end int32 // byte span in the source document
}

// jmember is one member of an object: the key's span (see span) and the
// value's node index.
type jmember struct {
	off, n int32
	val    int32
}

// syntaxError is a malformed document; it stops parsing.
type syntaxError struct {
	off    int
	msg    string
	reason Reason
}

func (e *syntaxError) Error() string { return fmt.Sprintf("byte %d: %s", e.off, e.msg) }

type jparser struct {
	src      []byte
	pos      int
	depth    int
	maxDepth int

	nodes   []jnode
	members []jmember
	elems   []int32
	stackM  []jmember // members of objects still open
	stackE  []int32   // elements of arrays still open
	buf     []byte    // decoded strings that carried escapes
	err     *syntaxError
	errBuf  syntaxError
	dups    dupIndex // duplicate keys of large objects (hasDup, validator.obj)
}

// parse reads src as exactly one JSON value (surrounding white space
// allowed) and returns the root node index, or -1 with p.err set.
func (p *jparser) parse(src []byte, maxDepth int) int32 {
	p.src = src
	p.pos = 0
	p.depth = 0
	p.maxDepth = maxDepth
	p.nodes = p.nodes[:0]
	p.members = p.members[:0]
	p.elems = p.elems[:0]
	p.stackM = p.stackM[:0]
	p.stackE = p.stackE[:0]
	p.buf = p.buf[:0]
	p.err = nil
	p.skipSpace()
	root := p.value()
	if p.err != nil {
		return -1
	}
	p.skipSpace()
	if p.pos != len(p.src) {
		p.fail(ReasonMalformed, "unexpected data after the JSON value")
		return -1
	}
	return root
}

func (p *jparser) fail(r Reason, msg string) {
	if p.err == nil {
		p.errBuf = syntaxError{off: p.pos, msg: msg, reason: r}
		p.err = &p.errBuf
	}
}

func (p *jparser) skipSpace() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jparser) value() int32 {
	if p.pos >= len(p.src) {
		p.fail(ReasonMalformed, "unexpected end of input")
		return -1
	}
	start := p.pos
	switch c := p.src[p.pos]; c {
	case '{':
		return p.object()
	case '[':
		return p.array()
	case '"':
		off, n, ok := p.string()
		if !ok {
			return -1
		}
		p.nodes = append(p.nodes, jnode{kind: jString, lo: off, n: n, start: int32(start), end: int32(p.pos)})
		return int32(len(p.nodes) - 1)
	case 't':
		return p.literal("true", jTrue)
	case 'f':
		return p.literal("false", jFalse)
	case 'n':
		return p.literal("null", jNull)
	default:
		if c == '-' || '0' <= c && c <= '9' {
			return p.number()
		}
		p.fail(ReasonMalformed, fmt.Sprintf("unexpected character %q", c))
		return -1
	}
}

func (p *jparser) literal(word string, k jkind) int32 {
	if !bytes.HasPrefix(p.src[p.pos:], []byte(word)) {
		p.fail(ReasonMalformed, "invalid literal, expected "+word)
		return -1
	}
	p.nodes = append(p.nodes, jnode{kind: k, start: int32(p.pos), end: int32(p.pos + len(word))})
	p.pos += len(word)
	return int32(len(p.nodes) - 1)
}

func (p *jparser) number() int32 {
	start := p.pos
	s := p.src
	i := p.pos
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	default:
		p.pos = i
		p.fail(ReasonMalformed, "invalid number")
		return -1
	}
	if i < len(s) && s[i] == '.' {
		i++
		d := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == d {
			p.pos = i
			p.fail(ReasonMalformed, "invalid number: digits expected after '.'")
			return -1
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == d {
			p.pos = i
			p.fail(ReasonMalformed, "invalid number: digits expected in exponent")
			return -1
		}
	}
	p.nodes = append(p.nodes, jnode{kind: jNumber, lo: int32(start), n: int32(i - start), start: int32(start), end: int32(i)})
	p.pos = i
	return int32(len(p.nodes) - 1)
}

const (
	swarLo = 0x0101010101010101
	swarHi = 0x8080808080808080
)

// span returns the bytes of a span: src[off:off+n] when off >= 0 (a string
// without escapes, a number), else p.buf[^off:^off+n] (a decoded string).
func (p *jparser) span(off, n int32) []byte {
	if off >= 0 {
		return p.src[off : off+n : off+n]
	}
	off = ^off
	return p.buf[off : off+n : off+n]
}

// key returns the key of member m.
func (p *jparser) key(m jmember) []byte { return p.span(m.off, m.n) }

// str returns the decoded bytes of string node i or the raw text of number
// node i; nil for other kinds.
func (p *jparser) str(i int32) []byte {
	n := &p.nodes[i]
	if n.kind != jString && n.kind != jNumber {
		return nil
	}
	return p.span(n.lo, n.n)
}

// string reads a JSON string at p.pos (which holds the opening quote) and
// returns the span of its decoded bytes (see span): in src when it has no
// escapes, else in p.buf.
func (p *jparser) string() (int32, int32, bool) {
	s := p.src
	i := p.pos + 1
	start := i
	ascii := true
	for i < len(s) {
		// Skip 8 plain bytes at a time: none is '"', '\\', a control
		// character or non-ASCII. A word holding one stops at its first:
		// the lowest flagged byte is always a true match (a false flag
		// only comes from a borrow out of a matching byte below it).
		for i+8 <= len(s) {
			w := binary.LittleEndian.Uint64(s[i:])
			q := w ^ (swarLo * '"')
			b := w ^ (swarLo * '\\')
			if m := ((q-swarLo)&^q | (b-swarLo)&^b | (w-swarLo*0x20)&^w | w) & swarHi; m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c == '"' {
			if !ascii && !utf8.Valid(s[start:i]) {
				p.fail(ReasonMalformed, "invalid UTF-8 in string")
				return 0, 0, false
			}
			p.pos = i + 1
			return int32(start), int32(i - start), true
		}
		if c == '\\' {
			return p.stringSlow(start, i)
		}
		if c < 0x20 {
			p.pos = i
			p.fail(ReasonMalformed, "control character in string")
			return 0, 0, false
		}
		if c >= 0x80 {
			ascii = false
		}
		i++
	}
	p.pos = i
	p.fail(ReasonMalformed, "unterminated string")
	return 0, 0, false
}

func (p *jparser) stringSlow(start, i int) (int32, int32, bool) {
	s := p.src
	b0 := len(p.buf)
	p.buf = append(p.buf, s[start:i]...)
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			if !utf8.Valid(p.buf[b0:]) {
				p.pos = i
				p.fail(ReasonMalformed, "invalid UTF-8 in string")
				return 0, 0, false
			}
			p.pos = i + 1
			return ^int32(b0), int32(len(p.buf) - b0), true
		case c < 0x20:
			p.pos = i
			p.fail(ReasonMalformed, "control character in string")
			return 0, 0, false
		case c != '\\':
			p.buf = append(p.buf, c)
			i++
			continue
		}
		if i+1 >= len(s) {
			break
		}
		e := s[i+1]
		i += 2
		switch e {
		case '"', '\\', '/':
			p.buf = append(p.buf, e)
		case 'b':
			p.buf = append(p.buf, '\b')
		case 'f':
			p.buf = append(p.buf, '\f')
		case 'n':
			p.buf = append(p.buf, '\n')
		case 'r':
			p.buf = append(p.buf, '\r')
		case 't':
			p.buf = append(p.buf, '\t')
		case 'u':
			r, ok := hex4(s, i)
			if !ok {
				p.pos = i
				p.fail(ReasonMalformed, "invalid \\u escape")
				return 0, 0, false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok2 := rune(0), false
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2, ok2 = hex4(s, i+2)
				}
				if d := utf16.DecodeRune(r, r2); ok2 && d != utf8.RuneError {
					r = d
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			p.buf = utf8.AppendRune(p.buf, r)
		default:
			p.pos = i - 1
			p.fail(ReasonMalformed, fmt.Sprintf("invalid escape \\%c", e))
			return 0, 0, false
		}
	}
	p.pos = len(s)
	p.fail(ReasonMalformed, "unterminated string")
	return 0, 0, false
}

func hex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func (p *jparser) enter() bool {
	p.depth++
	if p.depth > p.maxDepth {
		p.fail(ReasonTooDeep, fmt.Sprintf("nesting deeper than %d levels", p.maxDepth))
		return false
	}
	return true
}

func (p *jparser) object() int32 {
	start := p.pos
	if !p.enter() {
		return -1
	}
	p.pos++ // {
	base := len(p.stackM)
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == '}' {
		p.pos++
	} else {
		for {
			p.skipSpace()
			if p.pos >= len(p.src) || p.src[p.pos] != '"' {
				p.fail(ReasonMalformed, "object key expected")
				return -1
			}
			koff, kn, ok := p.string()
			if !ok {
				return -1
			}
			p.skipSpace()
			if p.pos >= len(p.src) || p.src[p.pos] != ':' {
				p.fail(ReasonMalformed, "':' expected after object key")
				return -1
			}
			p.pos++
			p.skipSpace()
			v := p.value()
			if v < 0 {
				return -1
			}
			p.stackM = append(p.stackM, jmember{off: koff, n: kn, val: v})
			p.skipSpace()
			if p.pos >= len(p.src) {
				p.fail(ReasonMalformed, "unexpected end of input in object")
				return -1
			}
			if c := p.src[p.pos]; c == ',' {
				p.pos++
				continue
			} else if c == '}' {
				p.pos++
				break
			}
			p.fail(ReasonMalformed, "',' or '}' expected in object")
			return -1
		}
	}
	p.depth--
	ms := p.stackM[base:]
	lo := len(p.members)
	p.members = append(p.members, ms...)
	p.stackM = p.stackM[:base]
	p.nodes = append(p.nodes, jnode{kind: jObject, dup: p.hasDup(p.members[lo:]),
		lo: int32(lo), n: int32(len(ms)), start: int32(start), end: int32(p.pos)})
	return int32(len(p.nodes) - 1)
}

func (p *jparser) hasDup(ms []jmember) bool {
	if len(ms) < 2 {
		return false
	}
	if len(ms) <= smallDup {
		for i := 1; i < len(ms); i++ {
			for j := 0; j < i; j++ {
				if ms[i].n == ms[j].n && bytes.Equal(p.key(ms[i]), p.key(ms[j])) {
					return true
				}
			}
		}
		return false
	}
	p.dups.reset(len(ms))
	for _, m := range ms {
		if p.dups.seen(p, m.off, m.n, true) {
			return true
		}
	}
	return false
}

func (p *jparser) array() int32 {
	start := p.pos
	if !p.enter() {
		return -1
	}
	p.pos++ // [
	base := len(p.stackE)
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ']' {
		p.pos++
	} else {
		for {
			p.skipSpace()
			v := p.value()
			if v < 0 {
				return -1
			}
			p.stackE = append(p.stackE, v)
			p.skipSpace()
			if p.pos >= len(p.src) {
				p.fail(ReasonMalformed, "unexpected end of input in array")
				return -1
			}
			if c := p.src[p.pos]; c == ',' {
				p.pos++
				continue
			} else if c == ']' {
				p.pos++
				break
			}
			p.fail(ReasonMalformed, "',' or ']' expected in array")
			return -1
		}
	}
	p.depth--
	es := p.stackE[base:]
	lo := len(p.elems)
	p.elems = append(p.elems, es...)
	p.stackE = p.stackE[:base]
	p.nodes = append(p.nodes, jnode{kind: jArray, lo: int32(lo), n: int32(len(es)), start: int32(start), end: int32(p.pos)})
	return int32(len(p.nodes) - 1)
}

// members returns the members of object node i.
func (p *jparser) objMembers(i int32) []jmember {
	n := &p.nodes[i]
	return p.members[n.lo : n.lo+n.n]
}

// arrElems returns the element node indexes of array node i.
func (p *jparser) arrElems(i int32) []int32 {
	n := &p.nodes[i]
	return p.elems[n.lo : n.lo+n.n]
}

// num parses number node i.
func (p *jparser) num(i int32) (float64, bool) {
	b := p.str(i)
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
	if err != nil { // only range errors reach here: the grammar was checked
		return f, false
	}
	return f, true
}

// bstr views b as a string without copying; the result must not outlive
// the parser's next reset and must not be retained in Evidence.
func bstr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
