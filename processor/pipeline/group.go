package pipeline

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// generation is what a stage needs of one consumer group generation; the
// kafka-go Generation satisfies it through kafkaGeneration, and unit tests
// drive the stages with a fake.
type generation interface {
	// Partitions returns the partitions of topic assigned to this member,
	// each with the offset to start from (a committed offset or
	// kafka.FirstOffset).
	Partitions(topic string) []kafka.PartitionAssignment
	// Start runs fn in a goroutine bound to the generation: fn's context
	// ends when the generation does (a rebalance or leaving), and the group
	// waits for every fn to return before the next generation.
	Start(fn func(ctx context.Context))
	// CommitOffsets commits next-offsets (last done + 1) per topic and
	// partition for the group.
	CommitOffsets(offsets map[string]map[int]int64) error
}

type kafkaGeneration struct{ g *kafka.Generation }

func (k kafkaGeneration) Partitions(topic string) []kafka.PartitionAssignment {
	return k.g.Assignments[topic]
}
func (k kafkaGeneration) Start(fn func(ctx context.Context)) { k.g.Start(fn) }
func (k kafkaGeneration) CommitOffsets(o map[string]map[int]int64) error {
	return k.g.CommitOffsets(o)
}

// groupConfig builds the kafka-go consumer group configuration of a stage.
func groupConfig(c *Config, id, topic string) kafka.ConsumerGroupConfig {
	return kafka.ConsumerGroupConfig{
		ID:                id,
		Brokers:           c.Brokers,
		Topics:            []string{topic},
		GroupBalancers:    []kafka.GroupBalancer{kafka.RangeGroupBalancer{}},
		HeartbeatInterval: c.HeartbeatInterval,
		SessionTimeout:    c.SessionTimeout,
		RebalanceTimeout:  c.RebalanceTimeout,
		JoinGroupBackoff:  time.Second,
		Dialer:            kafkaConnFor(c.Brokers).Dialer(),
		StartOffset:       kafka.FirstOffset,
		Timeout:           5 * time.Second,
		// New partitions rebalance the group so they get an owner.
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 5 * time.Second,
	}
}

// runGroup joins the group and hands every generation to onGen, which must
// start its work with gen.Start and return. When ctx ends it closes the
// group, which ends the current generation, waits for the work started on
// it (the final flush and commit) and leaves the group.
func runGroup(ctx context.Context, log *zap.Logger, cfg kafka.ConsumerGroupConfig, onGen func(generation)) error {
	cg, err := kafka.NewConsumerGroup(cfg)
	if err != nil {
		return err
	}
	defer cg.Close()
	for {
		gen, err := cg.Next(ctx)
		switch {
		case err == nil:
			log.Info("generation started", zap.String("group", cfg.ID), zap.Int32("generation", gen.ID),
				zap.Any("partitions", partitionIDs(gen.Assignments[cfg.Topics[0]])))
			onGen(kafkaGeneration{gen})
		case ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed):
			return nil
		default:
			// kafka-go backs off before it reports a join error again.
			log.Warn("consumer group error; rejoining", zap.String("group", cfg.ID), zap.Error(err))
		}
	}
}

func partitionIDs(pa []kafka.PartitionAssignment) []int {
	ids := make([]int, len(pa))
	for i, p := range pa {
		ids[i] = p.ID
	}
	return ids
}

// PartitionReader fetches one partition from a given offset; the stages
// open one per assigned partition (kafka.Reader without a group).
type PartitionReader interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
	Close() error
}

// ReaderFactory opens a PartitionReader on topic's partition at offset
// (an absolute offset, kafka.FirstOffset or kafka.LastOffset).
type ReaderFactory func(topic string, partition int, offset int64) (PartitionReader, error)

// kafkaReaders returns the factory of kafka-go partition readers, which
// fetch in batches and prefetch up to a bounded queue.
func kafkaReaders(c *Config) ReaderFactory {
	return func(topic string, partition int, offset int64) (PartitionReader, error) {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:        c.Brokers,
			Topic:          topic,
			Partition:      partition,
			MinBytes:       1,
			MaxBytes:       8 << 20,
			MaxWait:        c.FetchMaxWait,
			QueueCapacity:  1000,
			ReadBackoffMin: 20 * time.Millisecond,
			ReadBackoffMax: 500 * time.Millisecond,
			Dialer:         kafkaConnFor(c.Brokers).Dialer(),
		})
		if err := r.SetOffset(offset); err != nil {
			r.Close()
			return nil, err
		}
		return r, nil
	}
}

// Producer sends messages and returns once every one is acknowledged by
// all in-sync replicas (kafka.Writer with RequiredAcks=all, synchronous).
type Producer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// newRekeyWriter returns the re-key stage's writer of the by-learner
// topic. It retries a batch for as long as the broker's error is
// temporary (kafka-go gives up on a batch after MaxAttempts and goes on
// with the partition's next one): kafka-go writes a partition's batches
// one after another, so what lands of one input partition's statements is
// always in input order, which the engine's origin guard relies on
// (rekeyStage.produce handles the errors kafka-go does not retry).
func newRekeyWriter(c *Config) *kafka.Writer {
	w := newWriter(c)
	w.MaxAttempts = math.MaxInt32
	return w
}

// newWriter returns the writer of every topic the processor produces to;
// each message names its topic. Keys route through PartitionOf, so the
// by-learner topic is partitioned by learner key deterministically.
func newWriter(c *Config) *kafka.Writer {
	var tr kafka.RoundTripper // kafka-go's default unless SASL or TLS is set
	if k := kafkaConnFor(c.Brokers); k.SASL != nil || k.TLS != nil {
		tr = k.Transport(0)
	}
	return &kafka.Writer{
		Transport:    tr,
		Addr:         kafka.TCP(c.Brokers...),
		Balancer:     byLearner{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    1000,
		// a produce request must fit the broker's default message.max.bytes
		// (1 MiB); MaxStatementBytes keeps every single message well below
		BatchBytes:      1 << 20,
		BatchTimeout:    2 * time.Millisecond,
		MaxAttempts:     5,
		WriteBackoffMin: 20 * time.Millisecond,
		WriteBackoffMax: time.Second,
		ReadTimeout:     10 * time.Second,
		WriteTimeout:    10 * time.Second,
	}
}
