package schema

import (
	"flag"
	"fmt"
	"strconv"
	"testing"
	"time"
)

// Hostile shapes: one statement whose size is spent on many sibling
// entries that a careless decoder compares pairwise. Each entry has a
// fixed width (zero-padded counter) so that the entry count of the
// largest accepted statement is exact.
type hostileShape struct {
	name   string
	prefix string
	entry  func(i int) string // one entry, without separator
	suffix string
}

var hostileShapes = []hostileShape{
	// Object keys all distinct but the last (a repeat of the first): the
	// object is flagged as holding a duplicate, and the validator must find
	// which key repeats.
	{"dupkeys", `{"actor":{"mbox":"mailto:a@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/answered"},"object":{"id":"http://example.com/q"},"result":{"extensions":{`,
		func(i int) string { return `"http://e.x/` + pad6(i) + `":0` }, `,"http://e.x/000000":1}}}`},
	// Object keys all distinct (valid): the parser's duplicate scan alone.
	{"keys", `{"actor":{"mbox":"mailto:a@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/answered"},"object":{"id":"http://example.com/q"},"result":{"extensions":{`,
		func(i int) string { return `"http://e.x/` + pad6(i) + `":0` }, `}}}`},
	// Interaction components with distinct ids (valid).
	{"components", `{"actor":{"mbox":"mailto:a@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/answered"},"object":{"id":"http://example.com/q","definition":{"interactionType":"choice","choices":[`,
		func(i int) string { return `{"id":"c` + pad6(i) + `"}` }, `]}}}`},
	// The skills extension with distinct skill ids.
	{"skills", `{"actor":{"mbox":"mailto:a@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/answered"},"object":{"id":"http://example.com/q","definition":{"extensions":{"` + ExtSkills + `":[`,
		func(i int) string { return `"s` + pad6(i) + `"` }, `]}}}}`},
	// Context category activities with distinct ids (skills too).
	{"categories", `{"actor":{"mbox":"mailto:a@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/answered"},"object":{"id":"http://example.com/q"},"context":{"contextActivities":{"category":[`,
		func(i int) string { return `{"id":"http://s.x/` + pad6(i) + `"}` }, `]}}}`},
}

func pad6(i int) string {
	s := strconv.Itoa(i)
	for len(s) < 6 {
		s = "0" + s
	}
	return s
}

// build returns the statement with n entries.
func (h hostileShape) build(n int) []byte {
	b := make([]byte, 0, len(h.prefix)+len(h.suffix)+n*(len(h.entry(0))+1))
	b = append(b, h.prefix...)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, h.entry(i)...)
	}
	return append(b, h.suffix...)
}

// maxEntries is the entry count of the largest statement of this shape
// within limit bytes.
func (h hostileShape) maxEntries(limit int) int {
	return (limit - len(h.prefix) - len(h.suffix) + 1) / (len(h.entry(0)) + 1)
}

// perEntry measures Normalize on the n-entry statement and returns the
// cost per entry in ns (the smallest of three runs, against noise from a
// shared machine).
func perEntry(d *Decoder, raw []byte, n int) float64 {
	best := 0.0
	for range 3 {
		r := testing.Benchmark(func(b *testing.B) {
			for b.Loop() {
				d.Normalize(raw, time.Unix(1, 0))
			}
		})
		if ns := float64(r.T.Nanoseconds()) / float64(r.N) / float64(n); best == 0 || ns < best {
			best = ns
		}
	}
	return best
}

// hostileDecoder lifts the skill count limit (32 by default, which rejects
// the skills and categories shapes at the 33rd skill) so that the
// measurements cover the de-duplication of skill ids itself.
func hostileDecoder() *Decoder { return NewDecoder(Options{MaxSkills: 1 << 30}) }

// TestHostileStatementsCostLinear: a statement of the largest accepted
// size whose bytes are all sibling entries (object keys, interaction
// components, skills, category activities) costs per entry about what a
// 1000-entry one costs. A pairwise check makes the largest one cost tens
// of times more per entry; the bound of 4 leaves room for noise and cache
// effects.
func TestHostileStatementsCostLinear(t *testing.T) {
	// testing.Benchmark runs each measurement for -test.benchtime (1s by
	// default); a fifth of that keeps the test short and is plenty for
	// statements that take at most a few milliseconds.
	if f := flag.Lookup("test.benchtime"); f != nil {
		old := f.Value.String()
		if err := f.Value.Set("200ms"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Value.Set(old) })
	}
	d := hostileDecoder()
	for _, h := range hostileShapes {
		t.Run(h.name, func(t *testing.T) {
			nMax := h.maxEntries(DefaultMaxBytes)
			big := h.build(nMax)
			if len(big) > DefaultMaxBytes || len(h.build(nMax+1)) <= DefaultMaxBytes {
				t.Fatalf("maxEntries %d gives %d bytes, not the largest within %d", nMax, len(big), DefaultMaxBytes)
			}
			small := perEntry(d, h.build(1000), 1000)
			large := perEntry(d, big, nMax)
			t.Logf("%s: %.1f ns/entry at 1000 entries, %.1f ns/entry at %d entries (%d bytes)", h.name, small, large, nMax, len(big))
			if large > 4*small {
				t.Errorf("%s: %.1f ns/entry at %d entries vs %.1f at 1000: cost grows faster than linearly", h.name, large, nMax, small)
			}
		})
	}
}

// BenchmarkHostile reports Normalize's cost per entry for the hostile
// shapes at 1k and 16k entries and at the largest accepted size: flat
// ns/entry means linear growth.
func BenchmarkHostile(b *testing.B) {
	d := hostileDecoder()
	for _, h := range hostileShapes {
		for _, n := range []int{1000, 16000, h.maxEntries(DefaultMaxBytes)} {
			raw := h.build(n)
			b.Run(fmt.Sprintf("%s/%d", h.name, n), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(raw)))
				for b.Loop() {
					d.Normalize(raw, time.Unix(1, 0))
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/entry")
			})
		}
	}
	// With the default limit the skills shapes are rejected at the 33rd
	// distinct skill, after parsing and validating the whole statement.
	def := NewDecoder(Options{})
	for _, h := range hostileShapes {
		if h.name != "skills" && h.name != "categories" {
			continue
		}
		n := h.maxEntries(DefaultMaxBytes)
		raw := h.build(n)
		b.Run(fmt.Sprintf("%s-default-limits/%d", h.name, n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := def.Normalize(raw, time.Unix(1, 0)); err == nil {
					b.Fatal("accepted")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/entry")
		})
	}
}
