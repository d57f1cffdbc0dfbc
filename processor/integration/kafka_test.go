package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/unpair/unpair/processor/testenv"
)

// uniqueName returns a topic or group name that no earlier run used, so tests
// never see each other's data on a long-lived broker.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), time.Now().UnixNano())
}

// keyBalancer sends a message to the partition named in its key, "p<N>-...".
type keyBalancer struct{}

func (keyBalancer) Balance(msg kafka.Message, partitions ...int) int {
	rest, ok := strings.CutPrefix(string(msg.Key), "p")
	if !ok {
		return partitions[0]
	}
	n, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
	if err != nil {
		return partitions[0]
	}
	return n
}

// createTopic creates topic with the given number of partitions and waits
// until every partition has a leader.
func createTopic(ctx context.Context, t *testing.T, addr, topic string, partitions int) {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second}
	res, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}},
	})
	if err != nil {
		t.Fatalf("cannot create topic %s: %v", topic, err)
	}
	if err := res.Errors[topic]; err != nil {
		t.Fatalf("cannot create topic %s: broker says %v", topic, err)
	}
	waitFor(ctx, t, "leaders for every partition of "+topic, func() error {
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err != nil {
			return err
		}
		if len(md.Topics) != 1 || md.Topics[0].Error != nil {
			return fmt.Errorf("metadata for %s: %+v", topic, md.Topics)
		}
		if got := len(md.Topics[0].Partitions); got != partitions {
			return fmt.Errorf("%d partitions, want %d", got, partitions)
		}
		for _, p := range md.Topics[0].Partitions {
			if p.Error != nil || p.Leader.ID < 0 {
				return fmt.Errorf("partition %d has no leader yet (%v)", p.ID, p.Error)
			}
		}
		return nil
	})
}

// waitFor polls check every 100ms until it returns nil or ctx ends.
func waitFor(ctx context.Context, t *testing.T, what string, check func() error) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s: %v (last error: %v)", what, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// produce writes perPartition messages to each partition, keyed
// "p<partition>-<seq>", seq counting from first.
func produce(ctx context.Context, t *testing.T, addr, topic string, partitions, first, perPartition int) {
	t.Helper()
	w := &kafka.Writer{
		Addr:         kafka.TCP(addr),
		Topic:        topic,
		Balancer:     keyBalancer{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
		MaxAttempts:  10,
	}
	defer func() {
		if err := w.Close(); err != nil {
			t.Errorf("cannot close writer: %v", err)
		}
	}()
	var msgs []kafka.Message
	for seq := first; seq < first+perPartition; seq++ {
		for p := 0; p < partitions; p++ {
			k := fmt.Sprintf("p%d-%03d", p, seq)
			msgs = append(msgs, kafka.Message{Key: []byte(k), Value: []byte("value of " + k)})
		}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("cannot produce %d messages to %s: %v", len(msgs), topic, err)
	}
}

// consumed is what one generation read from one partition.
type consumed struct {
	partition int
	start     int64 // the assignment's initial offset
	keys      []string
	next      int64 // offset after the last message read
	err       error
}

// consumeGeneration joins group, reads n messages from each assigned
// partition through gen.Start, commits the offsets after them with
// gen.CommitOffsets, and leaves the group.
func consumeGeneration(ctx context.Context, t *testing.T, addr, group, topic string, wantPartitions, n int) map[int]consumed {
	t.Helper()
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                group,
		Brokers:           []string{addr},
		Topics:            []string{topic},
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: 500 * time.Millisecond,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  200 * time.Millisecond,
		Timeout:           10 * time.Second,
	})
	if err != nil {
		t.Fatalf("cannot create consumer group %s: %v", group, err)
	}
	defer func() {
		if err := cg.Close(); err != nil {
			t.Errorf("cannot leave consumer group %s: %v", group, err)
		}
	}()
	gen := nextGeneration(ctx, t, cg, group)
	assigned := gen.Assignments[topic]
	if len(assigned) != wantPartitions {
		t.Fatalf("generation %d of %s assigned %d partitions of %s, want %d (%+v)", gen.ID, group, len(assigned), topic, wantPartitions, gen.Assignments)
	}
	results := make(chan consumed, len(assigned))
	for _, a := range assigned {
		// A generation ends as soon as any function given to Start returns
		// (and its coordinator connection closes, so CommitOffsets fails with
		// "use of closed network connection"): hold on until the generation
		// ends.
		gen.Start(func(gctx context.Context) {
			results <- readPartition(gctx, addr, topic, a, n)
			<-gctx.Done()
		})
	}
	got := make(map[int]consumed, len(assigned))
	commit := map[int]int64{}
	for range assigned {
		select {
		case r := <-results:
			if r.err != nil {
				t.Fatalf("partition %d: %v", r.partition, r.err)
			}
			got[r.partition] = r
			commit[r.partition] = r.next
		case <-ctx.Done():
			t.Fatalf("consumer group %s: partitions not read before the deadline: %v", group, ctx.Err())
		}
	}
	if err := gen.CommitOffsets(map[string]map[int]int64{topic: commit}); err != nil {
		t.Fatalf("generation %d of %s: cannot commit offsets %v: %v", gen.ID, group, commit, err)
	}
	return got
}

