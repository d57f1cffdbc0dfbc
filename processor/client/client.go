package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

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
}

// Client answers "is this content suppressed for this learner?" from Redis.
// It is safe for concurrent use.
type Client struct {
	rdb    redis.UniversalClient
	schema store.Schema
	keyer  *schema.LearnerKeyer
	now    func() time.Time
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
	return &Client{rdb: rdb, schema: sc, keyer: schema.NewLearnerKeyer(opt.Secret), now: now}, nil
}

// Key returns the learner key of l, as the processor derives it.
func (c *Client) Key(l Learner) (string, error) { return keyOf(c.keyer, l) }

// Suppression is the decision of a content that is suppressed now.
type Suppression struct {
	decision.Decision
}

// Suppressed reports whether content is suppressed for the learner now,
// with one HGET. The decision is the stored one (nil when unpair never
// decided on the pair); it may say Suppressed with an Until in the past,
// which counts as not suppressed.
func (c *Client) Suppressed(ctx context.Context, l Learner, content string) (bool, *decision.Decision, error) {
	key, err := c.Key(l)
	if err != nil {
		return false, nil, err
	}
	v, err := c.rdb.HGet(ctx, c.schema.DecisionsKey(key), content).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil, nil
	}
	if err != nil {
		return false, nil, fmt.Errorf("cannot read decision: %w", err)
	}
	h, d, err := store.DecodeDecision(v)
	if err != nil {
		return false, nil, fmt.Errorf("cannot read decision of content %q: %w", content, err)
	}
	return h.Active(c.nowMs()), &d, nil
}

// Filter splits contents into those allowed and those suppressed for the
// learner now, both in the given order, with one HMGET. Only suppressed
// contents' decisions are parsed.
func (c *Client) Filter(ctx context.Context, l Learner, contents []string) (allowed []string, suppressed []Suppression, err error) {
	key, err := c.Key(l)
	if err != nil {
		return nil, nil, err
	}
	if len(contents) == 0 {
		return nil, nil, nil
	}
	vals, err := c.rdb.HMGet(ctx, c.schema.DecisionsKey(key), contents...).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read decisions: %w", err)
	}
	if len(vals) != len(contents) {
		return nil, nil, fmt.Errorf("cannot read decisions: asked %d contents, got %d answers", len(contents), len(vals))
	}
	now := c.nowMs()
	allowed = make([]string, 0, len(contents))
	for i, v := range vals {
		s, ok := v.(string)
		if !ok { // nil: no decision
			allowed = append(allowed, contents[i])
			continue
		}
		h, _, err := store.ParseHead(s)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot read decision of content %q: %w", contents[i], err)
		}
		if !h.Active(now) {
			allowed = append(allowed, contents[i])
			continue
		}
		_, d, err := store.DecodeDecision(s)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot read decision of content %q: %w", contents[i], err)
		}
		suppressed = append(suppressed, Suppression{d})
	}
	return allowed, suppressed, nil
}

// Explanation is what Explain found about one pair.
type Explanation struct {
	Learner    string             // learner key
	Content    string             //
	Found      bool               // unpair has a decision on the pair
	Active     bool               // suppressed now (Found, Suppressed, until not passed)
	Decision   *decision.Decision // nil unless Found
	Engagement *store.Engagement  // what the learner did with the content; nil when nothing
}

// Explain returns the stored decision and engagement of one pair and
// whether it suppresses the content now, in one round trip.
func (c *Client) Explain(ctx context.Context, l Learner, content string) (Explanation, error) {
	key, err := c.Key(l)
	if err != nil {
		return Explanation{}, err
	}
	k := c.schema.Keys(key)
	pipe := c.rdb.Pipeline()
	dc := pipe.HGet(ctx, k.Decisions, content)
	ec := pipe.HGet(ctx, k.Engagement, content)
	_, _ = pipe.Exec(ctx) // each command's error is checked below
	x := Explanation{Learner: key, Content: content}
	v, err := dc.Result()
	switch {
	case errors.Is(err, redis.Nil):
	case err != nil:
		return Explanation{}, fmt.Errorf("cannot read decision: %w", err)
	default:
		h, d, err := store.DecodeDecision(v)
		if err != nil {
			return Explanation{}, fmt.Errorf("cannot read decision of content %q: %w", content, err)
		}
		x.Found, x.Active, x.Decision = true, h.Active(c.nowMs()), &d
	}
	v, err = ec.Result()
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
