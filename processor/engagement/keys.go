package engagement

import "strconv"

// Keys builds the Redis keys of the engagement figures (docs/engagement.md).
// Prefix is the deployment's key prefix, as in processor/store ("" means
// "unpair"); keys are version 1 of the layout:
//
//	<prefix>:v1:{e:<partition>}:o        string  offset of the partition's last applied batch (the guard)
//	<prefix>:v1:{e:<partition>}:d:<day>  hash    field = content id, value = the partition's partial figures of that day
//	<prefix>:v1:{ei}:p                   set     partitions that ever wrote figures
//	<prefix>:v1:{ei}:c:<day>             set     content ids with figures on that day
//
// <day> is YYYYMMDD (UTC). Each hash tag keeps what one atomic step or one
// multi-key read touches in one cluster slot: a partition's batch, the
// index. Content ids are never part of a key (they are IRIs of any length
// and may hold braces); they are hash fields and set members.
type Keys struct {
	Prefix string
}

func (k Keys) prefix() string {
	if k.Prefix == "" {
		return "unpair:v1"
	}
	return k.Prefix + ":v1"
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
