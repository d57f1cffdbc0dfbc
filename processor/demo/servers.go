package demo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// servers are the Kafka and Redis the demo runs against: in-process ones it
// started (and closes), or the ones the caller named.
type servers struct {
	brokers []string
	redis   []string
	kfake   *kfake.Cluster
	mini    *miniredis.Miniredis
	// transport is the demo's own: kafka-go serves metadata from a
	// transport's cache (refreshed every 6 s, and after a CreateTopics sent
	// through it), so sharing kafka.DefaultTransport with the processor
	// would let the processor's writer see a topic list from before the
	// topics existed.
	transport *kafka.Transport
}

// startServers starts an in-process Kafka-protocol broker when brokers is
// empty and an in-process Redis when redisAddrs is empty.
func startServers(brokers, redisAddrs []string) (*servers, error) {
	s := &servers{brokers: brokers, redis: redisAddrs, transport: &kafka.Transport{ClientID: "unpair-demo"}}
	if len(brokers) == 0 {
		// One broker: kafka-go's consumer group and writer then talk to a
		// single coordinator and leader, as in a one-node development Kafka.
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.ClusterID("unpair-demo"))
		if err != nil {
			return nil, fmt.Errorf("cannot start the in-process Kafka broker: %w", err)
		}
		s.kfake, s.brokers = c, c.ListenAddrs()
	}
	if len(redisAddrs) == 0 {
		m := miniredis.NewMiniRedis()
		if err := m.Start(); err != nil {
			s.close()
			return nil, fmt.Errorf("cannot start the in-process Redis: %w", err)
		}
		s.mini, s.redis = m, []string{m.Addr()}
	}
	return s, nil
}

// inProcess reports whether both servers were started by the demo.
func (s *servers) inProcess() bool { return s.kfake != nil && s.mini != nil }

func (s *servers) close() {
	if s.kfake != nil {
		s.kfake.Close()
	}
	if s.mini != nil {
		s.mini.Close()
	}
	s.transport.CloseIdleConnections()
}

// kafkaClient returns a kafka-go client of the demo's brokers.
func (s *servers) kafkaClient() *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(s.brokers...), Timeout: 10 * time.Second, Transport: s.transport}
}

// createTopic creates topic with n partitions unless it exists, and waits
// until its metadata shows n partitions.
func createTopic(ctx context.Context, cl *kafka.Client, topic string, n int, compacted bool) error {
	tc := kafka.TopicConfig{Topic: topic, NumPartitions: n, ReplicationFactor: 1}
	if compacted {
		tc.ConfigEntries = []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}
	}
	resp, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{tc}})
	if err != nil {
		return fmt.Errorf("cannot create topic %s: %w", topic, err)
	}
	if err := resp.Errors[topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("cannot create topic %s: %w", topic, err)
	}
	for {
		got, err := partitions(ctx, cl, topic)
		if err == nil && len(got) >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s: partitions not visible in metadata: %w", topic, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// partitions returns the partition ids of topic.
func partitions(ctx context.Context, cl *kafka.Client, topic string) ([]int, error) {
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("cannot read metadata of topic %s: %w", topic, err)
	}
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("topic %s: %w", topic, t.Error)
		}
		ids := make([]int, len(t.Partitions))
		for i, p := range t.Partitions {
			ids[i] = p.ID
		}
		return ids, nil
	}
	return nil, fmt.Errorf("topic %s: not in metadata", topic)
}

// uncommitted returns how many messages of topic lie at or after group's
// committed offsets (all of them for a partition without a commit).
func uncommitted(ctx context.Context, cl *kafka.Client, group, topic string) (int64, error) {
	ids, err := partitions(ctx, cl, topic)
	if err != nil {
		return 0, err
	}
	reqs := make([]kafka.OffsetRequest, len(ids))
	for i, p := range ids {
		reqs[i] = kafka.LastOffsetOf(p)
	}
	lo, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return 0, fmt.Errorf("cannot list offsets of topic %s: %w", topic, err)
	}
	end := map[int]int64{}
	first := map[int]int64{}
	for _, p := range lo.Topics[topic] {
		if p.Error != nil {
			return 0, fmt.Errorf("cannot list offsets of topic %s partition %d: %w", topic, p.Partition, p.Error)
		}
		end[p.Partition], first[p.Partition] = p.LastOffset, max(p.FirstOffset, 0)
	}
	of, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err != nil {
		return 0, fmt.Errorf("cannot fetch committed offsets of group %s: %w", group, err)
	}
	if of.Error != nil {
		return 0, fmt.Errorf("cannot fetch committed offsets of group %s: %w", group, of.Error)
	}
	committed := map[int]int64{}
	for _, p := range of.Topics[topic] {
		if p.Error != nil {
			return 0, fmt.Errorf("cannot fetch committed offset of group %s, topic %s partition %d: %w", group, topic, p.Partition, p.Error)
		}
		committed[p.Partition] = p.CommittedOffset
	}
	var n int64
	for _, p := range ids {
		c, ok := committed[p]
		if !ok || c < 0 {
			c = first[p]
		}
		if d := end[p] - c; d > 0 {
			n += d
		}
	}
	return n, nil
}
