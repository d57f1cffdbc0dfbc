// Package pipeline runs `unpair run`: Kafka in, the sharded engine in the
// middle, Redis out, with each statement's effect applied exactly once to
// the Redis state.
//
// # Stages
//
// Stage 1, re-key (consumer group <group>.rekey, on unless Rekey is off),
// works like a Kafka Streams repartition topic. Per assigned input
// partition it fetches batches, splits JSON arrays into single statements,
// decodes each to find its learner key, and produces it to the by-learner
// topic keyed by that key, to partition PartitionOf(key) = xxhash64(key)
// mod partitions: a pure function, so every instance and every replay
// agrees. Rejected statements go to the dead-letter topic. The input
// offsets of a batch are committed only after all its produces are
// acknowledged by all in-sync replicas. The by-learner message keeps the
// original value and headers, plus headers naming the original topic,
// partition, offset, index in the message's array (when not 0) and
// timestamp (unpair-source-*): the message's own place, never headers a
// producer sent along (a dead letter sent back after a fix is a new
// statement). Its own record time is
// the time of re-keying: replayed history with old timestamps would
// otherwise be deleted by retention before stage 2 reads it. Stage 2 gives
// the decoder the original timestamp, so replays decode identically.
// A crash between produce and commit, or a produce retried after a partial
// failure, re-keys a batch twice. Stage 2 hands each statement's origin
// (Source.Origin, from the headers when they name the configured input
// topic) to the engine, which applies a statement only when its origin is
// after the learner's applied origin of that input partition: for one
// learner the statements of one input partition arrive in input order, so
// the second copy is skipped however far behind the first it lands
// (engine.Source).
//
// Stage 2, aggregate (consumer group <group>), consumes the by-learner
// topic (or the input itself when Rekey is off) with kafka-go's
// ConsumerGroup/Generation API: gen.Start runs one fetcher per assigned
// partition (a kafka.Reader without a group at the assigned offset, which
// fetches in batches) and one flusher. Fetchers decode and Submit to the
// Aggregator in batches, then record the partition's last dispatched
// offset. Since one learner key always maps to one partition, and one
// partition has one owner per generation, a learner's state has exactly
// one owner.
//
// # Flush: the commit rule
//
// On a timer (FlushInterval) or when FlushSize statements wait, the
// flusher takes a snapshot of the dispatched offsets and pending dead
// letters, then:
//
//  0. takes the snapshot and places the barrier of step 1 in every shard's
//     queue under the exclusive side of a read/write lock whose shared
//     side a fetcher holds from Submit until its batch's offsets are
//     marked: the flush is a consistent cut, every statement of a marked
//     message applied before the barrier and none after it; fetchers go
//     on submitting while the shards reach the barrier and build the
//     batch (shard.Aggregator.StartFlush);
//  1. Aggregator.Flush: a barrier; every statement dispatched before it is
//     applied, and the changed learners come back serialized;
//  2. produces the pending dead letters and the batch's decision events and
//     waits for their acknowledgement;
//  3. writes the per-content engagement figures (Figures) of the batch's
//     statements, per partition, each batch guarded by its partition's
//     stored offset (figures.go);
//  4. Store.WriteBatch: each learner atomically (one Lua call in its hash
//     slot) with its applied offsets, guarded so an older write never
//     overwrites a newer one;
//  5. applies the forgets registered before the snapshot (see Control
//     records);
//  6. commits the snapshot's offsets + 1 (the next offset to read).
//
// The figures come before the learners: no learner state is durable ahead
// of the figures of the statements it reflects. A crash between the two
// replays statements whose figures are already in; the figures' own offset
// guard skips them, while the learners (not yet written) apply them.
//
// So a committed offset never runs ahead of durable state. A failed step is
// retried with backoff (unpair_redis_retries_total) and the flush does not
// move on; meanwhile the in-flight budget (MaxInFlight statements fetched
// but not durable) runs out and fetching stops, so a slow or down Redis
// holds memory bounded, and /readyz reports not ready. Replays (after a
// crash, a rebalance, a failed flush) are harmless: the engine stores each
// learner's applied offsets with its state and skips what it has seen.
//
// Decision events are at-least-once: produced before the Redis write of
// their batch, so a crash in between produces them again on replay, with
// the same deterministic id (also in header unpair-event-id); consumers
// drop duplicates by id. Redis state is exactly-once.
//
// # Rebalance and shutdown
//
// When a generation ends (rebalance or leaving), the flusher stops the
// fetchers, makes a final flush bounded by FlushTimeout, commits, and drops
// the generation's partitions from the aggregator (they are reloaded from
// Redis on first touch by whoever owns them next). kafka-go joins the next
// generation only after all of this returned. If the final flush cannot
// complete, nothing more is committed: the next owner replays from the
// last commit. Run stops the same way on cancellation, then leaves the
// groups and closes the clients; the hard context cuts a stop that takes
// longer than ShutdownTimeout.
//
// The rebalance pause (unpair_rebalance_pause_seconds) is measured from the
// end of one generation (after its final flush and partition drop) to the
// first durable flush of the next generation of this stage: the time
// during which none of this instance's statements became durable because
// of the rebalance. unpair_rebalances_total counts the ended generations.
//
// # Control records
//
// `unpair forget` (SendForget) produces a record keyed by the learner key,
// with header unpair-control: forget, into the learner's partition of the
// topic stage 2 consumes (control.go). Being in that partition, it is
// applied in order with the learner's statements: the fetcher hands over
// the statements before it, registers the forget with the generation,
// kicks a flush and waits. That flush writes its batch without the
// forgotten learner, then (Forgetter) deletes the learner's decisions,
// state and engagement keys and sets its offsets hash ":o" to the control
// record's offset in that partition, so replayed statements from before
// the record are refused as stale; drops the learner from memory
// (LearnerDropper); produces a "forgotten" event to the decisions topic;
// and only then commits, the record's offset included. A replay erases the
// learner again at the record. A record with another operation or a bad
// key is dead-lettered with reason invalid_control.
//
// # Dead letters
//
// Every statement the decoder rejects, every message that holds none, and
// every message whose processing panicked (recovered, reason "internal")
// goes to the dead-letter topic with the original value and key and the
// headers unpair-error (every violation, one per line), unpair-reason,
// unpair-source-topic, unpair-source-partition, unpair-source-offset,
// unpair-source-index (statements of an array after the first),
// unpair-source-time and unpair-time. Every statement is counted once in
// unpair_statements_total as processed, dead_lettered or duplicate.
//
// Sizes: the writer sends produce batches of at most 1 MiB (the broker's
// default message.max.bytes), so statements over MaxStatementBytes (512
// KiB) are rejected as too_large, and a dead letter carries at most that
// much of the original value (header unpair-truncated then holds the
// original length).
//
// Panics: a panic while decoding or handing a message to the aggregator is
// recovered in the fetcher, which dead-letters the message(s) handed over
// (reason internal). A panic inside a shard, while applying one statement,
// is recovered by the shard, which rebuilds that learner at once (its state
// may be half-updated): reloaded from Redis, with its statements applied
// since its last durable flush applied again from the shard's redo log,
// all but the poison one, so only that statement is lost (processor/shard);
// the statement is reported in the next flush's Batch.Failed.
// The flush dead-letters each failure with reason internal, pointing at
// the statement's place in the topic this stage reads (partition, offset,
// learner key as message key; the aggregator keeps no message bytes), and
// produces it with the batch's other dead letters before the offsets,
// which include it, are committed. Failed statements are not counted as
// processed.
//
// # Health
//
// /healthz answers while the process runs. /readyz answers 200 once the
// aggregating stage has a generation (partitions assigned), the catalog
// topic has been read to the end offsets found at start, the last Redis
// batch write succeeded and Redis answers a ping (checked every 2 s: a
// learner's first load, not a write, may be what waits on a dead Redis).
//
// With Rekey off, producers must key by learner key; statements whose key
// differs from their learner key, or whose partition none of the usual
// partitioners (xxhash, murmur2, FNV-1a) gives for that key, are counted
// in unpair_misrouted_total and warned about (rate-limited): their learner
// may have two owners. Arrays are not split with Rekey off: the statements
// of one message share its offset and are told apart by their index in
// it (Source.Index), which the engine's guard orders after the offset; the
// consistent cut keeps them in one flush, so the store's offset guard
// never sees one message's offset twice.
//
// # Catalog
//
// Every instance reads the whole compacted catalog topic (no group, from
// the first offset of each partition) and applies records live through a
// CatalogSink (an atomic snapshot swap); /readyz waits until the records
// present at start are applied.
package pipeline
