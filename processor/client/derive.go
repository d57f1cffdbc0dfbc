package client

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/mastery"
	"github.com/unpair/unpair/processor/store"
)

// reads is what one read fetched in its single round trip: the stored
// decisions of the contents asked (HMGET :d) and, when a catalog is
// configured, the learner's states of the union of those contents' catalog
// skills (HMGET :k), decoded on first use.
type reads struct {
	snap   *catalog.Snapshot // nil without a catalog
	now    int64
	dvals  []any // per content: stored decision (string) or nil
	eng    *redis.StringCmd
	names  []string         // skills asked, in first-seen order
	kvals  []any            // per name: stored skill (string) or nil
	skills []*mastery.Skill // per name, once decoded; nil = never practised
	seen   []bool           // per name: decoded
	buf    []*mastery.Skill // scratch: one content's skills, in its order
	bad    *atomic.Uint64   // the client's count of unreadable skill values
}

// fetch reads, in one round trip, the decisions of contents and the skill
// states their catalog skills need; with engagement it also reads content
// 0's engagement (Explain). Without catalog skills to read it sends one
// HMGET (or a pipeline of it and the engagement HGET), as before skills
// existed.
func (c *Client) fetch(ctx context.Context, key string, contents []string, engagement bool) (*reads, error) {
	r := &reads{now: c.nowMs(), bad: &c.unreadable}
	if c.cat != nil {
		r.snap = c.cat.Snapshot()
		for _, content := range contents {
			it, ok := r.snap.Item(content)
			if !ok {
				continue
			}
			for _, s := range it.Skills {
				if r.index(s) < 0 {
					r.names = append(r.names, s)
				}
			}
		}
	}
	k := c.schema.Keys(key)
	if len(r.names) == 0 && !engagement {
		vals, err := c.rdb.HMGet(ctx, k.Decisions, contents...).Result()
		if err != nil {
			return nil, fmt.Errorf("cannot read decisions: %w", err)
		}
		r.dvals = vals
		return r, r.checkLen(len(contents))
	}
	pipe := c.rdb.Pipeline()
	dc := pipe.HMGet(ctx, k.Decisions, contents...)
	var kc *redis.SliceCmd
	if len(r.names) > 0 {
		kc = pipe.HMGet(ctx, k.Skills, r.names...)
	}
	if engagement {
		r.eng = pipe.HGet(ctx, k.Engagement, contents[0])
	}
	_, _ = pipe.Exec(ctx) // each command's error is checked below
	var err error
	if r.dvals, err = dc.Result(); err != nil {
		return nil, fmt.Errorf("cannot read decisions: %w", err)
	}
	if err := r.checkLen(len(contents)); err != nil {
		return nil, err
	}
	if kc != nil {
		if r.kvals, err = kc.Result(); err != nil {
			return nil, fmt.Errorf("cannot read skills: %w", err)
		}
		if len(r.kvals) != len(r.names) {
			return nil, fmt.Errorf("cannot read skills: asked %d skills, got %d answers", len(r.names), len(r.kvals))
		}
		r.skills = make([]*mastery.Skill, len(r.names))
		r.seen = make([]bool, len(r.names))
	}
	return r, nil
}

func (r *reads) checkLen(n int) error {
	if len(r.dvals) != n {
		return fmt.Errorf("cannot read decisions: asked %d contents, got %d answers", n, len(r.dvals))
	}
	return nil
}

// index returns the position of skill name s in r.names, -1 when absent. A
// content has a handful of skills and a read asks at most a few hundred, so
// a linear scan beats building a map.
func (r *reads) index(s string) int {
	for i, n := range r.names {
		if n == s {
			return i
		}
	}
	return -1
}

// skill returns the learner's state of skill name s (nil: never practised).
func (r *reads) skill(s string) (*mastery.Skill, error) {
	i := r.index(s)
	if i < 0 || r.kvals == nil {
		return nil, nil
	}
	if r.seen[i] {
		return r.skills[i], nil
	}
	r.seen[i] = true
	v, ok := r.kvals[i].(string)
	if !ok { // nil: never practised
		return nil, nil
	}
	sk, err := mastery.DecodeSkill(v)
	if err != nil {
		// A value this reader cannot read (a later format, or damage)
		// counts as never practised: the content stays allowed, which is
		// what a reader without skill states would answer, rather than
		// failing every read of the learner.
		r.bad.Add(1)
		return nil, nil
	}
	r.skills[i] = &sk
	return &sk, nil
}

