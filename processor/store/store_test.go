package store

import (
	"context"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

func TestStoreMiniredis(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	suite(t, rdb)
}

func TestNewRejects(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	for _, o := range []Options{{Prefix: "a{b"}, {TTL: -1}, {TTL: 1}} {
		if _, err := New(rdb, o); err == nil {
			t.Errorf("New(%+v): no error", o)
		}
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New(nil): no error")
	}
}

func TestWriteBatchServerDown(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	defer rdb.Close()
	s := newTestStore(t, rdb, 0)
	mr.Close()
	_, err := s.WriteBatch(context.Background(), []LearnerWrite{{Learner: "a", Offset: 1}, {Learner: "b", Offset: 1}})
	if err == nil || !strings.Contains(err.Error(), "cannot write learner batch: 2 of 2 failed") {
		t.Fatalf("err = %v", err)
	}
	if _, err := s.Load(context.Background(), []string{"a"}); err == nil || !strings.Contains(err.Error(), "1 of 1 failed") {
		t.Fatalf("Load err = %v", err)
	}
	if _, err := s.Forget(context.Background(), "a"); err == nil {
		t.Fatal("Forget with the server down: no error")
	}
}
