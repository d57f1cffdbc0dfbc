package pipeline

import (
	"hash/fnv"

	"github.com/cespare/xxhash/v2"
	"github.com/segmentio/kafka-go"
)

// PartitionOf is the partition of learner among n partitions on the
// by-learner topic: xxhash64 of the learner key modulo n. It is a pure
// function of the key and n, so every instance and every replay agrees.
func PartitionOf(learner string, n int) int {
	if n <= 0 {
		return 0
	}
	return int(xxhash.Sum64String(learner) % uint64(n))
}

// byLearner is the balancer of the by-learner writer: PartitionOf over the
// topic's partitions, which kafka-go passes sorted.
type byLearner struct{}

func (byLearner) Balance(m kafka.Message, partitions ...int) int {
	if len(partitions) == 0 {
		return 0
	}
	return partitions[PartitionOf(string(m.Key), len(partitions))]
}

// keyedPartitions are the partitions the usual partitioners send key to
// among n: unpair's xxhash, Java's and librdkafka's murmur2, and kafka-go's
// FNV-1a Hash. A producer that keys by learner key with any of them keeps
// each learner in one partition.
func keyedPartitions(key []byte, n int) [3]int {
	parts := make([]int, n)
	for i := range parts {
		parts[i] = i
	}
	m := kafka.Message{Key: key}
	h := fnv.New32a()
	return [3]int{
		PartitionOf(string(key), n),
		kafka.Murmur2Balancer{Consistent: true}.Balance(m, parts...),
		(&kafka.Hash{Hasher: h}).Balance(m, parts...),
	}
}

// Misroute names what is wrong with how a message was keyed, or "".
const (
	MisrouteKeyMismatch    = "key_mismatch"
	MisrouteWrongPartition = "wrong_partition"
)

// checkRoute tells whether a message in partition p of an n-partition topic,
// keyed key, is where a learner-keyed producer would have put learner.
func checkRoute(key []byte, learner string, p, n int) string {
	if string(key) != learner {
		return MisrouteKeyMismatch
	}
	if n <= 1 {
		return ""
	}
	for _, q := range keyedPartitions(key, n) {
		if q == p {
			return ""
		}
	}
	return MisrouteWrongPartition
}
