package schema

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestParserMatchesEncodingJSON checks strings across the 8-byte fast-path
// boundaries against encoding/json, and that malformed input is refused.
func TestParserMatchesEncodingJSON(t *testing.T) {
	var p jparser
	pieces := []string{"a", "é", "\\n", "\\\"", "\\u00e9", "\\ud83d\\ude00", "日本", "/", "\\\\"}
	for n := 0; n < 40; n++ {
		for k, piece := range pieces {
			s := strings.Repeat("x", n) + piece + strings.Repeat("y", k)
			doc := `{"k":"` + s + `"}`
			var want map[string]string
			if err := json.Unmarshal([]byte(doc), &want); err != nil {
				t.Fatal(err)
			}
			root := p.parse([]byte(doc), 8)
			if root < 0 {
				t.Fatalf("%q: %v", doc, p.err)
			}
			got := string(p.str(p.objMembers(root)[0].val))
			if got != want["k"] {
				t.Fatalf("%q: got %q, want %q", doc, got, want["k"])
			}
		}
	}
	for _, bad := range []string{"{\"k\":\"a\x01\"}", "{\"k\":\"" + strings.Repeat("a", 9) + "\x1f\"}", "{\"k\":\"\xff\xfe\"}",
		`{"k":"\x"}`, `{"k":"\u12"}`, `{"k" "v"}`, `{"k":01}`, `{"k":1.}`, `[1,]`, `{"k":tru}`, `{} x`, `"abc`} {
		if p.parse([]byte(bad), 8) >= 0 {
			t.Errorf("%q parsed, want a syntax error", bad)
		}
	}
}
