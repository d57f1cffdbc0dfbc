// Package loadbench is `unpair bench`: the end-to-end load benchmark of
// unpair on a real Kafka broker and Redis.
//
// A run (Run) has four phases, all on topics, groups and Redis prefixes
// named after the run (unpair-bench-<base36 ms>), removed afterwards
// unless Config.Keep:
//
//  1. Produce: processor/simulate generates Statements realistic xAPI
//     statements (1-2 KB; learners from a Zipf distribution over Learners;
//     Contents items over Skills skills; the simulator's shares of invalid
//     statements and duplicates), with AppendNext into a reused batch
//     buffer. Each is keyed by its learner key (schema.LearnerKeyer of the
//     canonical IFI) and partitioned by pipeline.PartitionOf, as a producer
//     that keys by learner does for rekey-off operation. The writer's
//     completion callback (kafka.Message.WriterData carries a tag) builds a
//     ledger: per partition the offset and learner of the last valid
//     statement, per learner its latest valid statement.
//  2. Ceiling: a bare kafka-go consumer group (ConsumerGroup, one
//     partition reader per assignment with the pipeline's reader and group
//     settings) reads every partition to its end and discards.
//  3. Rows: the real pipeline in-process (pipeline.Build, pipeline.New,
//     Run with `unpair run`'s defaults and the simulator's catalog), rekey
//     off and, as a second row, rekey on, each from an empty group and
//     Redis prefix. Done is detected by polling, never by sleeping: the
//     groups' committed offsets (OffsetFetch) reach the end of every
//     partition (for rekey on, first the re-key group on the input, then
//     the aggregating group on the by-learner topic), and the learner of
//     each partition's last valid statement has that offset stored in
//     Redis. The rate is sustained: from partitions assigned (Health ready)
//     to done. Then unpair_statements_total must account for every
//     produced statement, and every learner of the ledger is looked up in
//     Redis (Row.Missing counts those behind). The rekey-off row runs under
//     a CPU profile (runtime/pprof); `go tool pprof -top` of it is kept.
//     Memory: Go heap in use after GC less the heap before the pipeline,
//     over the aggregator's pairs in memory; Redis used_memory growth over
//     the learners written.
//  4. Freshness: on a fresh topic with the pipeline (rekey off) already
//     assigned, a paced producer (5 ms ticks) produces at half the
//     rekey-off rate and tags one valid statement per SampleEvery. Once
//     its acknowledgement gives the sample's partition and offset, a poller
//     reads the learner's stored offset for that partition every 5 ms; the
//     latency runs from the start of the produce call to the first poll
//     that sees the offset (the store writes it in the same script as the
//     state and decisions).
//
// Result.WriteText prints the figures and the ratio to the ceiling;
// Result.AppendRecord appends them, with the machine, the date, the
// versions and the exact command, to docs/benchmarks/e2e.md.
package loadbench
