package store

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/unpair/unpair/processor/decision"
)

// encodeDecisionReference is the encoding/json-based EncodeDecision the
// hand-written encoder replaced: the stored format must not change.
func encodeDecisionReference(d decision.Decision) ([]byte, error) {
	js, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	b := []byte(map[bool]string{true: "1|", false: "0|"}[d.Suppressed])
	b = append(b, d.Reason...)
	b = append(b, '|')
	b = strconv.AppendInt(b, d.Until, 10)
	b = append(b, '|')
	return append(b, js...), nil
}

// pieces of the random strings: every class of character encoding/json
// treats specially, next to plain text.
var stringPieces = []string{"a", "Mastered: 81% chance", " ", "\"", "\\", "<", ">", "&", "\b", "\f", "\n", "\r", "\t",
	"\x00", "\x01", "\x1f", "\x7f", "é", "日本", "😀", "\u2028", "\u2029", "\u2027", "\xff", "\xe2\x80", "\xc3", "\xed\xa0\x80",
	"https://example.org/items/1?x=1&y=<2>", "|", "{}", "'"}

func randomString(r *rand.Rand) string {
	var b strings.Builder
	for range r.IntN(8) {
		if r.IntN(10) == 0 {
			b.WriteByte(byte(r.IntN(256)))
			continue
		}
		b.WriteString(stringPieces[r.IntN(len(stringPieces))])
	}
	return b.String()
}

func randomFloat(r *rand.Rand) float64 {
	switch r.IntN(10) {
	case 0:
		return 0
	case 1:
		return math.Copysign(0, -1)
	case 2:
		return []float64{1e-6, 9.99e-7, 1e-7, 1e20, 1e21, 9.999e20, 1e-300, 5e-324, math.MaxFloat64, -1e-9, 0.1, 1.0 / 3, 123456789.125}[r.IntN(13)]
	case 3:
		return float64(float32(r.Float64()))
	case 4:
		return r.NormFloat64() * math.Pow(10, float64(r.IntN(60)-30))
	}
	return r.Float64()
}

func randomInt(r *rand.Rand) int64 {
	switch r.IntN(4) {
	case 0:
		return 0
	case 1:
		return r.Int64() - math.MaxInt64/2
	}
	return r.Int64N(2_000_000_000_000)
}

func randomDecision(r *rand.Rand) decision.Decision {
	d := decision.Decision{Content: randomString(r) + "c", Suppressed: r.IntN(2) == 0,
		Reason:      decision.Reason(strings.ReplaceAll(randomString(r), "|", "")),
		Explanation: randomString(r), Since: randomInt(r), Until: randomInt(r)}
	ev := &d.Evidence
	ev.Attempts, ev.Correct, ev.Streak = int(randomInt(r)), int(randomInt(r)), int(randomInt(r))
	ev.PKnown, ev.Rating = randomFloat(r), randomFloat(r)
	if r.IntN(3) > 0 {
		ev.Model = randomString(r)
	}
	switch r.IntN(3) {
	case 0:
		ev.Skills = []string{}
	case 1:
		for range r.IntN(4) + 1 {
			ev.Skills = append(ev.Skills, randomString(r))
		}
	}
	ev.LastPractice = randomInt(r)
	return d
}

// TestEncodeDecisionMatchesJSON: the hand-written encoder writes the bytes
// encoding/json wrote, over random decisions (strings needing escapes,
// invalid UTF-8, float edge cases, omitted empty fields), and the result
// decodes back to the decision.
func TestEncodeDecisionMatchesJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	escaped := 0
	for i := range 50000 {
		d := randomDecision(r)
		want, werr := encodeDecisionReference(d)
		got, err := EncodeDecision(d)
		if (err != nil) != (werr != nil) {
			t.Fatalf("case %d %+v: error %v, reference error %v", i, d, err, werr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d %+v:\n got %q\nwant %q", i, d, got, want)
		}
		if bytes.Contains(got, []byte(`\u`)) {
			escaped++
		}
		if _, back, err := DecodeDecision(string(got)); err != nil || !utf8Equal(back, d) {
			t.Fatalf("case %d: decode %v, got %+v", i, err, back)
		}
	}
	if escaped < 10000 {
		t.Fatalf("only %d of the cases needed \\u escapes: the generator is too tame", escaped)
	}
}