// nextGeneration waits for the group's next generation. On a fresh broker
// the first coordinator lookup creates __consumer_offsets and Next returns
// GROUP_COORDINATOR_NOT_AVAILABLE (and similar temporary errors) instead of
// retrying: callers must call Next again.
func nextGeneration(ctx context.Context, t *testing.T, cg *kafka.ConsumerGroup, group string) *kafka.Generation {
	t.Helper()
	for {
		gen, err := cg.Next(ctx)
		if err == nil {
			return gen
		}
		var kerr kafka.Error
		if !errors.As(err, &kerr) || !kerr.Temporary() || ctx.Err() != nil {
			t.Fatalf("consumer group %s: no generation: %v", group, err)
		}
		t.Logf("consumer group %s: Next: %v; calling Next again", group, err)
	}
}

// readPartition reads n messages of one assigned partition from its initial
// offset with a partition reader (no group: the generation owns commits).
func readPartition(ctx context.Context, addr, topic string, a kafka.PartitionAssignment, n int) consumed {
	out := consumed{partition: a.ID, start: a.Offset}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   []string{addr},
		Topic:     topic,
		Partition: a.ID,
		MinBytes:  1,
		MaxBytes:  1 << 20,
		MaxWait:   100 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(a.Offset); err != nil {
		out.err = fmt.Errorf("cannot seek partition %d to %d: %w", a.ID, a.Offset, err)
		return out
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for len(out.keys) < n {
		m, err := r.ReadMessage(rctx)
		if err != nil {
			out.err = fmt.Errorf("read %d of %d messages from partition %d: %w", len(out.keys), n, a.ID, err)
			return out
		}
		out.keys = append(out.keys, string(m.Key))
		out.next = m.Offset + 1
	}
	return out
}

func wantKeys(partition, from, to int) []string {
	var keys []string
	for seq := from; seq < to; seq++ {
		keys = append(keys, fmt.Sprintf("p%d-%03d", partition, seq))
	}
	return keys
}

func committedOffsets(ctx context.Context, t *testing.T, addr, group, topic string, partitions int) map[int]int64 {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second}
	ids := make([]int, partitions)
	for i := range ids {
		ids[i] = i
	}
	res, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err != nil {
		t.Fatalf("cannot fetch committed offsets of %s: %v", group, err)
	}
	if res.Error != nil {
		t.Fatalf("cannot fetch committed offsets of %s: broker says %v", group, res.Error)
	}
	out := map[int]int64{}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("committed offset of %s partition %d: %v", topic, p.Partition, p.Error)
		}
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

