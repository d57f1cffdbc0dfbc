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
//	agg.Release(b)                        // then commit b.Offsets to Kafka (ReleaseContext: bounded)
//	agg.Sweep(ctx, now)                   // review-due events, returned by the next Flush
//	agg.DropPartitions(ctx, revoked)      // rebalance: forget learners of revoked partitions
//
// Submit splits a batch by shard and hands each shard one slice, taken from
// that shard's own free list (the shard puts it back once applied), through
// a bounded channel (Config.QueueDepth slices per shard), so a slow shard
// backs the consumer up instead of growing memory. Per evidence the hot path
// is one xxhash and one copy on the submitting side, and one map lookup and
// Engine.Apply on the shard side: outcome counters are plain fields
// published to the Stats atomics once per batch, processed offsets live in a
// dense per-partition array, and shards are padded apart so that their hot
// fields never share a cache line.
//
// Flush sends a marker through every shard queue; each shard, once it has
// processed everything before the marker, serializes each learner changed
// since its last release (engine.Learner.AppendBinary), collects its
// changed decisions and pending events in order, and reports the highest
// Source offset per partition it has processed. A shard appends all the
// states of one flush to a few chunks (at most 4 MB each) and all the
// decisions and events to one slice each, sized from the previous flush, so
// a flush allocates a handful of buffers rather than several per learner;
// each Change gets a capacity-limited window of them (appending to one never
// writes into another). The buffers are new at every flush, so a caller may
// keep a batch's slices after Release; keeping one State keeps its chunk.
// The Batch is a consistent cut: committing Batch.Offsets after the batch
// is durable is safe. A learner stays dirty until Release(batch); if writing
// the batch fails, call Flush again (or rewrite the same batch): nothing is
// lost, and the store's offset guards make rewriting idempotent.
//
// Each Change also carries the learner's engagement: the current
// engagement of its changed pairs (Change.Engagement, for the learner's
// engagement hash) and every engagement change since its last release
// (Change.EngagementChanges), which the caller feeds, once per Flush that it
// then releases, to the per-content engagement.Aggregator of the change's
// source partition. A Flush that is not released hands the same changes out
// again: feed a batch only when it is the one being made durable.
//
// Change.Skills are the learner's current states of the skills whose
// published state changed (engine.SkillState: the skill's name and its
// mastery.Skill), for the learner's skills hash (":k", store
// LearnerWrite.Skills with mastery.AppendSkill of each), written with the
// state under the same offset guard; readers decide content the learner
// never touched from them. The shard hands them out as the engine made
// them and encodes nothing (it does not depend on the store).
//
// Release goes through a separate control channel that a shard reads before
// its next queued batch, so it returns once every shard has finished the
// batch in hand, not after the evidence submitted since the Flush (up to
// QueueDepth batches per shard). That order is safe: the Flush marker was
// processed, and evidence applied after the release marks its learners
// dirty again. Each mark points at the held learner it came from, so a
// learner dropped (or evicted) and reloaded between Flush and Release is not
// cleaned by the old learner's mark.
//
// Learners are loaded on first touch through Config.Loader (nil bytes: a new
// learner); a loader error is retried with backoff inside the shard, which
// stalls only that shard (backpressure) until the store answers or the
// aggregator is closed. A stored state that does not decode is counted
// (Stats.CorruptStates) and the learner starts new; but a state written
// by a newer release (engine.ErrNewerFormat: its format version is above
// what this code reads, as in a rollback or a mixed-version rolling
// deploy) is not corrupt: starting new would overwrite the learner's whole
// history at its next write. It is retried like a loader error, with the
// same backoff (the shard stalls), and counted distinctly
// (Stats.NewerStates), until an owner that reads it takes the learner
// over (the partition moves to a newer consumer) or the state becomes
// readable. Under Config.MemoryBudget, clean (released)
// learners idle the longest are evicted; dirty learners are never evicted.
// Before that, a learner left clean and unchanged for Config.TrimAfter
// releases (default 240: a minute at 250 ms flushes) is trimmed once
// (engine.Learner.Trim: its growth slack given back; Stats.Trims), from a
// queue of the learners releases cleaned, by key, one entry per learner
// (trim.go): no scan of the held learners, and a learner changing at least
// once every TrimAfter flushes is never trimmed, so it does not
// reallocate at every flush.
//
// # Panics
//
// No panic escapes a shard goroutine, and a panic costs the input that
// caused it, never the learner's other statements. Each shard keeps a
// redo log (redo.go): every input (and every sweep or override) applied
// since the last Release, in apply order, each with the learner it was
// applied to, copied into a FIFO of shard-owned chunks of 128 entries, so
// that an entry costs one copy of the Input and no allocation once the
// chunks exist. A Flush records the log's position; its Release drops
// every entry before it (each learner with such an entry was dirty at the
// Flush, so it is in the batch now durable); entries applied after the
// Flush stay. Emptied chunks go to a free list sized by recent use.
//
// A panic while applying input X to learner L (an engine bug some input
// triggers) is recovered in the shard goroutine, once per batch of
// inputs. L, whose state may be half-updated, is rebuilt (recover.go):
// dropped, reloaded from the store through Config.Loader (with its retry)
// and its redo entries re-applied in order, X excluded. The engine's
// position guards skip the entries with a Kafka offset that the stored
// state already reflects; the entries no guard recognizes (inputs with
// Source.Offset < 0, sweeps, overrides) are skipped by the shard: every
// Flush of a learner holding such an entry records the xxhash of the
// state it hands out and the redo position it covers, and when the
// reloaded bytes are one of those states, the learner's entries before
// that position are not re-applied (no match: the store holds a state
// older than all of them, and all are re-applied; this needs a Loader that
// returns the bytes of Change.State unchanged, as the Redis store does). So a reload that races
// the write of a Flush in flight, reading the store before or after it,
// ends in the same state. X is counted
// (Stats.Panics) and reported with every Flush until released
// (Batch.Failed: learner, Source, panic value), for the caller to
// dead-letter with reason "internal" before committing the batch's
// offsets, which include X. An entry whose re-application panics too is
// dropped and reported the same way, and the rebuild starts over without
// it: the work is bounded by the entries, never a loop. When the stored
// state cannot be loaded at all (the loader or decoder panics), or the
// store does not answer before the context of the call in hand ends (a
// Flush's, ReleaseContext's, a Sweep's or an Override's; a rebuild after
// a panicking input retries until the aggregator closes, like a first
// touch), L's unreleased inputs are reported failed rather than lost in
// silence.
//
// Failures are numbered shard-wide in the order they are recorded; a
// Flush reports the ones not yet released and the sequence it covers,
// and its Release drops those numbered below it. An older or repeated
// Release drops nothing more, so a failure recorded after the released
// Flush is always reported by a later one.
//
// The same holds outside Apply. A panic while collecting a learner at
// Flush (engine Changes, AppendBinary) rebuilds it and collects it again
// in the same batch; if it panics again, its unreleased inputs are
// reported failed (their offsets are in the batch) and it is dropped. A
// panic in the sweep (engine Due) or in Release (engine Clean) rebuilds
// the learner (the next sweep retries it); a panic in Override rebuilds it
// and Override returns an error. A panic that escapes all of that (a bug
// in the shard) is recovered per message: the Flush, Sweep, Drop or
// Release returns an error naming the shard.
//
// A rebuild after a Flush and before its Release hands the learner's
// changes out again with the next Flush when the reload read the store
// before that Flush's write: the same decisions and events (same ids) as
// a retried Flush, and engagement changes at offsets the engagement
// figures already hold, which they ignore. Inputs without a Kafka offset
// (Source.Offset < 0) and logged sweeps and overrides have no position
// guard, and the engine's statement-id window (8-16 statements) cannot
// stop a second application: the recorded state sums above do. Their cost
// is one xxhash of the state per Flush, only for learners holding such an
// entry unreleased; the pipeline's inputs all have offsets.
//
// Memory: the redo log holds the entries applied since the oldest
// unreleased Flush, 256 bytes each plus the strings and slices they share
// with the evidence (Stats.Redo counts them), in chunks of 128 (32 KB);
// a learner holding an unguarded entry also keeps 16 bytes per unreleased
// Flush that handed it out (its state's sum and position). The
// pipeline bounds them: it releases each batch once written, and stops
// reading beyond its in-flight limit (MaxInFlight), so the log holds the
// statements of at most the last unreleased Flush and those submitted
// since. Without Releases it grows with every input (as pending events
// do). When no learner is dirty after a Release or a Drop, no entry can be
// needed and the log is emptied.
//
// Intern tables (compact.go): each shard's engine interns content ids,
// skill ids and skill sets, tables that would otherwise grow with every
// new id for the life of the process (a producer sending ever-new content
// ids, a catalog churning over months), even after the learners holding
// them are evicted or dropped. Between batches (after a batch of inputs,
// a Release or a Drop; never on the hot path), when a table has grown past
// max(2x its size after the last compaction, 65,536 entries:
// engine.DefaultCompactFloor), the shard compacts it over the learners it
// holds (engine.Compact): ids no held learner references are dropped and
// every held learner is remapped, with no change to anything it hands
// out. A compaction costs time linear in the held pairs
// (docs/benchmarks/shard.md); the doubling rule keeps it amortized.
// Stats.Compactions counts them and Stats.Interned is the tables' size.
// A panic inside a compaction (a bug) rebuilds every held learner.
//
// Drop and DropPartitions remove learners whose last evidence came from
// revoked partitions, including their unreleased changes: the new owner
// reloads them from the store and Kafka redelivers what was not committed.
package shard
