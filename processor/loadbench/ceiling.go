package loadbench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/unpair/unpair/processor/pipeline"
)

// readerConfig is the partition reader the pipeline's fetchers open
// (processor/pipeline: kafkaReaders), so the ceiling fetches the way the
// pipeline does.
func readerConfig(brokers []string, topic string, partition int) kafka.ReaderConfig {
	return kafka.ReaderConfig{
		Brokers:        brokers,
		Topic:          topic,
		Partition:      partition,
		MinBytes:       1,
		MaxBytes:       8 << 20,
		MaxWait:        pipeline.DefaultFetchMaxWait,
		QueueCapacity:  1000,
		ReadBackoffMin: 20 * time.Millisecond,
		ReadBackoffMax: 500 * time.Millisecond,
	}
}

// groupConfig is the consumer group configuration the pipeline uses, with
// its default timings.
func groupConfig(brokers []string, group, topic string) kafka.ConsumerGroupConfig {
	return kafka.ConsumerGroupConfig{
		ID:                     group,
		Brokers:                brokers,
		Topics:                 []string{topic},
		GroupBalancers:         []kafka.GroupBalancer{kafka.RangeGroupBalancer{}},
		HeartbeatInterval:      pipeline.DefaultHeartbeat,
		SessionTimeout:         pipeline.DefaultSessionTimeout,
		RebalanceTimeout:       pipeline.DefaultRebalance,
		JoinGroupBackoff:       time.Second,
		StartOffset:            kafka.FirstOffset,
		Timeout:                5 * time.Second,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 5 * time.Second,
	}
}

// Phase is one measured pass over the input topic.
type Phase struct {
	Name       string
	Statements int           // statements the pass covered
	Wall       time.Duration // from starting the consumer (group join included) to done
	Sustained  time.Duration // from partitions assigned to done
}

// Rate is the sustained rate in statements per second.
func (p Phase) Rate() float64 {
	if p.Sustained <= 0 {
		return 0
	}
	return float64(p.Statements) / p.Sustained.Seconds()
}

// ceiling reads every partition of topic to its end (ends) in a fresh
// consumer group with kafka-go's ConsumerGroup/Generation API and one
// partition reader per assignment, discarding the messages: the most a
// kafka-go consumer of this broker reads on this machine.
func ceiling(ctx context.Context, brokers []string, group, topic string, ends map[int]int64) (Phase, error) {
	ph := Phase{Name: "ceiling: bare kafka-go consumer group, discarding"}
	start := time.Now()
	cg, err := kafka.NewConsumerGroup(groupConfig(brokers, group, topic))
	if err != nil {
		return ph, fmt.Errorf("cannot join group %s: %w", group, err)
	}
	defer cg.Close()
	var gen *kafka.Generation
	for gen == nil {
		// kafka-go backs off between joins; a new broker answers
		// "coordinator not available" until its offsets topic exists.
		if gen, err = cg.Next(ctx); err != nil && ctx.Err() != nil {
			return ph, fmt.Errorf("cannot join group %s: %w", group, err)
		}
	}
	assigned := time.Now()
	pas := gen.Assignments[topic]
	if len(pas) != len(ends) {
		return ph, fmt.Errorf("group %s: %d partitions assigned, topic %s has %d", group, len(pas), topic, len(ends))
	}
	var read atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, len(pas))
	wg.Add(len(pas))
	for _, pa := range pas {
		gen.Start(func(gctx context.Context) {
			// kafka-go ends the generation as soon as one started function
			// returns: a partition read to its end waits for the others.
			defer func() { <-gctx.Done() }()
			defer wg.Done()
			end := ends[pa.ID]
			if end <= 0 {
				return
			}
			r := kafka.NewReader(readerConfig(brokers, topic, pa.ID))
			defer r.Close()
			if err := r.SetOffset(pa.Offset); err != nil {
				errs <- fmt.Errorf("cannot read partition %d: %w", pa.ID, err)
				return
			}
			var n int64
			for {
				m, err := r.FetchMessage(gctx)
				if err != nil {
					errs <- fmt.Errorf("cannot read partition %d: %w", pa.ID, err)
					return
				}
				n++
				if m.Offset >= end-1 {
					read.Add(n)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		cg.Close()
		<-done
		return ph, fmt.Errorf("ceiling: %w", ctx.Err())
	}
	end := time.Now()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if err := errors.Join(all...); err != nil {
		return ph, err
	}
	ph.Statements = int(read.Load())
	ph.Wall, ph.Sustained = end.Sub(start), end.Sub(assigned)
	return ph, nil
}
