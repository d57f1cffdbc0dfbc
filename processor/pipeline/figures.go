package pipeline

import (
	"context"
	"fmt"
	"slices"

	"github.com/unpair/unpair/processor/engagement"
	"github.com/unpair/unpair/processor/engine"
)

// figureState is one generation's per-content engagement figures: one
// aggregator per partition, made at the partition's first flush.
type figureState struct {
	aggs map[int32]*engagement.Aggregator
}

// writeFigures feeds a flush's engagement changes to the partitions'
// aggregators and writes each partition's batch (guarded by its offset in
// Redis, so a retried write is a no-op), retrying until every batch is in
// or ctx ends. marks are the last dispatched offsets per partition: every
// statement up to them is applied by now.
func (s *aggStage) writeFigures(ctx context.Context, gs *genState, marks map[int32]int64, changes []engine.EngagementChange) bool {
	if gs.figs.aggs == nil {
		gs.figs.aggs = map[int32]*engagement.Aggregator{}
	}
	var parts []int32
	for p := range marks {
		parts = append(parts, p)
	}
	for i := range changes {
		if p := changes[i].Source.Partition; p >= 0 && !slices.Contains(parts, p) {
			parts = append(parts, p)
		}
	}
	slices.Sort(parts)
	for _, p := range parts {
		if gs.figs.aggs[p] != nil {
			continue
		}
		ok := s.retry(ctx, fmt.Sprintf("read the engagement offset of partition %d", p), func(ctx context.Context) error {
			a, err := s.figures.NewAggregator(ctx, p)
			if err == nil {
				gs.figs.aggs[p] = a
			}
			return err
		}, func(error) { s.m.RedisErrors.Inc() })
		if !ok {
			return false
		}
	}
	for i := range changes {
		if a := gs.figs.aggs[changes[i].Source.Partition]; a != nil {
			changes[i].Feed(a)
		}
	}
	for _, p := range parts {
		off, ok := marks[p]
		if !ok {
			off = -1
		}
		b := gs.figs.aggs[p].Flush(off)
		if b.Empty() {
			// Nothing to add: the stored offset may stay behind, since a
			// replay of these statements adds nothing either.
			continue
		}
		attempt := 0
		if !s.retry(ctx, fmt.Sprintf("write the engagement figures of partition %d", p), func(ctx context.Context) error {
			if attempt > 0 {
				s.m.RedisRetries.Inc()
			}
			attempt++
			return s.figures.Write(ctx, b)
		}, func(error) { s.m.RedisErrors.Inc() }) {
			return false
		}
	}
	return true
}

// EngagementFigures adapts an engagement.Writer to Figures.
type EngagementFigures struct {
	W    *engagement.Writer
	Rule engagement.Rule // must be the rule readers use (insight, unpair report)
}

// NewAggregator implements Figures: the partition's aggregator starts from
// the offset its stored figures include.
func (f EngagementFigures) NewAggregator(ctx context.Context, partition int32) (*engagement.Aggregator, error) {
	base, err := f.W.Offset(ctx, partition)
	if err != nil {
		return nil, err
	}
	return engagement.NewAggregator(partition, base, f.Rule), nil
}

// Write implements Figures.
func (f EngagementFigures) Write(ctx context.Context, b engagement.Batch) error {
	_, err := f.W.Write(ctx, b)
	return err
}
