package simulate

import (
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"
)

func TestWriterStringIsJSON(t *testing.T) {
	f := func(s string) {
		t.Helper()
		var w writer
		w.str(s)
		var back string
		if err := json.Unmarshal(w.b, &back); err != nil {
			t.Fatalf("str(%q) = %s: not a JSON string: %v", s, w.b, err)
		}
		want := s
		if !utf8.ValidString(s) {
			want = string([]rune(s)) // invalid bytes become U+FFFD, as encoding/json does
		}
		if back != want {
			t.Fatalf("str(%q) round-trips to %q", s, back)
		}
	}
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "tab\tnew\nline\x00nul\x1f", "Zoë Ångström 日本", "bad \xff byte", "\xe2\x82"} {
		f(s)
	}
}

func FuzzWriterString(f *testing.F) {
	f.Add("a\"b\\c\x01é\xff")
	f.Fuzz(func(t *testing.T, s string) {
		var w writer
		w.str(s)
		if !json.Valid(w.b) {
			t.Fatalf("str(%q) = %s: not valid JSON", s, w.b)
		}
	})
}

func TestWriterTimeMatchesTimeFormat(t *testing.T) {
	var w writer
	base := time.Date(2025, 12, 31, 23, 58, 59, 0, time.UTC).UnixMilli()
	for _, ms := range []int64{base, base + 1, base + 999, base + 1000, base + 61001, base + 120500, 0, -1, -60001} {
		w.b = w.b[:0]
		w.time(ms)
		want := `"` + time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00") + `"`
		if string(w.b) != want {
			t.Errorf("time(%d) = %s, want %s", ms, w.b, want)
		}
	}
}

func TestWriterDuration(t *testing.T) {
	cases := map[int64]string{1: `"PT0.001S"`, 999: `"PT0.999S"`, 1000: `"PT1S"`, 61500: `"PT1M1.500S"`, 3600000: `"PT1H0S"`, 3723004: `"PT1H2M3.004S"`}
	var w writer
	for ms, want := range cases {
		w.b = w.b[:0]
		w.duration(ms)
		if string(w.b) != want || !reDuration.MatchString(want[1:len(want)-1]) {
			t.Errorf("duration(%d) = %s, want %s", ms, w.b, want)
		}
	}
}