// derive decides a content without a stored decision from its catalog
// skills (mastery.Judge, the rule the engine applies to content with
// skills). It returns a decision only when the skills say mastered: active
// is whether it suppresses now (before the earliest review due); a mastery
// whose review has fallen due comes back as a suppressing decision whose
// Until has passed, as a stored one would. Content not in the catalog,
// without skills, or with a skill not mastered gets no decision (allowed).
func (r *reads) derive(content string) (active bool, d *decision.Decision, err error) {
	if r.snap == nil {
		return false, nil, nil
	}
	it, ok := r.snap.Item(content)
	if !ok || len(it.Skills) == 0 {
		return false, nil, nil
	}
	r.buf = r.buf[:0]
	for _, s := range it.Skills {
		sk, err := r.skill(s)
		if err != nil {
			return false, nil, fmt.Errorf("cannot decide content %q: %w", content, err)
		}
		r.buf = append(r.buf, sk)
	}
	v := mastery.Judge(r.buf, it.Difficulty)
	if !v.Mastered {
		return false, nil, nil
	}
	weak := r.buf[v.Weakest]
	dd := &decision.Decision{
		Content:    content,
		Suppressed: true,
		Reason:     decision.Mastered,
		Since:      v.Last,
		Until:      v.Until,
		Evidence: decision.Evidence{
			Attempts:     weak.Attempts,
			Correct:      weak.Correct,
			Streak:       weak.Streak,
			Model:        weak.Model,
			Skills:       append([]string(nil), it.Skills...), // the catalog's slice is shared
			LastPractice: v.Last,
		},
	}
	if weak.Model != "streak" { // as the engine: a streak is no probability
		dd.Evidence.PKnown = v.Estimate
	}
	dd.Explanation = derivedExplanation(weak, it.Skills[v.Weakest], len(it.Skills), v.Estimate, v.Until)
	return r.now < v.Until, dd, nil
}

// derivedExplanation is the sentence a learner reads for a content decided
// from its skills, phrased as the engine phrases its own mastered
// decisions, naming the weakest skill.
func derivedExplanation(weak *mastery.Skill, name string, nSkills int, est float64, until int64) string {
	name = skillLabel(name)
	b := make([]byte, 0, 160)
	b = append(b, "Mastered its skills: "...)
	switch weak.Model {
	case "streak":
		b = strconv.AppendInt(b, int64(weak.Streak), 10)
		b = append(b, " correct in a row"...)
	case "ewma":
		b = append(b, "recent accuracy "...)
		b = decision.AppendPct(b, est)
	case "elo":
		b = decision.AppendPct(b, est)
		b = append(b, " chance you'd answer this right"...)
	default:
		b = decision.AppendPct(b, est)
		b = append(b, " sure you know "...)
		b = append(b, name...)
		b = weakestOf(b, nSkills)
	}
	b = append(b, ", after "...)
	b = decision.AppendAnswers(b, weak.Correct, weak.Attempts)
	if weak.Model != "bkt" {
		b = append(b, " on "...)
		b = append(b, name...)
		b = weakestOf(b, nSkills)
	}
	b = append(b, "; review due "...)
	b = decision.AppendDay(b, until)
	b = append(b, '.')
	return string(b)
}

// skillLabel is how an explanation names a skill: a skill id that is an
// IRI ("https://lms.example.edu/competencies/adding-fractions") by its
// last path segment with dashes and underscores read as spaces ("adding
// fractions"), any other id as it is.
func skillLabel(id string) string {
	u, err := url.Parse(id)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return id
	}
	seg := strings.TrimRight(u.Path, "/")
	if i := strings.LastIndexByte(seg, '/'); i >= 0 {
		seg = seg[i+1:]
	}
	if seg == "" {
		return id
	}
	if d, err := url.PathUnescape(seg); err == nil {
		seg = d
	}
	return strings.Join(strings.FieldsFunc(seg, func(r rune) bool { return r == '-' || r == '_' || r == ' ' }), " ")
}

// weakestOf notes, for content of several skills, that the named one is
// the weakest.
func weakestOf(b []byte, nSkills int) []byte {
	if nSkills < 2 {
		return b
	}
	b = append(b, " (the weakest of its "...)
	b = strconv.AppendInt(b, int64(nSkills), 10)
	return append(b, " skills)"...)
}

// decided is one content's answer: from its stored decision when there is
// one (the engine's decision of touched content is authoritative), else
// derived from its skills.
func (r *reads) decided(i int, content string, full bool) (active, derived bool, d *decision.Decision, err error) {
	s, ok := r.dvals[i].(string)
	if !ok {
		active, d, err = r.derive(content)
		return active, d != nil, d, err
	}
	h, _, err := store.ParseHead(s)
	if err != nil {
		return false, false, nil, fmt.Errorf("cannot read decision of content %q: %w", content, err)
	}
	active = h.Active(r.now)
	if !active && !full {
		return false, false, nil, nil // Filter parses only suppressing decisions
	}
	_, dd, err := store.DecodeDecision(s)
	if err != nil {
		return false, false, nil, fmt.Errorf("cannot read decision of content %q: %w", content, err)
	}
	return active, false, &dd, nil
}
