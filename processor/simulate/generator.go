package simulate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/unpair/unpair/schema"
)

// Message is one statement as it would reach Kafka.
type Message struct {
	Key   []byte    // per Config.Keys: the learner's canonical IFI, random, or nil
	Value []byte    // the statement JSON; owned by the caller
	Time  time.Time // when the LMS sent it: the statement's timestamp, later for a duplicate

	// Ground truth for tests; not part of what Kafka carries.
	Learner   string // the learner's canonical IFI, whatever Keys is
	Defect    Defect // why Value is invalid; "" for a valid statement
	Duplicate bool   // Value was sent before, byte for byte
}

// Stats counts what a Generator has produced so far. The per-verb counts
// (Answered to Voids) count valid statements only, duplicates excluded.
type Stats struct {
	Messages   int
	Invalid    int // messages with a Defect
	Duplicates int
	Sessions   int // sessions started
	Learners   int // distinct learners seen
	Answered   int // valid answered statements
	Correct    int // of which correct
	Passed     int
	Failed     int
	Abandoned  int
	Ratings    int
	LowRatings int // ratings of 1 or 2
	Dislikes   int
	Voids      int
	Bytes      int64 // sum of len(Value)
}

// learner is the simulation state of one learner: a few hundred bytes,
// allocated the first time the learner is picked.
type learner struct {
	index        int
	name         string
	account      string // account name at the LMS
	email        string
	mbox         bool
	ifi          string // canonical IFI
	key          []byte // ifi as a message key, shared by the learner's messages
	registration uuid
	learnRate    float64
	known        []bool
	lastPractice []int64 // unix ms per skill; 0 = never
	cursor       int     // the skill the learner is working towards
	active       bool
	queued       int     // session starts waiting for the current session to end
	history      [4]uuid // recent valid statement ids, for voids
	nhistory     int
}

type step uint8

const (
	stLaunched step = iota
	stInitialized
	stAnswered
	stProgressed
	stScored
	stCompleted
	stRated
	stDisliked
	stVoided
	stTerminated
	stAbandoned
	stDone
)

// session is one learner's visit to one lesson.
type session struct {
	l         *learner
	id        uuid
	skill     int
	start     int64
	questions []int32
	qi        int // questions answered so far
	correct   int
	abandonAt int // answered count at which the learner gives up; -1 = never
	rate      bool
	dislike   bool
	void      bool
	next      step
}

type dup struct {
	value   []byte
	key     []byte
	learner string
}

// item is one heap entry: the next statement of a session, or a duplicate.
type item struct {
	at  int64
	seq uint64 // tie-break, so equal times pop in a fixed order
	s   *session
	d   *dup
}

// Generator yields a cohort's messages in time order. It is not safe for
// concurrent use.
type Generator struct {
	cfg      Config
	cat      *itemCatalog
	rng      *rand.Rand
	zipf     *rand.Zipf
	learners []*learner
	heap     []item
	seq      uint64
	w        writer
	sp       spec

	total       int     // session starts to admit
	admitted    int     // session starts admitted so far
	nextArrival float64 // unix ms of the next session start (fractional: starts can be < 1 ms apart)
	meanGap     float64
	stats       Stats
}

// New returns a Generator for cfg, or the reasons cfg is invalid.
func New(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.HomePage = strings.TrimRight(cfg.HomePage, "/")
	g := &Generator{
		cfg:      cfg,
		rng:      rand.New(rand.NewPCG(cfg.Seed, 0x51a7e5eed)),
		learners: make([]*learner, cfg.Learners),
		total:    cfg.sessions(),
	}
	g.cat = buildCatalog(&g.cfg)
	g.w = writer{b: make([]byte, 0, 4096), cat: g.cat, cfg: &g.cfg}
	if cfg.Distribution == Zipf && cfg.Learners > 1 {
		g.zipf = rand.NewZipf(g.rng, cfg.ZipfS, 1, uint64(cfg.Learners-1))
	}
	g.meanGap = float64(cfg.Span.Milliseconds()) / float64(g.total)
	g.nextArrival = float64(cfg.Start.UnixMilli())
	return g, nil
}

// Catalog returns the content the cohort uses. It is shared; do not modify.
func (g *Generator) Catalog() *Catalog { return &g.cat.Catalog }

// Stats returns what has been produced so far.
func (g *Generator) Stats() Stats { return g.stats }

