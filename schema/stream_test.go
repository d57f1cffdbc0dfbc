package schema

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func TestReadStream(t *testing.T) {
	f := func(name, in string, want string) {
		t.Helper()
		var got []string
		// OneByteReader forces every refill path of the splitter.
		for it, err := range ReadStream(iotest.OneByteReader(strings.NewReader(in)), 64) {
			if err != nil {
				got = append(got, "err@"+itoa(it.Index)+":"+itoa(it.Line))
				break
			}
			got = append(got, itoa(it.Index)+"@"+itoa(it.Line)+"="+string(it.Raw))
		}
		if g := strings.Join(got, " "); g != want {
			t.Errorf("%s: got %q, want %q", name, g, want)
		}
	}
	f("single", "\n {\"a\": \"}\\\"\"}\n", `0@2={"a": "}\""}`)
	f("array", "[ {\"a\":1},\n{\"b\":[2]} ]", `0@1={"a":1} 1@2={"b":[2]}`)
	f("ndjson", "{\"a\":1}\n{\"b\":2}\n\n{\"c\":3}\n", `0@1={"a":1} 1@2={"b":2} 2@4={"c":3}`)
	f("scalars in array", "[1,null]", `0@1=1 1@1=null`)
	f("empty array", "[]", ``)
	f("empty input", "  \n", ``)
	f("unclosed array", "[{\"a\":1}", `0@1={"a":1} err@1:1`)
	f("unclosed object", "{\"a\":1", `err@0:1`)
	f("too large", "{\"a\":\""+strings.Repeat("x", 100)+"\"}", `err@0:1`)
	f("garbage between", "[{\"a\":1} {\"b\":2}]", `0@1={"a":1} err@1:1`)
}

func TestReadStreamReadError(t *testing.T) {
	r := io.MultiReader(strings.NewReader(`{"a":1}`+"\n"), iotest.ErrReader(io.ErrUnexpectedEOF))
	n, errs := 0, 0
	for _, err := range ReadStream(r, 0) {
		if err != nil {
			errs++
			continue
		}
		n++
	}
	if n != 1 || errs != 1 {
		t.Errorf("%d statements, %d errors; want 1 and 1", n, errs)
	}
}
