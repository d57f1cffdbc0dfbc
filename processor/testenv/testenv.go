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

// Kafka returns the bootstrap address of the real Kafka broker. Under
// scripts/test.sh it also holds the broker's restart lock in shared mode
// until the test ends, so that a fault test of another package does not stop
// the broker under this test (see KafkaCtl).
func Kafka(t testing.TB) string {
	t.Helper()
	addr := lookup(t, "UNPAIR_TEST_KAFKA", "Kafka broker")
	holdKafka(t, shared)
	return addr
}

// Redis returns the address of the real Redis server.
func Redis(t testing.TB) string { return lookup(t, "UNPAIR_TEST_REDIS", "Redis server") }

// RedisCluster returns the seed addresses of the real Redis Cluster.
func RedisCluster(t testing.TB) []string {
	return strings.Split(lookup(t, "UNPAIR_TEST_REDIS_CLUSTER", "Redis Cluster"), ",")
}

// KafkaCtl returns the path of the script that stops and starts the broker
// (run it with "stop" or "start"; "start" reuses the broker's data and port).
// Under scripts/test.sh it first takes the broker's restart lock in exclusive
// mode for the rest of the test: it waits until no test in any other test
// process holds the broker through Kafka, and keeps them waiting until this
// test ends. A test of this process that holds Kafka while another calls
// KafkaCtl (parallel tests) makes KafkaCtl fail after a deadline: do not run
// fault tests in parallel with other Kafka tests of the same package.
func KafkaCtl(t testing.TB) string {
	t.Helper()
	ctl := lookup(t, "UNPAIR_TEST_KAFKA_CTL", "broker control script")
	holdKafka(t, exclusive)
	return ctl
}
