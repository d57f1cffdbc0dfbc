package pipeline

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"go.uber.org/zap"
)

// Health is what /healthz and /readyz report. The process is live while it
// runs; it is ready once it has a generation with partitions assigned (or
// an empty assignment in a group with more members than partitions) and
// the last Redis write succeeded.
type Health struct {
	mu        sync.Mutex
	inGroup   bool
	assigned  int
	redisDown bool // the last batch write failed
	pingDown  bool // the last ping failed
	catalogOK bool
	needCat   bool
}

func (h *Health) setAssigned(n int) {
	h.mu.Lock()
	h.inGroup, h.assigned = n >= 0, n
	h.mu.Unlock()
}

func (h *Health) leave() {
	h.mu.Lock()
	h.inGroup = false
	h.mu.Unlock()
}

func (h *Health) setRedis(ok bool) {
	h.mu.Lock()
	h.redisDown = !ok
	h.mu.Unlock()
}

func (h *Health) setPing(ok bool) {
	h.mu.Lock()
	h.pingDown = !ok
	h.mu.Unlock()
}

func (h *Health) setCatalog(ok bool) {
	h.mu.Lock()
	h.catalogOK = ok
	h.mu.Unlock()
}

// Ready returns nil when the processor is ready, else why not.
func (h *Health) Ready() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case !h.inGroup:
		return fmt.Errorf("not ready: no partitions assigned yet")
	case h.redisDown:
		return fmt.Errorf("not ready: redis writes are failing")
	case h.pingDown:
		return fmt.Errorf("not ready: redis does not answer")
	case h.needCat && !h.catalogOK:
		return fmt.Errorf("not ready: catalog topic not read up to its end yet")
	}
	return nil
}

// Assigned returns the number of partitions the aggregating stage owns.
func (h *Health) Assigned() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.assigned
}

func (h *Health) serveReady(w http.ResponseWriter, _ *http.Request) {
	if err := h.Ready(); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintf(w, "ready: %d partitions\n", h.Assigned())
}

func serveHealth(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }

// RedisLogger routes go-redis's own log lines (connection pool dial
// failures and the like, which it otherwise prints to stderr) through log,
// so they are structured and sampled like every other line: install it once
// per process with redis.SetLogger.
func RedisLogger(log *zap.Logger) interface {
	Printf(ctx context.Context, format string, v ...any)
} {
	return redisLogger{log.Named("go-redis")}
}

type redisLogger struct{ log *zap.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Warn(fmt.Sprintf(format, v...))
}
