// Package testenv finds the real servers that integration tests run against.
// The test command (scripts/test.sh) starts Apache Kafka and Redis and exports
// their addresses; when they are absent, integration tests report clearly that
// they did not run, unless UNPAIR_TEST_REQUIRE=1, in which case a missing
// server fails the test instead of skipping it (CI sets it).
//
// Environment:
//
//	UNPAIR_TEST_KAFKA          host:port of a Kafka 4.x broker
//	UNPAIR_TEST_REDIS          host:port of a Redis 7 server
//	UNPAIR_TEST_REDIS_CLUSTER  comma-separated host:port of a Redis Cluster
//	UNPAIR_TEST_KAFKA_CTL      a script taking stop|start to restart the broker (fault tests)
//	UNPAIR_TEST_REQUIRE        1: missing servers fail tests instead of skipping them
package testenv

import (
	"os"
	"strings"
	"testing"
)

// Required reports whether a missing server must fail the test.
func Required() bool { return os.Getenv("UNPAIR_TEST_REQUIRE") == "1" }

func lookup(t testing.TB, name, what string) string {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(name))
	if v != "" {
		return v
	}
	if Required() {
		t.Fatalf("%s is not set but UNPAIR_TEST_REQUIRE=1: %s is required; run the tests through scripts/test.sh", name, what)
	}
	t.Skipf("NOT RUN: %s is not set (no %s); run scripts/test.sh to run integration tests against real servers", name, what)
	return ""
}

// Kafka returns the bootstrap address of the real Kafka broker.
func Kafka(t testing.TB) string { return lookup(t, "UNPAIR_TEST_KAFKA", "Kafka broker") }

// Redis returns the address of the real Redis server.
func Redis(t testing.TB) string { return lookup(t, "UNPAIR_TEST_REDIS", "Redis server") }

// RedisCluster returns the seed addresses of the real Redis Cluster.
func RedisCluster(t testing.TB) []string {
	return strings.Split(lookup(t, "UNPAIR_TEST_REDIS_CLUSTER", "Redis Cluster"), ",")
}

// KafkaCtl returns the path of the script that stops and starts the broker.
func KafkaCtl(t testing.TB) string {
	return lookup(t, "UNPAIR_TEST_KAFKA_CTL", "broker control script")
}
