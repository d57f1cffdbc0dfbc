// Package demo is the wiring of `unpair demo`: one command, no servers
// needed, that shows the real processor at work on a simulated cohort.
//
// Start starts an in-process Kafka-protocol broker (franz-go's kfake, one
// broker) and an in-process Redis (miniredis) unless real ones are named,
// creates the input and catalog topics, generates a cohort with
// processor/simulate (latent skill mastery, guesses, slips, forgetting,
// low ratings, a few invalid and duplicate statements), produces its
// catalog to the catalog topic, then builds and runs the processor exactly
// as `unpair run` does (pipeline.Build, pipeline.New, Processor.Run, with
// re-keying on and topic creation by the processor). Only the HTTP handler
// differs: the query API plus the insight page (/insight/). Statements are
// produced once the processor is ready (partitions assigned, catalog read),
// keyed by the learner's IFI as an LMS would key them.
//
// Wait then polls two independent sources until they agree that every
// produced statement is accounted for: the processor's own counter
// unpair_statements_total (processed + dead_lettered + duplicate ==
// produced) and the consumer groups' committed offsets read from the
// broker (nothing left uncommitted on the input topic for <group>.rekey,
// nor on the by-learner topic for <group>). Since the pipeline commits
// only after state is durable in Redis, the decisions read afterwards from
// Redis are final. The Summary holds the figures, suppressions in force by
// reason and one explained example per reason with the curl and `unpair
// query` commands that reproduce it.
//
// With real servers (Config.Brokers, Config.Redis) every topic, the groups
// and the Redis key prefix carry a run id, so runs never mix.
//
// # kfake and kafka-go
//
// kafka-go v0.4.51's ConsumerGroup (FindCoordinator, JoinGroup v2,
// SyncGroup v1, Heartbeat, OffsetCommit v2, OffsetFetch, LeaveGroup),
// reader (Fetch, ListOffsets), writer (Produce with acks=all) and client
// (CreateTopics, Metadata) all work against kfake with NumBrokers(1); see
// the package tests. kfake refuses session timeouts under 6 s, so the demo
// uses 6 s with a 500 ms heartbeat.
package demo
