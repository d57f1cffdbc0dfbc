package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/testenv"
)

func testPrefix(t testing.TB) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "ctest-" + hex.EncodeToString(b[:])
}

func realRedis(t testing.TB) redis.UniversalClient {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Redis(t)})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("real Redis: %v", err)
	}
	return rdb
}

func TestClientRealRedis(t *testing.T) {
	clientSuite(t, realRedis(t), testPrefix(t))
}

func TestClientRealCluster(t *testing.T) {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: testenv.RedisCluster(t)})
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("real Redis Cluster: %v", err)
	}
	clientSuite(t, rdb, testPrefix(t))
}

func TestDerivedRealRedis(t *testing.T) {
	derivedSuite(t, realRedis(t), testPrefix(t))
}

func TestDerivedRealCluster(t *testing.T) {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: testenv.RedisCluster(t)})
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("real Redis Cluster: %v", err)
	}
	derivedSuite(t, rdb, testPrefix(t))
}
