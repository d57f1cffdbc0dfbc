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
//	UNPAIR_TEST_KAFKA_LOCK     a file whose flock guards broker restarts (set by scripts/test.sh)
//	UNPAIR_TEST_REQUIRE        1: missing servers fail tests instead of skipping them
//
// One broker serves every test package, and `go test ./...` runs packages in
// parallel processes, so a fault test that stops the broker would break
// whatever Kafka test of another package runs at that moment. The restart
// lock prevents that: Kafka(t) holds an flock(2) on UNPAIR_TEST_KAFKA_LOCK in
// shared mode until the test ends, and KafkaCtl(t) holds it in exclusive mode,
// so a restart waits for the running Kafka tests of other processes and
// they wait for it. Within one test process, holds are counted and the file is
// locked once (flock locks belong to an open file, not to a goroutine); a
// test that already holds Kafka(t) may call KafkaCtl(t) and is upgraded.
// Waiting is bounded (LockWait) and ends in a test failure naming the cause.
// Without UNPAIR_TEST_KAFKA_LOCK there is no locking.
package testenv
