package engagement

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRetention is how long a day's figures are kept after the day ends:
// a 30-day window ending today can always be read in full.
const DefaultRetention = 30 * 24 * time.Hour

// applyScript adds a partition's deltas to its stored absolute partials in
// one atomic step, unless the partition's guard offset says the batch (or a
// later one) is already in. All keys share the partition's hash tag.
//
// KEYS[1] guard, KEYS[2..] day hashes; ARGV[1] batch offset, then per day
// hash: expire-at (unix s), field count, then field/delta pairs. A delta is
// "i=v,i=v" (1-based figure index); a stored value is the full list
// "v1,v2,...". A figure never goes below 0: a decrement aimed at a day whose
// hash expired finds nothing to take from. A field that becomes all zero is
// deleted.
var applyScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
local off = tonumber(ARGV[1])
if cur and tonumber(cur) >= off then return 0 end
local nf = ` + strconv.Itoa(numFigures) + `
local a = 2
for k = 2, #KEYS do
  local exp = ARGV[a]
  local n = tonumber(ARGV[a + 1])
  a = a + 2
  for i = 1, n do
    local field, delta = ARGV[a], ARGV[a + 1]
    a = a + 2
    local vals = {}
    for j = 1, nf do vals[j] = 0 end
    local old = redis.call('HGET', KEYS[k], field)
    if old then
      local j = 0
      for x in string.gmatch(old, '[^,]+') do
        j = j + 1
        if j <= nf then vals[j] = tonumber(x) or 0 end
      end
    end
    for j, v in string.gmatch(delta, '(%d+)=(-?%d+)') do
      j = tonumber(j)
      if j >= 1 and j <= nf then
        local nv = vals[j] + tonumber(v)
        if nv < 0 then nv = 0 end
        vals[j] = nv
      end
    end
    local any = false
    for j = 1, nf do
      if vals[j] ~= 0 then any = true end
      vals[j] = string.format('%.0f', vals[j])
    end
    if any then
      redis.call('HSET', KEYS[k], field, table.concat(vals, ','))
    elseif old then
      redis.call('HDEL', KEYS[k], field)
    end
  end
  if redis.call('EXISTS', KEYS[k]) == 1 then
    redis.call('EXPIREAT', KEYS[k], exp)
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`)

// Writer stores batches of per-partition engagement figures.
type Writer struct {
	rdb       redis.UniversalClient
	keys      Keys
	retention time.Duration
}

// WriterOption configures a Writer.
type WriterOption func(*Writer)

// WithKeys sets the key prefix.
func WithKeys(k Keys) WriterOption { return func(w *Writer) { w.keys = k } }

// WithRetention sets how long a day's figures are kept after the day ends
// (DefaultRetention). Replays of old logs in tests need a longer one: a key
// whose expiry lies in the past is deleted at once.
func WithRetention(d time.Duration) WriterOption { return func(w *Writer) { w.retention = d } }

// NewWriter returns a writer on rdb (a single node, a cluster or a ring).
func NewWriter(rdb redis.UniversalClient, opts ...WriterOption) *Writer {
	w := &Writer{rdb: rdb, retention: DefaultRetention}
	for _, o := range opts {
		o(w)
	}
	return w
}

// Offset returns the offset the stored partials of a partition include, -1
// when the partition never wrote. The new owner of a partition passes it to
// NewAggregator before applying any statement.
func (w *Writer) Offset(ctx context.Context, partition int32) (int64, error) {
	s, err := w.rdb.Get(ctx, w.keys.Offset(partition)).Result()
	if errors.Is(err, redis.Nil) {
		return -1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("cannot read engagement offset of partition %d: %w", partition, err)
	}
	o, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cannot read engagement offset of partition %d: stored value %q is not an integer", partition, s)
	}
	return o, nil
}

func (w *Writer) expireAt(d day) int64 {
	return (int64(d)+1)*86400 + int64(w.retention/time.Second)
}

// Write stores a batch. It reports whether the figures were applied (false:
// the guard shows this batch or a later one is already in). The content
// index is written first; it is made of sets, so writing it again is
// harmless. Retrying Write after an error, even one that hides a success,
// never counts anything twice.
func (w *Writer) Write(ctx context.Context, b Batch) (bool, error) {
	if b.Offset < 0 {
		return false, nil
	}
	pipe := w.rdb.Pipeline()
	pipe.SAdd(ctx, w.keys.Partitions(), strconv.FormatInt(int64(b.Partition), 10))
	days := map[day][]any{}
	for _, c := range b.Cells {
		days[c.Day] = append(days[c.Day], c.Content)
	}
	for d, cs := range days {
		pipe.SAdd(ctx, w.keys.Contents(d), cs...)
		pipe.ExpireAt(ctx, w.keys.Contents(d), time.Unix(w.expireAt(d), 0))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return false, fmt.Errorf("cannot write engagement index of partition %d: %w", b.Partition, err)
	}

	keys := []string{w.keys.Offset(b.Partition)}
	args := []any{strconv.FormatInt(b.Offset, 10)}
	var sb strings.Builder
	for i := 0; i < len(b.Cells); {
		j := i
		for j < len(b.Cells) && b.Cells[j].Day == b.Cells[i].Day {
			j++
		}
		d := b.Cells[i].Day
		keys = append(keys, w.keys.Day(b.Partition, d))
		args = append(args, strconv.FormatInt(w.expireAt(d), 10), strconv.Itoa(j-i))
		for _, c := range b.Cells[i:j] {
			sb.Reset()
			for f, v := range c.Delta {
				if v == 0 {
					continue
				}
				if sb.Len() > 0 {
					sb.WriteByte(',')
				}
				sb.WriteString(strconv.Itoa(f + 1))
				sb.WriteByte('=')
				sb.WriteString(strconv.FormatInt(v, 10))
			}
			args = append(args, c.Content, sb.String())
		}
		i = j
	}
	n, err := applyScript.Run(ctx, w.rdb, keys, args...).Int()
	if err != nil {
		return false, fmt.Errorf("cannot apply engagement figures of partition %d at offset %d: %w", b.Partition, b.Offset, err)
	}
	return n == 1, nil
}
