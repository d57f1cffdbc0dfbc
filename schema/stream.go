package schema

import (
	"errors"
	"fmt"
	"io"
	"iter"
)

// Item is one statement read by ReadStream: its raw bytes (valid until the
// next iteration), its 0-based index in the stream, and the 1-based line
// on which it starts.
type Item struct {
	Index int
	Line  int
	Raw   []byte
}

// ReadStream iterates the statements of r, which holds a single statement,
// a JSON array of statements, or a stream of statements separated by
// white space (NDJSON). It splits values with a light scanner (strings,
// escapes and bracket depth) and does not validate them: give each Raw to
// Decoder.Validate or Normalize. A value larger than maxBytes, or input
// that cannot be split, ends the iteration with an error; so does a read
// error. maxBytes <= 0 means DefaultMaxBytes.
func ReadStream(r io.Reader, maxBytes int) iter.Seq2[Item, error] {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return func(yield func(Item, error) bool) {
		s := &splitter{r: r, max: maxBytes, line: 1, buf: make([]byte, 0, 64<<10)}
		s.run(yield)
	}
}

type splitter struct {
	r    io.Reader
	max  int
	buf  []byte
	pos  int // next unread byte in buf
	line int
	eof  bool
	err  error
}

// fill reads more input, keeping buf[keep:]; it returns the shift applied.
func (s *splitter) fill(keep int) (int, bool) {
	if s.eof {
		return 0, false
	}
	if keep > 0 {
		n := copy(s.buf, s.buf[keep:])
		s.buf = s.buf[:n]
		s.pos -= keep
	}
	if len(s.buf) == cap(s.buf) {
		grown := make([]byte, len(s.buf), 2*cap(s.buf))
		copy(grown, s.buf)
		s.buf = grown
	}
	n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
	s.buf = s.buf[:len(s.buf)+n]
	if err != nil {
		s.eof = true
		if !errors.Is(err, io.EOF) {
			s.err = err
		}
	}
	return keep, n > 0 || !s.eof
}

// peek returns the next byte that is not white space, counting lines, or
// false at the end of input.
func (s *splitter) peek() (byte, bool) {
	for {
		for s.pos < len(s.buf) {
			c := s.buf[s.pos]
			switch c {
			case '\n':
				s.line++
				fallthrough
			case ' ', '\t', '\r':
				s.pos++
				continue
			}
			return c, true
		}
		if _, ok := s.fill(s.pos); !ok {
			return 0, false
		}
	}
}

// value scans one JSON value starting at s.pos and returns its bytes.
func (s *splitter) value() ([]byte, error) {
	start := s.pos
	i := s.pos
	depth := 0
	inStr, esc := false, false
	lines := 0
	scalar := false
	for {
		for ; i < len(s.buf); i++ {
			if i-start > s.max {
				return nil, fmt.Errorf("statement larger than %d bytes", s.max)
			}
			c := s.buf[i]
			if c == '\n' {
				lines++
			}
			if inStr {
				switch {
				case esc:
					esc = false
				case c == '\\':
					esc = true
				case c == '"':
					inStr = false
					if depth == 0 {
						i++
						goto done
					}
				}
				continue
			}
			switch c {
			case '"':
				inStr = true
			case '{', '[':
				depth++
			case '}', ']':
				if depth == 0 && scalar {
					goto done
				}
				depth--
				if depth < 0 {
					return nil, fmt.Errorf("unbalanced %q", c)
				}
				if depth == 0 {
					i++
					goto done
				}
			case ' ', '\t', '\r', '\n', ',':
				if depth == 0 && scalar {
					goto done
				}
			default:
				if depth == 0 {
					scalar = true
				}
			}
		}
		shift, ok := s.fill(start)
		i -= shift
		start -= shift
		if !ok {
			if depth == 0 && scalar {
				goto done
			}
			return nil, errors.New("unexpected end of input inside a statement")
		}
	}
done:
	s.pos = i
	raw := s.buf[start:i]
	s.line += lines
	return raw, nil
}

func (s *splitter) run(yield func(Item, error) bool) {
	c, ok := s.peek()
	if !ok {
		if s.err != nil {
			yield(Item{}, s.err)
		}
		return
	}
	array := c == '['
	if array {
		s.pos++
	}
	for idx := 0; ; idx++ {
		c, ok = s.peek()
		if !ok {
			switch {
			case s.err != nil:
				yield(Item{Index: idx, Line: s.line}, s.err)
			case array:
				yield(Item{Index: idx, Line: s.line}, errors.New("unexpected end of input: the array is not closed"))
			}
			return
		}
		if array && c == ']' && idx == 0 {
			s.pos++
			s.trailing(yield, idx)
			return
		}
		line := s.line
		raw, err := s.value()
		if err != nil {
			yield(Item{Index: idx, Line: line}, err)
			return
		}
		if !yield(Item{Index: idx, Line: line, Raw: raw}, nil) {
			return
		}
		if !array {
			continue
		}
		c, ok = s.peek()
		switch {
		case ok && c == ',':
			s.pos++
		case ok && c == ']':
			s.pos++
			s.trailing(yield, idx+1)
			return
		default:
			yield(Item{Index: idx + 1, Line: s.line}, errors.New("',' or ']' expected between array elements"))
			return
		}
	}
}

func (s *splitter) trailing(yield func(Item, error) bool, idx int) {
	if _, ok := s.peek(); ok {
		yield(Item{Index: idx, Line: s.line}, errors.New("unexpected data after the closing ']'"))
	} else if s.err != nil {
		yield(Item{Index: idx, Line: s.line}, s.err)
	}
}
