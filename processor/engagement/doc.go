// Package engagement tracks what learners consumed, when, and what they
// barely touched: per learner-content Pair counters the engine keeps in its
// state, the "barely touched" Rule, and per-content daily figures across all
// learners, aggregated per input partition and stored in Redis.
//
// # Per learner-content
//
// Pair is a fixed-size value (PairSize bytes serialized) the engine embeds
// in a learner's state: launches, attempts, completions, time spent (sum of
// result.duration), furthest progress, first/last seen, when it was started,
// completed, marked mastered, and the last verb (as a code into a verb table
// so the struct stays fixed-size). Pair.Apply folds in one statement;
// SetMastered/ClearMastered are the engine's to call when it publishes or
// lifts a suppression with reason mastered. Voids do not undo engagement:
// the learner did open the content even if the statement was withdrawn.
// (The engine, which keeps pairs in its state, replays its void window
// without the voided statement, so there a recent void does undo it; see
// docs/engagement.md.)
//
// Rule.BarelyTouched says whether a started, uncompleted pair idle for
// IdleDays is barely touched: progress under MinProgress, or time spent
// under TimeShare of the content's typical (median) time. It is a signal,
// published as its own event kind, never a suppression.
//
// # Per content, across learners: exact under replay
//
// Learners are partitioned, content is not: every owner of an input
// partition sees some of a content's learners. Each owner keeps, per
// content and UTC day, its partition's partial figures; readers sum the
// partials of all partitions. Each figure is an integer (counts,
// milliseconds, ratings x1000, histogram buckets), so sums are exact.
//
// Figures that describe learners rather than statements (started,
// completed, idle and open, time-spent histogram, mastered) are counted as
// the contribution of each Pair: a pair adds 1 to "starts" on the day it
// started, 1 to "active" (and maybe "open" and one histogram bucket) on the
// day of its latest activity, and so on. When a statement changes a pair,
// the Aggregator removes the old pair's contributions and adds the new
// one's. A pair whose latest activity moves from Monday to Friday thus
// moves from Monday's "active" to Friday's. The figures therefore always
// equal the contributions of the current pairs, whatever the order or
// batching of the statements that produced them. Statement figures
// (attempts, launches, time spent, ratings) are simply counted.
//
// The new owner of a partition after a rebalance loads learner states
// lazily and cannot recompute a partition's absolute figures from scratch.
// So the stored figures are absolute values changed only by deltas, and
// every change is applied by one Lua script per flush that touches only the
// partition's keys (one hash tag {e:<partition>}) and is guarded by the
// partition's offset: the script adds a batch only if its offset is above
// the stored one, then stores the batch offset, all atomically.
//
// Why not HINCRBY from each instance: go-redis retries a whole pipeline on
// some network errors, and Kafka redelivers after a crash or a rebalance,
// so an increment can land twice and nothing could tell. With the guard a
// retried batch is a no-op, and a redelivered statement is recognised:
//
//   - NewAggregator takes base, the partition's stored offset read on
//     assignment (Writer.Offset). Statements at or below it are already in
//     the stored figures and are ignored, even though the engine may apply
//     them again to a learner state that was not yet durable.
//   - The engine and pipeline must write a partition's engagement batch
//     before the learner states that reflect the same statements, and
//     commit the Kafka offset only after both. Then no learner state is
//     ever ahead of the figures, and a statement the engine skips as a
//     replay is one the figures hold too.
//
// Together these give the figures of one clean pass after any sequence of
// retries, crashes between the two writes, and redeliveries; see
// TestCrashesAndRetriesMatchOneCleanPass. The price is that a partition's
// figures are written by one script per flush (all its dirty contents), so
// a flush that changes many contents holds Redis for the script's run;
// docs/benchmarks/engagement.md measures it.
//
// Unique learners over a window need no HyperLogLog: every started pair
// counts in "active" exactly once, on the day of its latest activity, so
// the learners active in a window are exactly the sum of "active" over its
// days, and the sum over partitions is exact because learners are
// partitioned. (HyperLogLog was the first design; it was dropped because
// an estimate is worse than an exact count that comes for free: in the
// ASSISTments replay test, miniredis's HyperLogLog was off by up to 10% on
// contents with under a hundred learners.) The share of
// learners for whom a content is suppressed as mastered is counted the
// same way. A per-day set of content ids lists "all contents seen".
//
// The median time spent is read from a 16-bucket log-spaced histogram of
// each pair's total time (15 s to 68 h, doubling), summed across partials
// and interpolated inside the middle bucket.
//
// Abandonment is counted from progress alone (open = started, not
// completed, progress unknown or under MinProgress): the content's typical
// time moves as figures arrive, so the time-share half of the rule cannot
// be maintained incrementally. A pair counts as abandoned when its latest
// activity is at least IdleDays old at read time; the abandonment rate is
// abandoned / started pairs idle that long.
//
// Keys, retention and the figure layout are in docs/engagement.md.
package engagement
