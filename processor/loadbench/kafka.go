package loadbench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/unpair/unpair/processor/pipeline"
)

// admin is the few Kafka administration calls the benchmark needs. Each
// call uses a client with its own transport, so metadata of a topic
// created a moment ago is read now rather than from a shared cache.
type admin struct{ brokers []string }

func (a admin) client() (*kafka.Client, func()) {
	tr := &kafka.Transport{MetadataTTL: time.Second}
	return &kafka.Client{Addr: kafka.TCP(a.brokers...), Timeout: 10 * time.Second, Transport: tr}, tr.CloseIdleConnections
}

// createTopic creates topic with n partitions and infinite retention (the
// cohort's timestamps lie in the past) and waits until every partition has
// a leader.
func (a admin) createTopic(ctx context.Context, topic string, n int) error {
	d := kafka.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", a.brokers[0])
	if err != nil {
		return fmt.Errorf("cannot create topic %s: %w", topic, err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("cannot create topic %s: cannot find the controller: %w", topic, err)
	}
	cc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return fmt.Errorf("cannot create topic %s: cannot reach the controller: %w", topic, err)
	}
	defer cc.Close()
	err = cc.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: n, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: "-1"}}})
	if err != nil {
		return fmt.Errorf("cannot create topic %s: %w", topic, err)
	}
	return poll(ctx, 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		got, err := a.partitions(ctx, topic)
		return err == nil && got == n, nil
	}, "topic "+topic+" to show its "+strconv.Itoa(n)+" partitions")
}

// partitions returns the partition count of topic once all have leaders.
func (a admin) partitions(ctx context.Context, topic string) (int, error) {
	cl, done := a.client()
	defer done()
	res, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("cannot read partitions of %s: %w", topic, err)
	}
	for _, t := range res.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return 0, fmt.Errorf("cannot read partitions of %s: %w", topic, t.Error)
		}
		for _, p := range t.Partitions {
			if p.Leader.Host == "" || p.Error != nil {
				return 0, fmt.Errorf("%s partition %d has no leader yet", topic, p.ID)
			}
		}
		return len(t.Partitions), nil
	}
	return 0, fmt.Errorf("topic %s does not exist", topic)
}

// ends returns the end offset (high watermark) of every partition of topic,
// as the pipeline reads it.
func (a admin) ends(ctx context.Context, topic string) (map[int]int64, error) {
	return pipeline.EndOffsets(ctx, a.brokers, topic)
}

// committed returns the offsets group has committed on topic's partitions
// (-1 where nothing is committed).
func (a admin) committed(ctx context.Context, group, topic string, parts []int) (map[int]int64, error) {
	cl, done := a.client()
	defer done()
	res, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return nil, fmt.Errorf("cannot fetch the offsets of group %s on %s: %w", group, topic, err)
	}
	if res.Error != nil {
		return nil, fmt.Errorf("cannot fetch the offsets of group %s on %s: %w", group, topic, res.Error)
	}
	out := make(map[int]int64, len(parts))
	for _, po := range res.Topics[topic] {
		out[po.Partition] = po.CommittedOffset
	}
	return out, nil
}

// caughtUp reports whether group has committed the end of every partition
// of topic, and if not, which partitions lag.
func (a admin) caughtUp(ctx context.Context, group, topic string) (bool, string, error) {
	ends, err := a.ends(ctx, topic)
	if err != nil {
		return false, "", err
	}
	parts := make([]int, 0, len(ends))
	for p := range ends {
		parts = append(parts, p)
	}
	got, err := a.committed(ctx, group, topic, parts)
	if err != nil {
		return false, "", err
	}
	lag := ""
	for p, end := range ends {
		if end > 0 && got[p] < end {
			lag += fmt.Sprintf(" %d:%d<%d", p, got[p], end)
		}
	}
	return lag == "", lag, nil
}

// deleteTopics removes the benchmark's topics; missing ones are fine.
func (a admin) deleteTopics(ctx context.Context, topics ...string) error {
	cl, done := a.client()
	defer done()
	res, err := cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("cannot delete topics: %w", err)
	}
	var errs []error
	for t, e := range res.Errors {
		if e != nil && !errors.Is(e, kafka.UnknownTopicOrPartition) {
			errs = append(errs, fmt.Errorf("cannot delete topic %s: %w", t, e))
		}
	}
	return errors.Join(errs...)
}

// lastMessage reads the message at offset end-1 of a partition.
func (a admin) lastMessage(ctx context.Context, topic string, partition int, end int64) (kafka.Message, error) {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: a.brokers, Topic: topic, Partition: partition, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(end - 1); err != nil {
		return kafka.Message{}, fmt.Errorf("cannot read the last message of %s partition %d: %w", topic, partition, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := r.FetchMessage(ctx)
	if err != nil {
		return kafka.Message{}, fmt.Errorf("cannot read the last message of %s partition %d: %w", topic, partition, err)
	}
	return m, nil
}

// poll calls cond every interval until it reports true, it fails, ctx
// ends or timeout passes; what names the wait in the timeout error.
func poll(ctx context.Context, timeout, interval time.Duration, cond func() (bool, error), what string) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gave up after %v waiting for %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}
