package pipeline

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// Headers of a dead letter. The value is the original statement bytes and
// the key the original message key; these headers say why and from where.
const (
	HeaderError           = "unpair-error"            // every violation, one per line
	HeaderReason          = "unpair-reason"           // short reason code, e.g. "invalid", "internal"
	HeaderSourceTopic     = "unpair-source-topic"     // topic the statement was first read from
	HeaderSourcePartition = "unpair-source-partition" // its partition, decimal
	HeaderSourceOffset    = "unpair-source-offset"    // its offset, decimal
	HeaderSourceIndex     = "unpair-source-index"     // its index in the message's JSON array, decimal
	HeaderSourceResent    = "unpair-source-resent"    // "1": re-sent after the broker refused it, possibly behind later statements
	HeaderSourceTime      = "unpair-source-time"      // its Kafka timestamp, unix milliseconds
	HeaderTime            = "unpair-time"             // when it was dead-lettered, RFC 3339 UTC
	HeaderTruncated       = "unpair-truncated"        // set when the value was cut: the original length in bytes
)

// Bounds of what a dead letter or a re-keyed message carries besides the
// statement: each violation line, all of them together, and the producer's
// own headers copied along. Violation paths repeat raw JSON keys, so a
// statement with huge keys would otherwise build a dead letter larger than
// the broker accepts, and its retries would stall the partition.
const (
	MaxErrorLineBytes    = 512
	MaxErrorBytes        = 16 << 10
	MaxCopiedHeaderBytes = 64 << 10
)

// MaxStatementBytes is the largest statement the pipeline accepts (the
// decoder rejects larger ones as too_large) and the most of a rejected
// value a dead letter carries, so every message it produces fits the
// broker's default message.max.bytes of 1 MiB with room for headers.
const MaxStatementBytes = 512 << 10

// Reason codes the pipeline itself gives (the decoder gives its own).
const (
	ReasonInvalid  = "invalid"      // rejected by a decoder error without a code
	ReasonInternal = "internal"     // processing panicked; recovered
	ReasonEmpty    = "empty"        // the message had no value (a tombstone)
	ReasonNested   = "nested_array" // an array of statements inside a message's array
)

// origin is where a statement was first read: the input topic, which the
// re-key stage copies into headers of the by-learner message so dead
// letters of the second stage still point at the original.
type origin struct {
	Topic     string
	Partition int
	Offset    int64
	Index     int       // position in the original message's JSON array; 0 otherwise
	Time      time.Time // the original message's timestamp
	Forwarded bool      // read from origin headers (the message came through the re-key stage)
	// Ordered: the headers name the index (this version's re-key stage
	// always writes it) and the message was not re-sent out of order, so
	// the position may guard against copies (aggStage.origin).
	Ordered bool
}

// originOf returns the origin headers of m when present, else m's own place.
func originOf(m *kafka.Message) origin {
	o := origin{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Time: m.Time}
	var haveT, haveP, haveO bool
	var at time.Time
	var t string
	var p int
	var off int64
	var idx int
	haveI, resent := false, false
	for _, h := range m.Headers {
		switch h.Key {
		case HeaderSourceTopic:
			t, haveT = string(h.Value), true
		case HeaderSourcePartition:
			v, err := strconv.Atoi(string(h.Value))
			p, haveP = v, err == nil
		case HeaderSourceOffset:
			v, err := strconv.ParseInt(string(h.Value), 10, 64)
			off, haveO = v, err == nil
		case HeaderSourceIndex:
			if v, err := strconv.Atoi(string(h.Value)); err == nil && v >= 0 {
				idx, haveI = v, true
			}
		case HeaderSourceResent:
			resent = true
		case HeaderSourceTime:
			if v, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
				at = time.UnixMilli(v)
			}
		}
	}
	if haveT && haveP && haveO {
		o = origin{Topic: t, Partition: p, Offset: off, Index: idx, Time: at, Forwarded: true, Ordered: haveI && !resent}
	}
	return o
}