func equalKeys(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestKafkaGoConsumerGroupResumesAtCommittedOffset proves that kafka-go
// v0.4.51 works against the real broker for everything the processor does:
// create a topic with several partitions, produce, consume through a
// consumer group's Generation, commit, and resume a later generation exactly
// past the committed offsets.
func TestKafkaGoConsumerGroupResumesAtCommittedOffset(t *testing.T) {
	addr := testenv.Kafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const partitions, total, firstRead = 3, 20, 8
	topic, group := uniqueName("it-cg"), uniqueName("it-cg-group")
	createTopic(ctx, t, addr, topic, partitions)
	produce(ctx, t, addr, topic, partitions, 0, total)

	// Generation 1 starts at the beginning and reads the first messages.
	first := consumeGeneration(ctx, t, addr, group, topic, partitions, firstRead)
	for p := 0; p < partitions; p++ {
		r := first[p]
		if r.start != kafka.FirstOffset && r.start != 0 {
			t.Errorf("generation 1 partition %d started at %d, want the first offset", p, r.start)
		}
		if want := wantKeys(p, 0, firstRead); !equalKeys(r.keys, want) {
			t.Errorf("generation 1 partition %d read %v, want %v", p, r.keys, want)
		}
	}
	got := committedOffsets(ctx, t, addr, group, topic, partitions)
	for p := 0; p < partitions; p++ {
		if got[p] != firstRead {
			t.Errorf("after generation 1, committed offset of partition %d = %d, want %d", p, got[p], firstRead)
		}
	}

	// Generation 2 of the same group must start at the committed offsets and
	// see exactly the rest: nothing lost, nothing read twice.
	second := consumeGeneration(ctx, t, addr, group, topic, partitions, total-firstRead)
	for p := 0; p < partitions; p++ {
		r := second[p]
		if r.start != firstRead {
			t.Errorf("generation 2 partition %d assigned at offset %d, want the committed %d", p, r.start, firstRead)
		}
		if want := wantKeys(p, firstRead, total); !equalKeys(r.keys, want) {
			t.Errorf("generation 2 partition %d read %v, want %v", p, r.keys, want)
		}
	}
	got = committedOffsets(ctx, t, addr, group, topic, partitions)
	for p := 0; p < partitions; p++ {
		if got[p] != total {
			t.Errorf("after generation 2, committed offset of partition %d = %d, want %d", p, got[p], total)
		}
	}
}

// TestKafkaBrokerReportsVersions logs what the broker says about itself and
// checks that it accepts the API versions kafka-go v0.4.51 sends.
func TestKafkaBrokerReportsVersions(t *testing.T) {
	addr := testenv.Kafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second}
	res, err := client.ApiVersions(ctx, &kafka.ApiVersionsRequest{})
	if err != nil {
		t.Fatalf("ApiVersions: %v", err)
	}
	if res.Error != nil {
		t.Fatalf("ApiVersions: broker says %v", res.Error)
	}
	byName := map[string]kafka.ApiVersionsResponseApiKey{}
	var lines []string
	for _, k := range res.ApiKeys {
		byName[k.ApiName] = k
		lines = append(lines, fmt.Sprintf("%s(%d) v%d-v%d", k.ApiName, k.ApiKey, k.MinVersion, k.MaxVersion))
	}
	sort.Strings(lines)
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{}})
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	t.Logf("broker %s: release %q (from the broker's jars, UNPAIR_KAFKA_VERSION), cluster %s, controller %d, %d APIs: %s",
		addr, os.Getenv("UNPAIR_KAFKA_VERSION"), md.ClusterID, md.Controller.ID, len(lines), strings.Join(lines, ", "))

	// The highest versions kafka-go v0.4.51's Conn-based APIs (consumer
	// groups, Reader, Writer, Conn.CreateTopics) pick among those they know;
	// the broker must accept each.
	uses := []struct {
		api     string
		version int
	}{
		{"FindCoordinator", 0}, {"JoinGroup", 2}, {"SyncGroup", 0}, {"Heartbeat", 0},
		{"LeaveGroup", 0}, {"OffsetCommit", 2}, {"OffsetFetch", 1}, {"ListOffsets", 1},
		{"Fetch", 10}, {"Produce", 7}, {"Metadata", 6}, {"CreateTopics", 2}, {"DeleteTopics", 1},
	}
	for _, u := range uses {
		k, ok := byName[u.api]
		if !ok {
			t.Errorf("broker does not offer %s", u.api)
			continue
		}
		if u.version < k.MinVersion || u.version > k.MaxVersion {
			t.Errorf("broker accepts %s v%d-v%d; kafka-go sends v%d", u.api, k.MinVersion, k.MaxVersion, u.version)
		}
	}
}

// TestKafkaBrokerRestartKeepsDataAndOffsets stops and starts the broker
// through UNPAIR_TEST_KAFKA_CTL, as fault tests do, and checks that the
// topic's messages and the group's committed offsets survive and that
// clients work again.
func TestKafkaBrokerRestartKeepsDataAndOffsets(t *testing.T) {
	addr := testenv.Kafka(t)
	ctl := testenv.KafkaCtl(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	topic, group := uniqueName("it-restart"), uniqueName("it-restart-group")
	createTopic(ctx, t, addr, topic, 1)
	produce(ctx, t, addr, topic, 1, 0, 5)
	consumeGeneration(ctx, t, addr, group, topic, 1, 3)

	var once sync.Once
	start := func() {
		once.Do(func() {
			if out, err := runCtl(ctx, ctl, "start"); err != nil {
				t.Errorf("%s start: %v\n%s", ctl, err, out)
			}
		})
	}
	// Whatever happens below, leave the broker running for other tests.
	defer start()
	if out, err := runCtl(ctx, ctl, "stop"); err != nil {
		t.Fatalf("%s stop: %v\n%s", ctl, err, out)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("broker %s still accepts connections after %s stop", addr, ctl)
	}
	start()
	if t.Failed() {
		t.FailNow()
	}

	// The data written before the restart is there, and writing works again.
	produce(ctx, t, addr, topic, 1, 5, 5)
	if got := committedOffsets(ctx, t, addr, group, topic, 1); got[0] != 3 {
		t.Errorf("after restart, committed offset = %d, want 3", got[0])
	}
	r := consumeGeneration(ctx, t, addr, group, topic, 1, 7)[0]
	if r.start != 3 {
		t.Errorf("after restart, generation assigned at offset %d, want the committed 3", r.start)
	}
	if want := wantKeys(0, 3, 10); !equalKeys(r.keys, want) {
		t.Errorf("after restart, read %v, want %v", r.keys, want)
	}
}

func runCtl(ctx context.Context, ctl, verb string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := execCommand(cctx, ctl, verb)
	if err != nil {
		return out, fmt.Errorf("cannot %s the broker: %w", verb, err)
	}
	return out, nil
}
