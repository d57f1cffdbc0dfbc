package client

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/store"
	"github.com/unpair/unpair/schema"
)

// Options configure a Client.
type Options struct {
	// Secret is the deployment's learner-key secret (UNPAIR_LEARNER_SECRET),
	// the same the processor uses; needed only for learners given as IFI or
	// actor JSON.
	Secret []byte
	// Prefix is the key prefix the processor writes with; "" = "unpair".
	Prefix string
	// Now is the clock that decides whether a decision's until has passed;
	// nil = time.Now.
	Now func() time.Time
	// Catalog (content -> skills and difficulty; its current snapshot is
	// read at every call) lets the client decide content the learner never
	// touched: such content is suppressed when all its skills are mastered
	// (mastery.Judge over the learner's ":k" skill states). nil: untouched
	// content is always allowed, as only stored decisions count.
	Catalog *catalog.Catalog
}

// Client answers "is this content suppressed for this learner?" from Redis.
// It is safe for concurrent use.
type Client struct {
	rdb    redis.UniversalClient
	schema store.Schema
	keyer  *schema.LearnerKeyer
	now    func() time.Time
	cat    *catalog.Catalog

	unreadable atomic.Uint64 // skill values read as never practised
}

// New returns a client over a redis.Client or redis.ClusterClient.
func New(rdb redis.UniversalClient, opt Options) (*Client, error) {
	if rdb == nil {
		return nil, errors.New("client: redis client: required")
	}
	sc, err := store.NewSchema(opt.Prefix)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	return &Client{rdb: rdb, schema: sc, keyer: schema.NewLearnerKeyer(opt.Secret), now: now, cat: opt.Catalog}, nil
}

// Key returns the learner key of l, as the processor derives it.
func (c *Client) Key(l Learner) (string, error) { return keyOf(c.keyer, l) }

// Suppression is the decision of a content that is suppressed now.
type Suppression struct {
	decision.Decision
	// Derived marks a decision unpair did not store: the learner never
	// touched the content, and the client decided it at read time from the
	// learner's skill states and the catalog (Options.Catalog).
	Derived bool `json:"derived,omitempty"`
}

// Suppressed reports whether content is suppressed for the learner now, in
// one round trip. The decision is the stored one, or, for a content the
// learner never touched whose catalog skills are all mastered, one derived
// at read time (Explain tells the two apart); nil when there is neither. It
// may say Suppressed with an Until in the past, which counts as not
// suppressed.
func (c *Client) Suppressed(ctx context.Context, l Learner, content string) (bool, *decision.Decision, error) {
	key, err := c.Key(l)
	if err != nil {
		return false, nil, err
	}
	r, err := c.fetch(ctx, key, []string{content}, false)
	if err != nil {
		return false, nil, err
	}
	active, _, d, err := r.decided(0, content, true)
	if err != nil {
		return false, nil, err
	}
	return active, d, nil
}

// Filter splits contents into those allowed and those suppressed for the
// learner now, both in the given order, in one round trip: one HMGET of the
// stored decisions, pipelined with one HMGET of the learner's states of the
// contents' catalog skills when a catalog is configured. Only suppressing
// stored decisions are parsed; contents without one are decided from their
// skills (Suppression.Derived).
func (c *Client) Filter(ctx context.Context, l Learner, contents []string) (allowed []string, suppressed []Suppression, err error) {
	key, err := c.Key(l)
	if err != nil {
		return nil, nil, err
	}
	if len(contents) == 0 {
		return nil, nil, nil
	}
	r, err := c.fetch(ctx, key, contents, false)
	if err != nil {
		return nil, nil, err
	}
	allowed = make([]string, 0, len(contents))
	for i, content := range contents {
		active, derived, d, err := r.decided(i, content, false)
		if err != nil {
			return nil, nil, err
		}
		if !active {
			allowed = append(allowed, content)
			continue
		}
		suppressed = append(suppressed, Suppression{Decision: *d, Derived: derived})
	}
	return allowed, suppressed, nil
}

// Explanation is what Explain found about one pair.
type Explanation struct {
	Learner string // learner key
	Content string //
	Found   bool   // unpair has a stored decision on the pair
	Active  bool   // suppressed now (Suppressed and until not passed)
	// Decision is the stored decision; when there is none, the one derived
	// from the learner's skills (Derived) if they say the content is
	// mastered; nil otherwise.
	Decision *decision.Decision
	// Derived: Decision was decided at read time from the learner's skill
	// states and the catalog, for a content the learner never touched.
	Derived    bool
	Engagement *store.Engagement // what the learner did with the content; nil when nothing
}

// Explain returns the decision (stored, or derived from the learner's
// skills) and engagement of one pair and whether it suppresses the content
// now, in one round trip.
func (c *Client) Explain(ctx context.Context, l Learner, content string) (Explanation, error) {
	key, err := c.Key(l)
	if err != nil {
		return Explanation{}, err
	}
	r, err := c.fetch(ctx, key, []string{content}, true)
	if err != nil {
		return Explanation{}, err
	}
	x := Explanation{Learner: key, Content: content}
	x.Active, x.Derived, x.Decision, err = r.decided(0, content, true)
	if err != nil {
		return Explanation{}, err
	}
	x.Found = x.Decision != nil && !x.Derived
	v, err := r.eng.Result()
	switch {
	case errors.Is(err, redis.Nil):
	case err != nil:
		return Explanation{}, fmt.Errorf("cannot read engagement: %w", err)
	default:
		g, err := store.DecodeEngagement(content, v)
		if err != nil {
			return Explanation{}, fmt.Errorf("cannot read engagement: %w", err)
		}
		x.Engagement = &g
	}
	return x, nil
}

// Engagement is one pair's stored engagement; Found is false when the
// learner never did anything with the content (as far as unpair saw).
type Engagement struct {
	Found bool `json:"found"`
	store.Engagement
}

// Engagement returns what the learner did with each content (launches,
// attempts, completions, time spent, progress, first and last seen, ...),
// in the order asked, with one HMGET on the learner's engagement hash.
func (c *Client) Engagement(ctx context.Context, l Learner, contents []string) ([]Engagement, error) {
	key, err := c.Key(l)
	if err != nil {
		return nil, err
	}
	if len(contents) == 0 {
		return nil, nil
	}
	vals, err := c.rdb.HMGet(ctx, c.schema.Keys(key).Engagement, contents...).Result()
	if err != nil {
		return nil, fmt.Errorf("cannot read engagement: %w", err)
	}
	if len(vals) != len(contents) {
		return nil, fmt.Errorf("cannot read engagement: asked %d contents, got %d answers", len(contents), len(vals))
	}
	out := make([]Engagement, len(contents))
	for i, v := range vals {
		out[i].Content = contents[i]
		s, ok := v.(string)
		if !ok { // nil: nothing recorded
			continue
		}
		g, err := store.DecodeEngagement(contents[i], s)
		if err != nil {
			return nil, fmt.Errorf("cannot read engagement: %w", err)
		}
		out[i] = Engagement{Found: true, Engagement: g}
	}
	return out, nil
}

func (c *Client) nowMs() int64 { return c.now().UnixMilli() }

// UnreadableSkills returns how many stored skill values this client could
// not read (a later value format, or damage) and so counted as never
// practised: the content they decide stays allowed. A rising count after
// an upgrade of the processor means this reader needs upgrading too.
func (c *Client) UnreadableSkills() uint64 { return c.unreadable.Load() }
