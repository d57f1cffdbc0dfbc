package pipeline

import (
	"context"
	"time"

	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/processor/engagement"
	"github.com/unpair/unpair/processor/engine"
	"github.com/unpair/unpair/schema"
)

// The pipeline depends on the rest of unpair only through the small
// interfaces below; wire.go adapts the real schema decoder, sharded engine
// and Redis store to them, and the unit tests use fakes.

// Decoder turns the raw bytes of one message into Evidence: one statement,
// or several when the message holds a JSON array of statements. It appends
// to dst. received is the Kafka timestamp of the original message, so a
// statement without timestamp and stored gets the same time on every
// replay.
type Decoder interface {
	Decode(dst []schema.Evidence, raw []byte, received time.Time) ([]schema.Evidence, error)
}

// Rejection is what a Decoder error may also implement to say why: a short
// reason code (metrics label, dead-letter header) and every violation, one
// line each. Errors that do not implement it are dead-lettered with reason
// "invalid" and the error text.
type Rejection interface {
	error
	Code() string
	Lines() []string
}

// Source is where a statement was read: the partition and offset of the
// topic the aggregating stage consumes, and the statement's index in the
// message (a JSON array holds several, with rekey off). Learner states
// remember the last applied Source so replays are skipped. Origin is where
// the re-key stage first read it (rekey on).
type Source struct {
	Partition int32
	Index     int32
	Offset    int64
	Origin    Origin
}

// Origin is a statement's position in the input topic before re-keying;
// Valid is false without one (rekey off, or no unpair-source-* headers
// naming the configured input topic).
type Origin struct {
	Partition int32
	Index     int32
	Offset    int64
	Valid     bool
}

// Input is one statement for the aggregator and where it was read.
type Input struct {
	Evidence schema.Evidence
	Source   Source
}

// FlushStarter is an Aggregator whose flush barrier can be placed apart
// from waiting for its batch: the batch the returned function gives holds
// every statement submitted before StartFlush returned and none submitted
// after. The aggregating stage then holds submitters back only while the
// barrier is placed, not while the shards build the batch.
type FlushStarter interface {
	StartFlush(ctx context.Context) (wait func(context.Context) (*Batch, error), err error)
}

// Aggregator is the sharded engine: it applies evidence per learner and
// hands out what changed since the last flush.
type Aggregator interface {
	// Submit hands statements to their learners' shards, in order. It may
	// block when a shard's queue is full; it returns early with ctx's error.
	Submit(ctx context.Context, in []Input) error
	// Flush is a barrier: every statement submitted before the call is
	// applied before it returns the learners changed since the last flush.
	Flush(ctx context.Context) (*Batch, error)
	// Release tells the aggregator the batch is durable: its learners are
	// clean unless changed since.
	Release(b *Batch)
	// DropPartitions forgets the learners read from these partitions,
	// including unreleased changes; their next touch loads them from the
	// store again.
	DropPartitions(ctx context.Context, partitions []int32) error
	// Skipped returns how many statements the aggregator has skipped as
	// already applied (same statement id, or an offset at or below the
	// learner's stored one) since it was made.
	Skipped() uint64
}

// Batch is what one Flush produced.
type Batch struct {
	Learners []LearnerWrite   // one per changed learner
	Events   []decision.Event // decision changes, in order
	// EngagementChanges are the pair engagement changes the batch's
	// statements made, for the per-content figures (Figures).
	EngagementChanges []engine.EngagementChange
	// Failed are statements whose processing panicked inside the
	// aggregator (recovered there): dead-lettered with reason "internal"
	// before the batch's offsets, which include them, are committed.
	Failed []Failure
	// Opaque carries the aggregator's own batch for Release.
	Opaque any
}

// Failure is one statement the aggregator could not apply.
type Failure struct {
	Learner string
	Source  Source
	Panic   string // the recovered panic value
}

// LearnerWrite is the durable form of one changed learner.
type LearnerWrite struct {
	Learner   string
	Partition int32 // partition its latest evidence came from
	State     []byte
	Decisions []decision.Decision
	Offsets   []Source // applied offset per partition: the store's write guard
	// Engagement is the current engagement of the learner's changed pairs,
	// written with the state (the learner's engagement hash).
	Engagement []engine.PairEngagement
	// Skills are the learner-skill states that changed (the learner's
	// skills hash), from which readers decide content the learner never
	// touched.
	Skills []engine.SkillState
	Opaque any // the adapter's own value, when it has one
}

// Figures stores the per-content engagement figures (processor/engagement)
// of the partitions the aggregating stage owns. Each generation keeps one
// engagement.Aggregator per partition, made by NewAggregator when the
// partition's first flush runs (it reads the stored offset the figures
// include), fed the batch's EngagementChanges, and writes each flush's
// batch with Write, retried until it succeeds, before the learner states
// of the same flush and the commit (docs/engagement.md).
type Figures interface {
	NewAggregator(ctx context.Context, partition int32) (*engagement.Aggregator, error)
	Write(ctx context.Context, b engagement.Batch) error
}

// Store makes a batch of learner writes durable: each learner atomically,
// guarded by its stored offset so replays cannot move state backwards.
type Store interface {
	WriteBatch(ctx context.Context, ws []LearnerWrite) error
	Ping(ctx context.Context) error
}
