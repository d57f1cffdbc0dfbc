package pipeline

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"
)

// budget bounds the statements fetched but not yet durable. Fetchers take
// one unit per statement before fetching it; a flush gives back the units of
// the statements it made durable. When Redis is slow or down, flushes stall,
// the budget runs out and fetching stops: memory stays bounded.
type budget struct {
	mu    sync.Mutex
	limit int
	used  int
	free  chan struct{} // closed and replaced whenever units are given back
}

func newBudget(limit int) *budget {
	return &budget{limit: limit, free: make(chan struct{})}
}

// acquire takes one unit, waiting while none is free; it fails with ctx.
func (b *budget) acquire(ctx context.Context) error {
	for {
		b.mu.Lock()
		if b.used < b.limit {
			b.used++
			b.mu.Unlock()
			return nil
		}
		ch := b.free
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// release gives back n units.
func (b *budget) release(n int) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	if b.used < 0 {
		b.used = 0
	}
	close(b.free)
	b.free = make(chan struct{})
	b.mu.Unlock()
}

// inUse returns the units taken.
func (b *budget) inUse() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// backoff is exponential backoff: attempt n waits min*2^n capped at max,
// plus a random quarter of that so instances do not retry in lockstep.
type backoff struct {
	min, max time.Duration
	n        int
}

func (b *backoff) next() time.Duration {
	d := b.min << min(b.n, 20)
	if d > b.max || d <= 0 {
		d = b.max
	}
	b.n++
	return d + rand.N(d/4+1)
}

func (b *backoff) reset() { b.n = 0 }

// wait sleeps for the next backoff or until ctx ends.
func (b *backoff) wait(ctx context.Context) error {
	t := time.NewTimer(b.next())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// rateLimited lets an action run at most once per interval.
type rateLimited struct {
	mu    sync.Mutex
	every time.Duration
	last  time.Time
	muted int // calls suppressed since the last allowed one
}

// allow reports whether the action may run now, and how many calls were
// suppressed since it last ran.
func (r *rateLimited) allow(now time.Time) (bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.last.IsZero() && now.Sub(r.last) < r.every {
		r.muted++
		return false, 0
	}
	n := r.muted
	r.last, r.muted = now, 0
	return true, n
}

// tryAcquire takes one unit if one is free.
func (b *budget) tryAcquire() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used >= b.limit {
		return errBudget
	}
	b.used++
	return nil
}

var errBudget = errors.New("in-flight budget exhausted")
