package engagement

import (
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// Keys builds the Redis keys of the engagement figures (docs/engagement.md).
// Prefix defaults to "unpair:v1".
//
//	<prefix>:{e:<partition>}:o           string  offset of the partition's last applied batch (the guard)
//	<prefix>:{e:<partition>}:d:<day>     hash    field = content id, value = the partition's partial figures of that day
//	<prefix>:{ei}:p                      set     partitions that ever wrote figures
//	<prefix>:{ei}:c:<day>                set     content ids with figures on that day
//	<prefix>:{c:<content hash>}:u:<day>  HLL     learner keys active on the content that day
//
// <day> is YYYYMMDD (UTC), <content hash> the xxhash64 of the content id in
// 16 hex digits. Each hash tag keeps what one atomic step or one multi-key
// read touches in one cluster slot: a partition's batch, the index, a
// content's days.
type Keys struct {
	Prefix string
}

func (k Keys) prefix() string {
	if k.Prefix == "" {
		return "unpair:v1"
	}
	return k.Prefix
}

func (k Keys) partition(p int32) string {
	return k.prefix() + ":{e:" + strconv.FormatInt(int64(p), 10) + "}"
}

// Offset is the guard key of a partition.
func (k Keys) Offset(p int32) string { return k.partition(p) + ":o" }

// Day is the key of a partition's partial figures of one day.
func (k Keys) Day(p int32, d day) string { return k.partition(p) + ":d:" + d.String() }

// Partitions is the set of partitions that wrote figures.
func (k Keys) Partitions() string { return k.prefix() + ":{ei}:p" }

// Contents is the set of contents with figures on a day.
func (k Keys) Contents(d day) string { return k.prefix() + ":{ei}:c:" + d.String() }

// Learners is the HyperLogLog of learners active on a content on a day.
func (k Keys) Learners(content string, d day) string {
	return k.prefix() + ":{c:" + ContentHash(content) + "}:u:" + d.String()
}

// ContentHash is the content id's hash used in key hash tags: content ids
// are IRIs of any length and may hold braces, so they never appear in keys.
func ContentHash(content string) string {
	s := strconv.FormatUint(xxhash.Sum64String(content), 16)
	return strings.Repeat("0", 16-len(s)) + s
}
