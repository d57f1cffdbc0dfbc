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
// query` commands that reproduce it. Wait gives up when the counts and
// commits stand still for its stall limit (a stuck processor; a slow
// machine only takes longer), and reports ErrMiscounted at once when every
// offset is committed but more statements were counted than produced.
//
// The throughput figure runs from the first statement produced (both
// consumer groups already joined, so the broker's initial rebalance delay
// is not in it) to the moment both sources agree; it includes producing.
//
// With real servers (Config.Brokers, Config.Redis) every topic, the groups
// and the Redis key prefix carry a run id, so runs never mix.
//
// # kfake and kafka-go
//
// kafka-go v0.4.51 runs unchanged against kfake with NumBrokers(1): the
// consumer groups (FindCoordinator v0, JoinGroup v2 negotiated from v1-v2,
// SyncGroup v0, Heartbeat v0, OffsetCommit v2, OffsetFetch v1, LeaveGroup
// v0 on group close), the partition readers (Fetch, ListOffsets), the
// writers (Produce with acks=all) and the client (CreateTopics, Metadata,
// ListOffsets, OffsetFetch); the package tests run all of it, re-keying
// on. Limits found: kfake refuses session timeouts under 6 s (the demo
// uses 6 s with a 500 ms heartbeat), and kafka-go serves metadata from a
// transport cache refreshed every 6 s, so the demo creates every topic,
// through its own transport, before the processor's first request.
package demo
