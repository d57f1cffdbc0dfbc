// Package shard runs the engine over many learners at once: an Aggregator
// with N shards (default GOMAXPROCS), each owning the state of the learners
// that hash to it (xxhash of the learner key), each run by one goroutine
// with its own engine.Engine, so the hot path takes no locks.
//
// # API
//
//	agg, _ := shard.New(engine.DefaultConfig(), cat, shard.Config{Loader: load})
//	go agg.Run(ctx)                       // or let New start it; see Run
//	agg.Submit(ctx, []shard.Input{...})    // blocks when a shard's queue is full
//	b, err := agg.Flush(ctx)              // barrier: includes everything submitted before
//	... write b.Learners (state, decisions, events) to the store, publish events ...
//	agg.Release(b)                        // then commit b.Offsets to Kafka
//	agg.Sweep(ctx, now)                   // review-due events, returned by the next Flush
//	agg.DropPartitions(ctx, revoked)      // rebalance: forget learners of revoked partitions
//
// Submit splits a batch by shard and hands each shard a slice from a pool
// through a bounded channel (Config.QueueDepth slices per shard), so a slow
// shard backs the consumer up instead of growing memory.
//
// Flush sends a marker through every shard queue; each shard, once it has
// processed everything before the marker, serializes each learner changed
// since its last release (engine.Learner.MarshalBinary), collects its
// changed decisions and pending events in order, and reports the highest
// Source offset per partition it has processed. The Batch is a consistent
// cut: committing Batch.Offsets after the batch is durable is safe. A
// learner stays dirty until Release(batch); if writing the batch fails, call
// Flush again (or rewrite the same batch): nothing is lost, and the store's
// offset guards make rewriting idempotent.
//
// Learners are loaded on first touch through Config.Loader (nil bytes: a new
// learner); a loader error is retried with backoff inside the shard, which
// stalls only that shard (backpressure) until the store answers or the
// aggregator is closed. Under Config.MemoryBudget, clean (released)
// learners idle the longest are evicted; dirty learners are never evicted.
//
// Drop and DropPartitions remove learners whose last evidence came from
// revoked partitions, including their unreleased changes: the new owner
// reloads them from the store and Kafka redelivers what was not committed.
package shard
