package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// CatalogSink applies one record of the compacted catalog topic (key and
// value as on the topic; an empty value is a tombstone). The catalog
// package's ParseUpdate + Catalog.Apply does this with an atomic swap.
type CatalogSink interface {
	ApplyRecord(key, value []byte) error
}

// CatalogSinkFunc adapts a function to CatalogSink.
type CatalogSinkFunc func(key, value []byte) error

// ApplyRecord calls f.
func (f CatalogSinkFunc) ApplyRecord(key, value []byte) error { return f(key, value) }

// catalogFeed follows the compacted catalog topic: every instance reads all
// of it (no group), from the first offset of every partition, and applies
// each record live. It reports when it has read up to the end offsets it
// found at start, so readiness can wait for a complete catalog.
type catalogFeed struct {
	cfg    *Config
	log    *zap.Logger
	m      *Metrics
	topic  string
	sink   CatalogSink
	open   ReaderFactory
	health *Health
}

// run follows the topic until ctx ends.
func (f *catalogFeed) run(ctx context.Context) error {
	var ends map[int]int64
	bo := backoff{min: f.cfg.RetryMin, max: f.cfg.RetryMax}
	for {
		var err error
		if ends, err = EndOffsets(ctx, f.cfg.Brokers, f.topic); err == nil {
			break
		}
		f.log.Warn("cannot read catalog topic partitions; retrying", zap.String("topic", f.topic), zap.Error(err))
		if bo.wait(ctx) != nil {
			return nil
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	behind := len(ends)
	caughtUp := func() {
		mu.Lock()
		behind--
		done := behind == 0
		mu.Unlock()
		if done {
			f.log.Info("catalog topic read to its end", zap.String("topic", f.topic))
			f.health.setCatalog(true)
		}
	}
	if behind == 0 {
		f.health.setCatalog(true)
	}
	for p, end := range ends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.follow(ctx, p, end, caughtUp)
		}()
	}
	wg.Wait()
	return nil
}

func (f *catalogFeed) follow(ctx context.Context, p int, end int64, caughtUp func()) {
	var r PartitionReader
	var err error
	bo := backoff{min: f.cfg.RetryMin, max: f.cfg.RetryMax}
	for r == nil {
		if r, err = f.open(f.topic, p, kafka.FirstOffset); err != nil {
			f.log.Warn("cannot open catalog reader", zap.Int("partition", p), zap.Error(err))
			if bo.wait(ctx) != nil {
				return
			}
		}
	}
	defer r.Close()
	done := end <= 0
	if done {
		caughtUp()
	}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			f.log.Warn("catalog fetch failed", zap.Int("partition", p), zap.Error(err))
			if bo.wait(ctx) != nil {
				return
			}
			continue
		}
		bo.reset()
		if err := f.apply(m.Key, m.Value); err != nil {
			f.m.CatalogUpdates.WithLabelValues("rejected").Inc()
			f.log.Warn("catalog record rejected", zap.Int("partition", p), zap.Int64("offset", m.Offset),
				zap.ByteString("key", m.Key), zap.Error(err))
		} else {
			f.m.CatalogUpdates.WithLabelValues("applied").Inc()
		}
		if !done && m.Offset+1 >= end {
			done = true
			caughtUp()
		}
	}
}

func (f *catalogFeed) apply(key, value []byte) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicError{v}
		}
	}()
	return f.sink.ApplyRecord(key, value)
}

// EndOffsets returns the end (high watermark) offset of every partition of
// topic, read with fresh metadata (the load benchmark uses it too).
func EndOffsets(ctx context.Context, brokers []string, topic string) (map[int]int64, error) {
	cl, done := freshClient(brokers)
	defer done()
	n, err := partitionCount(ctx, brokers, topic)
	if err != nil {
		return nil, err
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for p := 0; p < n; p++ {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p))
	}
	res, err := cl.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("cannot list offsets of %s: %w", topic, err)
	}
	ends := make(map[int]int64, n)
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("cannot list offsets of %s partition %d: %w", topic, po.Partition, po.Error)
		}
		ends[po.Partition] = po.LastOffset
	}
	return ends, nil
}

// freshClient returns a Kafka client with its own transport, so its
// metadata is read now rather than from kafka-go's shared cache (which
// would hide a topic created a moment ago for seconds), and the function
// that closes its connections.
func freshClient(brokers []string) (*kafka.Client, func()) {
	tr := kafkaConnFor(brokers).Transport(time.Second)
	return &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: tr}, tr.CloseIdleConnections
}

// errNoTopic says a topic does not exist; errNoLeader that it is not ready.
var (
	errNoTopic  = errors.New("topic does not exist")
	errNoLeader = errors.New("no leader")
)

// partitionCount returns how many partitions topic has. It asks for
// metadata without auto-creation, so it never creates the topic.
func partitionCount(ctx context.Context, brokers []string, topic string) (int, error) {
	cl, done := freshClient(brokers)
	defer done()
	res, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("cannot read partitions of %s: %w", topic, err)
	}
	for _, t := range res.Topics {
		if t.Name != topic {
			continue
		}
		if errors.Is(t.Error, kafka.UnknownTopicOrPartition) || (t.Error == nil && len(t.Partitions) == 0) {
			return 0, fmt.Errorf("%s: %w", topic, errNoTopic)
		}
		if t.Error != nil {
			return 0, fmt.Errorf("cannot read partitions of %s: %w", topic, t.Error)
		}
		for _, p := range t.Partitions {
			if p.Leader.Host == "" || p.Error != nil {
				// a new topic's partitions exist before their leaders do
				return 0, fmt.Errorf("%s partition %d has no leader yet: %w", topic, p.ID, errNoLeader)
			}
		}
		return len(t.Partitions), nil
	}
	return 0, fmt.Errorf("%s: %w", topic, errNoTopic)
}

// ensureTopic creates topic with n partitions when it does not exist;
// compacted makes it a compacted topic.
func ensureTopic(ctx context.Context, brokers []string, topic string, n, rf int, compacted bool) (created bool, err error) {
	bo := backoff{min: 10 * time.Millisecond, max: 500 * time.Millisecond}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := partitionCount(ctx, brokers, topic)
		if err == nil {
			return false, nil
		}
		if errors.Is(err, errNoTopic) {
			break
		}
		if !errors.Is(err, errNoLeader) || time.Now().After(deadline) {
			return false, err
		}
		if bo.wait(ctx) != nil {
			return false, ctx.Err()
		}
	}
	d := kafkaConnFor(brokers).Dialer()
	conn, err := d.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		return false, err
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return false, fmt.Errorf("cannot find the controller: %w", err)
	}
	cc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return false, fmt.Errorf("cannot reach the controller: %w", err)
	}
	defer cc.Close()
	tc := kafka.TopicConfig{Topic: topic, NumPartitions: n, ReplicationFactor: rf}
	if compacted {
		tc.ConfigEntries = []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}
	}
	if err := cc.CreateTopics(tc); err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return false, fmt.Errorf("cannot create topic %s: %w", topic, err)
	}
	// Wait until the metadata shows every partition with its leader: a
	// consumer group that joins before would be assigned nothing, a writer
	// would fail.
	bo.reset()
	deadline = time.Now().Add(30 * time.Second)
	for {
		got, err := partitionCount(ctx, brokers, topic)
		if err == nil && got >= n {
			return true, nil
		}
		if time.Now().After(deadline) {
			return true, fmt.Errorf("topic %s created but its %d partitions are not visible after 30s (last: %d, %v)", topic, n, got, err)
		}
		if bo.wait(ctx) != nil {
			return true, ctx.Err()
		}
	}
}
