package schema

import (
	"testing"
	"time"
)

func TestFormats(t *testing.T) {
	type c struct {
		in   string
		want bool
	}
	check := func(name string, fn func([]byte) bool, cases []c) {
		t.Helper()
		for _, x := range cases {
			if got := fn([]byte(x.in)); got != x.want {
				t.Errorf("%s(%q) = %v, want %v", name, x.in, got, x.want)
			}
		}
	}
	check("isIRI", isIRI, []c{{"http://a.b/c", true}, {"urn:uuid:1", true}, {"ispring://x", true}, {"block-v1:edX+D", true},
		{"http://例え.jp/パス", true}, {"http://a/%zz", false}, {"http://a/%2F", true}, {"ab=c://x", false}, {"#frag", false},
		{"www.x.com/a", false}, {"http://a b", false}, {"x:", false}, {"", false}, {"1http://a", false}})
	check("isLangTag", isLangTag, []c{{"en", true}, {"en-US", true}, {"und", true}, {"sr-Cyrl", true}, {"zh-Hans-CN", true},
		{"es-419", true}, {"de-CH-1901", true}, {"x-private", true}, {"en-a-bbb-x-a", true}, {"i-klingon", true}, {"cmn", true},
		{"en-", false}, {"en_US", false}, {"de-419-DE", false}, {"something", false}, {"a12345678", false}, {"", false}, {"e", false}, {"en-a", false}})
	check("isMailto", isMailto, []c{{"mailto:a@b.c", true}, {"MAILTO:A@B.C", true}, {"mailto:a.b.c", false}, {"a@b.c", false},
		{"mailto:@b.c", false}, {"mailto:a@", false}, {"mailto:a b@c.d", false}})
	check("isMediaType", isMediaType, []c{{"text/plain", true}, {"text/plain; charset=ascii", true},
		{"application/vnd.openxmlformats-officedocument.wordprocessingml.document", true}, {`a/b; q="x y"`, true},
		{"plain text", false}, {"text/", false}, {"text/plain;", false}})
	check("isSha2", isSha2, []c{{"495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a", true}, {"Q3lxN0R1NQ==", false}})
}

func TestParseTimestamp(t *testing.T) {
	f := func(in string, rules tsRules, want time.Time, wantOK bool) {
		t.Helper()
		got, rule := parseTimestamp([]byte(in), rules)
		if (rule == "") != wantOK {
			t.Errorf("%q: rule %q, want ok=%v", in, rule, wantOK)
			return
		}
		if wantOK && got != want.UnixNano() {
			t.Errorf("%q = %v, want %v", in, time.Unix(0, got).UTC(), want)
		}
	}
	utc := func(y, mo, d, h, mi, s, ns int) time.Time {
		return time.Date(y, time.Month(mo), d, h, mi, s, ns, time.UTC)
	}
	f("2024-03-01T10:00:00.123Z", ts200, utc(2024, 3, 1, 10, 0, 0, 123e6), true)
	f("2023-05-04T12:00:00-05:00", ts200, utc(2023, 5, 4, 17, 0, 0, 0), true)
	f("2016-11-22T16:50:25.3868080Z", ts200, utc(2016, 11, 22, 16, 50, 25, 386808000), true)
	f("1969-12-31T23:59:59Z", ts200, utc(1969, 12, 31, 23, 59, 59, 0), true)
	f("2000-02-29T00:00:00Z", ts200, utc(2000, 2, 29, 0, 0, 0, 0), true)
	f("20090131T230000-0100", ts103, utc(2009, 2, 1, 0, 0, 0, 0), true)
	f("20090131T230000-0100", ts200, time.Time{}, false)
	f("2015-11-18T12:17:00", ts103, utc(2015, 11, 18, 12, 17, 0, 0), true)
	f("2015-11-18T12:17:00", ts200, time.Time{}, false)
	f("2015-11-18 12:17:00Z", ts200, utc(2015, 11, 18, 12, 17, 0, 0), true)
	f("2015-11-18 12:17:00Z", ts103, time.Time{}, false)
	f("1900-02-29T00:00:00Z", tsEither, time.Time{}, false)
	f("2008-09-15T15:53:00.601-00:00", tsEither, time.Time{}, false)
	f("2008-09-15T24:00:00Z", tsEither, time.Time{}, false)
	f("2008-09-15T15:53:00.Z", tsEither, time.Time{}, false)
}

