package pipeline

import (
	"context"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestRedisLoggerRoutesThroughZap(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	RedisLogger(zap.New(core)).Printf(context.Background(), "connection pool: failed to dial after %d attempts: %s", 5, "refused")
	got := logs.All()
	if len(got) != 1 {
		t.Fatalf("%d log entries, want 1", len(got))
	}
	if e := got[0]; e.Message != "connection pool: failed to dial after 5 attempts: refused" || e.LoggerName != "go-redis" || e.Level != zap.WarnLevel {
		t.Errorf("entry = %q from %q at %v, want the formatted line from go-redis at warn", e.Message, e.LoggerName, e.Level)
	}
}