// Cohort generates a whole cohort at once.
func Cohort(cfg Config) ([]Message, *Catalog, Stats, error) {
	g, err := New(cfg)
	if err != nil {
		return nil, nil, Stats{}, err
	}
	var msgs []Message
	for {
		m, ok := g.Next()
		if !ok {
			return msgs, g.Catalog(), g.stats, nil
		}
		msgs = append(msgs, m)
	}
}

// Next returns the next message in time order, or false when the cohort's
// sessions are all done. The message owns its Value; its Key may be shared
// with other messages of the same learner and must not be modified.
func (g *Generator) Next() (Message, bool) {
	m, _, ok := g.next(nil, false)
	return m, ok
}

// AppendNext is Next for hot loops such as a load generator: it appends
// the statement to dst and returns the message, whose Value aliases the
// appended bytes, and the extended dst. Reusing dst (dst[:0]) after the
// message is sent makes generation allocation-free in the steady state.
func (g *Generator) AppendNext(dst []byte) (Message, []byte, bool) {
	return g.next(dst, true)
}

// next returns the next message; with appendTo its value is appended to dst
// and the extended buffer returned too.
func (g *Generator) next(dst []byte, appendTo bool) (Message, []byte, bool) {
	for {
		for g.admitted < g.total && (len(g.heap) == 0 || int64(g.nextArrival) <= g.heap[0].at) {
			g.admit()
		}
		if len(g.heap) == 0 {
			return Message{}, dst, false
		}
		it := g.pop()
		if it.d != nil {
			g.stats.Messages++
			g.stats.Duplicates++
			g.stats.Bytes += int64(len(it.d.value))
			v := it.d.value
			if appendTo {
				dst = append(dst, v...)
				v = dst[len(dst)-len(v):]
			}
			return Message{Key: it.d.key, Value: v, Time: time.UnixMilli(it.at).UTC(), Learner: it.d.learner, Duplicate: true}, dst, true
		}
		if m, ok := g.advance(it.s, it.at, &dst, appendTo); ok {
			return m, dst, true
		}
	}
}