// originHeaders returns the headers naming o, followed by the message's
// other headers (any older origin headers are replaced).
func originHeaders(o origin, rest []kafka.Header) []kafka.Header {
	hs := make([]kafka.Header, 0, len(rest)+5)
	hs = append(hs,
		kafka.Header{Key: HeaderSourceTopic, Value: []byte(o.Topic)},
		kafka.Header{Key: HeaderSourcePartition, Value: []byte(strconv.Itoa(o.Partition))},
		kafka.Header{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(o.Offset, 10))},
		kafka.Header{Key: HeaderSourceIndex, Value: []byte(strconv.Itoa(o.Index))},
		kafka.Header{Key: HeaderSourceTime, Value: []byte(strconv.FormatInt(o.Time.UnixMilli(), 10))},
	)
	size := 0
	for _, h := range rest {
		switch h.Key {
		case HeaderSourceTopic, HeaderSourcePartition, HeaderSourceOffset, HeaderSourceIndex, HeaderSourceResent, HeaderSourceTime:
			continue
		case HeaderControl:
			// Only `unpair forget` writes control records, straight to the
			// by-learner topic: a producer's header must not become one.
			continue
		}
		// Producers' headers travel along only up to a bound, so a message
		// near the broker's size limit cannot outgrow it here.
		if size += len(h.Key) + len(h.Value); size > MaxCopiedHeaderBytes {
			break
		}
		hs = append(hs, h)
	}
	return hs
}

// describe returns the reason code and the violation lines of err.
func describe(err error) (code string, lines []string) {
	var r Rejection
	if errors.As(err, &r) {
		code, lines = r.Code(), r.Lines()
	}
	if code == "" {
		code = ReasonInvalid
	}
	if len(lines) == 0 {
		lines = strings.Split(err.Error(), "\n")
	}
	return code, lines
}

// deadLetter builds the dead letter of m rejected for err, at now.
func deadLetter(topic string, m *kafka.Message, err error, now time.Time) (kafka.Message, string) {
	code, lines := describe(err)
	o := originOf(m)
	hs := originHeaders(o, nil)
	hs = append(hs,
		kafka.Header{Key: HeaderReason, Value: []byte(code)},
		kafka.Header{Key: HeaderError, Value: errorLines(lines)},
		kafka.Header{Key: HeaderTime, Value: []byte(now.UTC().Format(time.RFC3339Nano))},
	)
	value, key := m.Value, m.Key
	if len(value) > MaxStatementBytes {
		hs = append(hs, kafka.Header{Key: HeaderTruncated, Value: []byte(strconv.Itoa(len(value)))})
		value = value[:MaxStatementBytes]
	}
	if len(key) > 1024 {
		key = key[:1024]
	}
	// The record gets the current time: an old original timestamp would
	// let retention delete the dead letter at once.
	return kafka.Message{
		Topic:   topic,
		Key:     key,
		Value:   value,
		Headers: hs,
	}, code
}

// panicError is a recovered panic turned into an error.
type panicError struct{ v any }

func (p panicError) Error() string   { return fmt.Sprintf("internal error while processing: %v", p.v) }
func (p panicError) Code() string    { return ReasonInternal }
func (p panicError) Lines() []string { return []string{p.Error()} }

// Header returns the value of the named header of m, and whether it is set.
func Header(m kafka.Message, key string) (string, bool) {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// errorLines joins violation lines, one per line, each cut to
// MaxErrorLineBytes and all of them to MaxErrorBytes, saying how many lines
// were left out.
func errorLines(lines []string) []byte {
	var b []byte
	for i, l := range lines {
		// one violation per line: a line may not carry its own newlines
		l = strings.ReplaceAll(l, "\n", " ")
		if len(l) > MaxErrorLineBytes {
			l = strings.ToValidUTF8(l[:MaxErrorLineBytes], "") + "…"
		}
		if i > 0 {
			b = append(b, '\n')
		}
		if len(b)+len(l) > MaxErrorBytes {
			return fmt.Appendf(b, "… %d more violations", len(lines)-i)
		}
		b = append(b, l...)
	}
	return b
}