// utf8Equal reports whether a decoded decision equals the encoded one.
// Invalid UTF-8 decodes as U+FFFD, so such decisions only need to decode.
func utf8Equal(got, d decision.Decision) bool {
	valid := utf8.ValidString(d.Content) && utf8.ValidString(string(d.Reason)) && utf8.ValidString(d.Explanation) && utf8.ValidString(d.Evidence.Model)
	for _, s := range d.Evidence.Skills {
		valid = valid && utf8.ValidString(s)
	}
	if !valid {
		return true
	}
	if len(d.Evidence.Skills) == 0 {
		d.Evidence.Skills = nil
	}
	return reflect.DeepEqual(got, d)
}

func TestEncodeDecisionRejectsNonFinite(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		for _, field := range []string{"p_known", "rating"} {
			d := decision.Decision{Content: "c"}
			if field == "p_known" {
				d.Evidence.PKnown = f
			} else {
				d.Evidence.Rating = f
			}
			b, err := EncodeDecision(d)
			if err == nil || !strings.Contains(err.Error(), "evidence."+field) || b != nil {
				t.Errorf("%s=%v: got %q, %v; want an error naming evidence.%s", field, f, b, err, field)
			}
			if _, rerr := encodeDecisionReference(d); rerr == nil {
				t.Errorf("%s=%v: encoding/json accepted it", field, f)
			}
		}
	}
}

func TestAppendDecisionAppends(t *testing.T) {
	d := decision.Decision{Content: "c", Reason: decision.Mastered, Suppressed: true, Until: 5}
	b, err := AppendDecision([]byte("prefix"), &d)
	want, _ := EncodeDecision(d)
	if err != nil || string(b) != "prefix"+string(want) {
		t.Fatalf("AppendDecision = %q, %v; want %q", b, err, "prefix"+string(want))
	}
	if b, err := AppendDecision([]byte("p"), &decision.Decision{}); err == nil || string(b) != "p" {
		t.Fatalf("AppendDecision of an invalid decision = %q, %v; want the buffer unchanged and an error", b, err)
	}
}

func FuzzEncodeDecision(f *testing.F) {
	f.Add("c", "mastered", "Mastered: <b>&</b>\u2028", "skill", 0.97, int64(1735689600000))
	f.Add("\xff", "", "\x00\t", "", 1e-7, int64(-1))
	f.Fuzz(func(t *testing.T, content, reason, explanation, skill string, p float64, until int64) {
		d := decision.Decision{Content: content, Reason: decision.Reason(reason), Explanation: explanation, Until: until,
			Evidence: decision.Evidence{PKnown: p, Skills: []string{skill}, Model: skill}}
		got, err := EncodeDecision(d)
		if d.Content == "" || strings.Contains(reason, "|") {
			if err == nil {
				t.Fatalf("%+v: no error", d)
			}
			return
		}
		want, werr := encodeDecisionReference(d)
		if (err != nil) != (werr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("%+v:\n got %q, %v\nwant %q, %v", d, got, err, want, werr)
		}
	})
}

func BenchmarkAppendDecision(b *testing.B) {
	d := decision.Decision{Content: "https://x.org/q1", Suppressed: true, Reason: decision.Mastered, Since: 1735000000000, Until: 1735689600000,
		Explanation: "Mastered: 81% chance you'd answer this right, after 3 of your 4 answers correct; review due 12 Mar 2027.",
		Evidence:    decision.Evidence{Attempts: 4, Correct: 3, PKnown: 0.8132, Streak: 2, Model: "elo", Skills: []string{"fractions"}, LastPractice: 1735000000000}}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendDecision(buf[:0], &d); err != nil {
			b.Fatal(err)
		}
	}
}
