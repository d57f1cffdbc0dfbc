package schema

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// refKey is the learner key computed the plain way: crypto/hmac over the
// canonical form the string functions give.
func refKey(secret []byte, canonical string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(canonical))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

func canonicalOf(id ifi) string {
	switch id.kind {
	case ifiMbox:
		return CanonicalMbox(string(id.a))
	case ifiSha1:
		return CanonicalSha1(string(id.a))
	case ifiOpenID:
		return CanonicalOpenID(string(id.a))
	case ifiAccount:
		return CanonicalAccount(string(id.a), string(id.b))
	}
	return ""
}

func TestIFIKeyMatchesCanonicalForms(t *testing.T) {
	secret := []byte("s3cret")
	m := newKeyMAC(secret)
	keyer := NewLearnerKeyer(secret)
	check := func(id ifi) {
		t.Helper()
		want := refKey(secret, canonicalOf(id))
		if got := m.ifiKey(id); got != want {
			t.Errorf("ifiKey(%d %q %q) = %s, want %s (canonical %q)", id.kind, id.a, id.b, got, want, canonicalOf(id))
		}
		if got := keyer.Key(canonicalOf(id)); got != want {
			t.Errorf("Key(%q) = %s, want %s", canonicalOf(id), got, want)
		}
	}
	for _, c := range []ifi{
		{kind: ifiMbox, a: []byte("mailto:alice@example.com")},
		{kind: ifiMbox, a: []byte("MAILTO:Alice@Example.COM")},
		{kind: ifiMbox, a: []byte(" \tmailto:a@b.c\r\n")},
		{kind: ifiMbox, a: []byte("a@b.c")},
		{kind: ifiMbox, a: []byte("mailto:\u00c9lise@example.com")},
		{kind: ifiMbox, a: []byte("mailto:a@b.c\u00a0")},  // NBSP: trimmed by strings.TrimSpace only
		{kind: ifiMbox, a: []byte("mailto:\u0130@x.org")}, // dotted capital I lowers to two runes
		{kind: ifiSha1, a: []byte("ABCDEF0123456789abcdef0123456789ABCDEF01")},
		{kind: ifiSha1, a: []byte(" abcdef0123456789abcdef0123456789abcdef01 ")},
		{kind: ifiOpenID, a: []byte("http://openid.example.org/Me")},
		{kind: ifiOpenID, a: []byte("\vhttp://openid.example.org/\u00fc ")},
		{kind: ifiAccount, a: []byte("https://lms.example.org/"), b: []byte("User-1")},
		{kind: ifiAccount, a: []byte(" https://lms.example.org/// "), b: []byte(" spaced name ")},
		{kind: ifiAccount, a: []byte("https://lms.example.org"), b: []byte("\u00e9l\u00e8ve")},
		{kind: ifiAccount, a: []byte("https://\u00e9cole.example.org/"), b: []byte("1")},
		{kind: ifiAccount, a: nil, b: []byte("no-home")},
		{kind: ifiAccount, a: []byte("/"), b: nil},
	} {
		check(c)
	}
	// Random identifiers over an alphabet rich in the characters the
	// canonical forms treat specially.
	alphabet := []string{"a", "Z", "@", "/", " ", "\t", "\f", "\v", "|", ":", "mailto:", "MailTo:", "\u00c9", "\u00a0", "\u0085", "\u2028", "x"}
	r := rand.New(rand.NewPCG(1, 2))
	gen := func() []byte {
		var b []byte
		for n := r.IntN(12); n > 0; n-- {
			b = append(b, alphabet[r.IntN(len(alphabet))]...)
		}
		return b
	}
	for range 3000 {
		check(ifi{kind: ifiKind(1 + r.IntN(4)), a: gen(), b: gen()})
	}
}

func TestLearnerKeyerKeyConcurrent(t *testing.T) {
	secret := []byte("k")
	keyer := NewLearnerKeyer(secret)
	var zero LearnerKeyer
	var nilKeyer *LearnerKeyer
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				c := "account:https://x.org|" + itoa(g*1000+i)
				if got, want := keyer.Key(c), refKey(secret, c); got != want {
					errs <- c + ": " + got + " want " + want
					return
				}
				if got, want := zero.Key(c), refKey(nil, c); got != want {
					errs <- "zero keyer " + c
					return
				}
				if got, want := nilKeyer.Key(c), refKey(nil, c); got != want {
					errs <- "nil keyer " + c
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestNormalizeAllocations pins the allocations of the hot path (with the
// scratch held, since sync.Pool drops items at random under -race): the
// Evidence's learner and content strings; a verb outside the VerbMap adds
// its string, each skill its string and the slice.
func TestNormalizeAllocations(t *testing.T) {
	d := NewDecoder(Options{Keyer: NewLearnerKeyer([]byte("x"))})
	acct := `{"objectType":"Agent","name":"A","account":{"homePage":"https://lms.example.org","name":"u-1"}}`
	obj := `{"id":"http://example.com/q/1","definition":{"name":{"en-US":"Q"},"type":"http://adlnet.gov/expapi/activities/assessment","interactionType":"choice","choices":[{"id":"a"}]}}`
	ctx := `"context":{"contextActivities":{"category":[{"id":"http://example.com/skill/fractions"},{"id":"https://w3id.org/xapi/cmi5/context/categories/moveon"}]}}`
	res := `"result":{"success":true,"score":{"scaled":0.5,"raw":5,"min":0,"max":10},"duration":"PT1M2.5S"},"timestamp":"2024-05-01T09:20:00.000Z","id":"6fbd600f-d17c-4c74-801e-6e0ab2c8a8b5"`
	cases := []struct {
		name string
		raw  []byte
		want float64
	}{
		{"account, known verb", stmt(acct, VerbPassed, obj, res), 2},
		{"mbox, known verb", stmt(`{"mbox":"mailto:Alice@Example.com"}`, VerbCompleted, obj, res), 2},
		{"unknown verb", stmt(acct, "http://example.com/verbs/pondered", obj, res), 3},
		{"one skill", stmt(acct, VerbPassed, obj, res+","+ctx), 4},
	}
	now := time.Unix(1, 0)
	for _, c := range cases {
		s := d.get()
		got := testing.AllocsPerRun(50, func() {
			root, perr := d.parse(s, c.raw)
			if perr != nil {
				t.Fatal(perr)
			}
			if _, err := d.normalize(s, c.raw, root, now); err != nil {
				t.Fatal(err)
			}
		})
		d.put(s)
		if got != c.want {
			t.Errorf("%s: %v allocations per statement, want %v", c.name, got, c.want)
		}
	}
}

func BenchmarkLearnerKey(b *testing.B) {
	keyer := NewLearnerKeyer([]byte("bench"))
	m := newKeyMAC([]byte("bench"))
	acct := ifi{kind: ifiAccount, a: []byte("https://lms.example.org/"), b: []byte("user-000123")}
	mbox := ifi{kind: ifiMbox, a: []byte("mailto:alice@example.com")}
	b.Run("ifiKey-account", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.ifiKey(acct)
		}
	})
	b.Run("ifiKey-mbox", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.ifiKey(mbox)
		}
	})
	b.Run("LearnerKeyer.Key", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			keyer.Key("account:https://lms.example.org|user-000123")
		}
	})
	b.Run("crypto-hmac-per-call", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			refKey([]byte("bench"), "account:https://lms.example.org|user-000123")
		}
	})
}