func (g *Generator) push(it item) {
	g.seq++
	it.seq = g.seq
	h := append(g.heap, it)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !less(&h[i], &h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	g.heap = h
}

func (g *Generator) pop() item {
	h := g.heap
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h[n] = item{}
	h = h[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && less(&h[r], &h[l]) {
			m = r
		}
		if !less(&h[m], &h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	g.heap = h
	return top
}

func less(a, b *item) bool { return a.at < b.at || a.at == b.at && a.seq < b.seq }

// between returns a uniform duration in [lo, hi] milliseconds.
func (g *Generator) between(lo, hi int64) int64 { return lo + g.rng.Int64N(hi-lo+1) }

func (g *Generator) uuid() uuid {
	var u uuid
	a, b := g.rng.Uint64(), g.rng.Uint64()
	for i := range 8 {
		u[i] = byte(a >> (56 - 8*i))
		u[8+i] = byte(b >> (56 - 8*i))
	}
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return u
}

var firstNames = []string{"Ada", "Bilal", "Chen", "Dana", "Emeka", "Fatima", "Giulia", "Hiro", "Ines", "Jonas",
	"Kwame", "Lena", "Mateo", "Nadia", "Oskar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Yara"}
var lastNames = []string{"Okafor", "Lindqvist", "Moreau", "Nakamura", "Haddad", "Kowalski", "Ferreira", "Osei",
	"Novak", "Schmidt", "Ramirez", "Ivanova", "Byrne", "Castillo", "Dubois", "Eriksen", "Gupta"}

func (g *Generator) learner(i int) *learner {
	if l := g.learners[i]; l != nil {
		return l
	}
	first, last := firstNames[i%len(firstNames)], lastNames[(i/len(firstNames))%len(lastNames)]
	l := &learner{
		index:        i,
		name:         first + " " + last,
		account:      fmt.Sprintf("u%07d", i+1),
		email:        fmt.Sprintf("%s.%s.%d@students.example.edu", strings.ToLower(first), strings.ToLower(last), i+1),
		mbox:         g.rng.Float64() < g.cfg.MboxShare,
		registration: g.uuid(),
		// ability: log-normal around 1, so some learn much faster than others
		learnRate:    min(1, g.cfg.LearnRate*math.Exp(0.5*g.rng.NormFloat64())),
		known:        make([]bool, g.cfg.Skills),
		lastPractice: make([]int64, g.cfg.Skills),
	}
	if l.mbox {
		l.ifi = schema.CanonicalMbox("mailto:" + l.email)
	} else {
		l.ifi = schema.CanonicalAccount(g.cfg.HomePage, l.account)
	}
	l.key = []byte(l.ifi)
	g.learners[i] = l
	g.stats.Learners++
	return l
}

// admit takes the next session start off the arrival process.
func (g *Generator) admit() {
	at := int64(g.nextArrival)
	g.admitted++
	g.nextArrival += g.rng.ExpFloat64() * g.meanGap
	var i int
	if g.zipf != nil {
		i = int(g.zipf.Uint64())
	} else {
		i = g.rng.IntN(g.cfg.Learners)
	}
	l := g.learner(i)
	if l.active {
		l.queued++
		return
	}
	g.start(l, at)
}

func (g *Generator) start(l *learner, at int64) {
	cfg := &g.cfg
	l.active = true
	g.stats.Sessions++
	s := &session{l: l, id: g.uuid(), start: at, abandonAt: -1}
	// Mostly the skill the learner is working towards; sometimes a review.
	s.skill = l.cursor
	if g.rng.Float64() < 0.25 {
		s.skill = g.rng.IntN(l.cursor + 1)
	}
	// Forgetting since the skill was last practiced.
	if last := l.lastPractice[s.skill]; l.known[s.skill] && last > 0 {
		gap := float64(at - last)
		if g.rng.Float64() < 1-math.Exp2(-gap/float64(cfg.ForgetHalfLife.Milliseconds())) {
			l.known[s.skill] = false
		}
	}
	n := cfg.QuestionsMin + g.rng.IntN(cfg.QuestionsMax-cfg.QuestionsMin+1)
	pool := g.cat.bySkill[s.skill]
	s.questions = make([]int32, n)
	for i := range s.questions {
		s.questions[i] = pool[g.rng.IntN(len(pool))]
	}
	if g.rng.Float64() < cfg.AbandonShare {
		s.abandonAt = g.rng.IntN(n)
	}
	s.rate = g.rng.Float64() < cfg.RatingShare
	s.dislike = g.rng.Float64() < cfg.DislikeShare
	s.void = g.rng.Float64() < cfg.VoidShare
	s.next = stLaunched
	g.push(item{at: at, s: s})
}

// advance writes the statement of s's current step at time at, schedules
// its next step, and returns the message.
func (g *Generator) advance(s *session, at int64, dst *[]byte, appendTo bool) (Message, bool) {
	cfg := &g.cfg
	l := s.l
	sp := &g.sp
	*sp = spec{id: g.uuid(), at: at, l: l, s: s, content: int32(s.skill), progress: -1}
	cur := s.next
	var wait int64    // ms until the next step
	var count [2]*int // the Stats counters this statement adds to when valid
	switch cur {
	case stLaunched:
		sp.verb = verbLaunched
		s.next, wait = stInitialized, g.between(2000, 6000)
	case stInitialized:
		sp.verb = verbInitialized
		s.next, wait = stAnswered, g.between(20000, 90000)
	case stAnswered:
		q := s.questions[s.qi]
		c := &g.cat.Content[q]
		known := l.known[s.skill]
		p := cfg.Guess * (1 - 0.5*c.Difficulty)
		if known {
			p = 1 - cfg.Slip*(1+0.5*c.Difficulty)
		}
		right := g.rng.Float64() < p
		if !known && g.rng.Float64() < l.learnRate {
			l.known[s.skill] = true
		}
		l.lastPractice[s.skill] = at
		sp.verb, sp.content = verbAnswered, q
		sp.hasScore, sp.lo, sp.hi, sp.hasSuccess, sp.success = true, 0, 1, true, right
		correct := string(rune('a' + q%4))
		sp.response = correct
		if right {
			sp.scaled, sp.raw = 1, 1
			s.correct++
		} else {
			sp.response = string(rune('a' + (q+1+int32(g.rng.IntN(3)))%4))
		}
		sp.duration = g.between(8000, 80000)
		s.qi++
		n := len(s.questions)
		switch {
		case s.qi == s.abandonAt+1 && s.abandonAt >= 0:
			s.next, wait = stAbandoned, g.between(60000, 600000)
		case s.qi == n:
			s.next, wait = stScored, g.between(1000, 3000)
		case s.qi%2 == 0:
			s.next, wait = stProgressed, g.between(300, 1500)
		default:
			s.next, wait = stAnswered, g.between(20000, 90000)
		}
		count[0] = &g.stats.Answered
		if right {
			count[1] = &g.stats.Correct
		}
	case stProgressed:
		sp.verb = verbProgressed
		sp.progress = 100 * s.qi / len(s.questions)
		s.next, wait = stAnswered, g.between(20000, 90000)
	case stScored:
		n := len(s.questions)
		share := float64(s.correct) / float64(n)
		sp.hasScore, sp.scaled, sp.raw, sp.lo, sp.hi = true, share, float64(s.correct), 0, float64(n)
		sp.hasSuccess, sp.success = true, share >= cfg.PassMark
		sp.duration = at - s.start
		if sp.success {
			sp.verb = verbPassed
			count[0] = &g.stats.Passed
			if s.skill == l.cursor && l.cursor < cfg.Skills-1 {
				l.cursor++
			}
		} else {
			sp.verb = verbFailed
			count[0] = &g.stats.Failed
		}
		s.next, wait = stCompleted, g.between(200, 1000)
	case stCompleted:
		sp.verb = verbCompleted
		sp.hasCompletion = true
		sp.duration = at - s.start
		s.next, wait = g.tail(s, stCompleted)
	case stRated:
		sp.verb = verbRated
		stars := 3 + g.rng.IntN(3)
		if g.rng.Float64() < cfg.LowRatingShare {
			stars = 1 + g.rng.IntN(2)
			count[1] = &g.stats.LowRatings
		}
		sp.hasScore, sp.raw, sp.lo, sp.hi, sp.scaled = true, float64(stars), 1, 5, float64(stars-1)/4
		sp.rating = true
		count[0] = &g.stats.Ratings
		s.next, wait = g.tail(s, stRated)
	case stDisliked:
		sp.verb = verbDisliked
		count[0] = &g.stats.Dislikes
		s.next, wait = g.tail(s, stDisliked)
	case stVoided:
		if l.nhistory == 0 { // nothing of this learner's to void yet
			s.next = stTerminated
			g.push(item{at: at, s: s})
			return Message{}, false
		}
		k := min(l.nhistory, len(l.history))
		sp.verb, sp.content, sp.ref = verbVoided, -1, l.history[g.rng.IntN(k)]
		count[0] = &g.stats.Voids
		s.next, wait = g.tail(s, stVoided)
	case stTerminated, stAbandoned:
		sp.verb = verbTerminated
		if cur == stAbandoned {
			sp.verb = verbAbandoned
			count[0] = &g.stats.Abandoned
		}
		sp.duration = at - s.start
		s.next = stDone
	}

	defect := Defect("")
	if g.rng.Float64() < cfg.InvalidShare {
		defect = Defects[g.rng.IntN(len(Defects))]
	}
	raw := g.w.statement(sp, defect)
	if defect == "broken JSON" {
		raw = raw[:len(raw)/4+g.rng.IntN(len(raw)/2)]
	}
	var value []byte
	if appendTo {
		*dst = append(*dst, raw...)
		value = (*dst)[len(*dst)-len(raw):]
	} else {
		value = append(make([]byte, 0, len(raw)), raw...)
	}
	m := Message{Value: value, Time: time.UnixMilli(at).UTC(), Learner: l.ifi, Defect: defect}
	switch cfg.Keys {
	case KeyLearner:
		m.Key = l.key
	case KeyRandom:
		var k [16]byte
		x := g.rng.Uint64()
		for i := range k {
			k[i] = hexdigits[(x>>(4*i))&15]
		}
		m.Key = k[:]
	}
	g.stats.Messages++
	g.stats.Bytes += int64(len(m.Value))
	if defect != "" {
		g.stats.Invalid++
	} else {
		for _, c := range count {
			if c != nil {
				*c++
			}
		}
		if cur != stVoided {
			l.history[l.nhistory%len(l.history)] = sp.id
			l.nhistory++
		}
		if g.rng.Float64() < cfg.DuplicateShare {
			v := m.Value
			if appendTo { // m.Value belongs to the caller's buffer
				v = append([]byte(nil), raw...)
			}
			g.push(item{at: at + g.between(500, 120000), d: &dup{value: v, key: m.Key, learner: l.ifi}})
		}
	}

	if s.next == stDone {
		l.active = false
		if l.queued > 0 {
			l.queued--
			g.start(l, at+g.between(10*60000, 90*60000))
		}
	} else {
		g.push(item{at: at + wait, s: s})
	}
	return m, true
}

// tail picks the step after completion: rating, dislike and void when the
// session has them, in that order, then terminated.
func (g *Generator) tail(s *session, after step) (step, int64) {
	if after < stRated && s.rate {
		return stRated, g.between(5000, 40000)
	}
	if after < stDisliked && s.dislike {
		return stDisliked, g.between(2000, 20000)
	}
	if after < stVoided && s.void {
		return stVoided, g.between(1000, 30000)
	}
	return stTerminated, g.between(1000, 5000)
}