func TestParseDuration(t *testing.T) {
	f := func(in string, want time.Duration, wantOK bool) {
		t.Helper()
		got, rule := parseDuration([]byte(in))
		if (rule == "") != wantOK || wantOK && time.Duration(got) != want {
			t.Errorf("%q = %v (rule %q), want %v ok=%v", in, time.Duration(got), rule, want, wantOK)
		}
	}
	day := 24 * time.Hour
	f("PT1H0M0S", time.Hour, true)
	f("PT0H1M31S", 91*time.Second, true)
	f("PT03M15S", 195*time.Second, true)
	f("PT16559.14S", 16559140*time.Millisecond, true)
	f("P4W", 28*day, true)
	f("P1DT12H", 36*time.Hour, true)
	f("P1Y", 365*day, true)
	f("P1M", 30*day, true)
	f("P0.5D", 12*time.Hour, true)
	f("PT1,5S", 1500*time.Millisecond, true)
	f("P99999999999Y", 1<<63-1, true)
	for _, bad := range []string{"P", "PT", "P1H", "PT1D", "P1S", "P4W1D", "P1.5DT1S", "P1D1Y", "-PT1H", "P1DT", "PT1M1H", "P.5D", "P1"} {
		f(bad, 0, false)
	}
}

func TestUUID(t *testing.T) {
	u, ok := parseUUID([]byte("FD41C918-b88b-4B20-A0A5-A4C32391AAA0"))
	if !ok || u.String() != "fd41c918-b88b-4b20-a0a5-a4c32391aaa0" {
		t.Errorf("parseUUID = %v %v", u, ok)
	}
	for _, bad := range []string{"", "fd41c918b88b4b20a0a5a4c32391aaa0", "{fd41c918-b88b-4b20-a0a5-a4c32391aaa0}", "gd41c918-b88b-4b20-a0a5-a4c32391aaa0"} {
		if _, ok := parseUUID([]byte(bad)); ok {
			t.Errorf("parseUUID(%q) accepted", bad)
		}
	}
}

// TestFormatFastPaths compares the fast paths of isLangTag and isIRI with
// the plain definitions on every short string over an alphabet of the
// characters that matter to them.
func TestFormatFastPaths(t *testing.T) {
	isIRIPlain := func(s []byte) bool {
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
		for j := i + 1; j < len(s); j++ {
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
	var walk func(prefix []byte, alphabet string, depth int, fn func([]byte))
	walk = func(prefix []byte, alphabet string, depth int, fn func([]byte)) {
		fn(prefix)
		if depth == 0 {
			return
		}
		for i := 0; i < len(alphabet); i++ {
			walk(append(prefix, alphabet[i]), alphabet, depth-1, fn)
		}
	}
	n := 0
	walk(nil, "aZ1-xi", 7, func(s []byte) {
		n++
		if got, want := isLangTag(s), isLangTagFull(s); got != want {
			t.Errorf("isLangTag(%q) = %v, plain definition says %v", s, got, want)
		}
	})
	for _, head := range []string{"", "h:", "urn:x"} {
		walk([]byte(head), "a% F<:", 7, func(s []byte) {
			n++
			if got, want := isIRI(s), isIRIPlain(s); got != want {
				t.Errorf("isIRI(%q) = %v, plain definition says %v", s, got, want)
			}
		})
	}
	if n < 100000 {
		t.Fatalf("only %d strings compared", n)
	}
}
