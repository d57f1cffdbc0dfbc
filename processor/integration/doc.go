// Package integration holds tests of the real servers that the processor
// depends on, run by scripts/test.sh against a single-node Apache Kafka 4.4.0
// broker, a Redis 7 server and a three-master Redis Cluster (see
// processor/testenv for how the tests find them).
//
// The tests pin down the client behaviour the processor's design relies on,
// so that an upgrade of a server or a client that breaks it fails here first
// rather than as a subtle bug elsewhere:
//
//   - kafka-go v0.4.51 against Kafka 4.x: topic creation with several
//     partitions, producing, consuming through the ConsumerGroup/Generation
//     API, committing offsets with Generation.CommitOffsets, and resuming a
//     new generation exactly at the committed offsets (no message lost, none
//     read twice). The broker's ApiVersions answer is logged.
//   - the broker control script (UNPAIR_TEST_KAFKA_CTL): stop then start keeps
//     the topic's data and the group's committed offsets, and clients work
//     again afterwards.
//   - go-redis v9 against Redis 7: a pipeline whose every command's error is
//     checked, read back value by value.
//   - go-redis v9 against Redis Cluster: MULTI/EXEC over keys that share one
//     {hashtag} is applied atomically, while a transaction across hash slots
//     is refused with a cross-slot error and applies nothing.
//
// Every test calls processor/testenv, so a missing server skips it in a plain
// `go test ./...` and fails it under UNPAIR_TEST_REQUIRE=1 (scripts/test.sh).
// This package has no non-test code.
package integration
