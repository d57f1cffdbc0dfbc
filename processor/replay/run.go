package replay

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"
)

// Message is one statement ready to send.
type Message struct {
	Key   []byte // nil: no key
	Value []byte
	Time  time.Time
}

// Sink receives statements in batches. A Sink may keep no reference to the
// messages' bytes after Write returns.
type Sink interface {
	Write(ctx context.Context, msgs []Message) error
	Close() error
}

// KeyMode chooses the Kafka message key.
type KeyMode string

const (
	KeyLearner KeyMode = "learner" // the learner key (HMAC of the account IFI)
	KeyRandom  KeyMode = "random"  // 16 random bytes, hex: spreads a learner over partitions
	KeyNone    KeyMode = "none"    // no key: round-robin partitions
)

// ParseKeyMode validates a key mode name.
func ParseKeyMode(s string) (KeyMode, error) {
	switch m := KeyMode(s); m {
	case KeyLearner, KeyRandom, KeyNone:
		return m, nil
	}
	return "", fmt.Errorf("key: must be learner, random or none, got %q", s)
}

// NDJSON writes one statement per line.
type NDJSON struct {
	w *bufio.Writer
	c io.Closer // closed by Close when not nil
}

// NewNDJSON returns a sink writing to w; Close flushes and closes c if given.
func NewNDJSON(w io.Writer, c io.Closer) *NDJSON {
	return &NDJSON{w: bufio.NewWriterSize(w, 256<<10), c: c}
}

func (n *NDJSON) Write(_ context.Context, msgs []Message) error {
	for _, m := range msgs {
		n.w.Write(m.Value)
		if err := n.w.WriteByte('\n'); err != nil {
			return fmt.Errorf("cannot write statement: %w", err)
		}
	}
	return nil
}

func (n *NDJSON) Close() error {
	err := n.w.Flush()
	if n.c != nil {
		if cerr := n.c.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("cannot flush statements: %w", err)
	}
	return nil
}

// Kafka produces statements to a topic with kafka-go. Keys are hashed to
// partitions with murmur2, as Java producers do; messages without a key go
// round-robin.
type Kafka struct {
	w *kafka.Writer
}

// NewKafka returns a sink producing to topic on the given brokers.
func NewKafka(brokers []string, topic string, batch int) *Kafka {
	if batch <= 0 {
		batch = 500
	}
	return &Kafka{w: &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafka.Murmur2Balancer{},
		BatchSize:    batch,
		BatchBytes:   16 << 20,
		BatchTimeout: 5 * time.Millisecond,
		RequiredAcks: kafka.RequireAll,
		Compression:  kafka.Lz4,
	}}
}

func (k *Kafka) Write(ctx context.Context, msgs []Message) error {
	out := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		out[i] = kafka.Message{Key: m.Key, Value: m.Value, Time: m.Time}
	}
	if err := k.w.WriteMessages(ctx, out...); err != nil {
		return fmt.Errorf("cannot produce to %s: %w", k.w.Topic, err)
	}
	return nil
}

func (k *Kafka) Close() error {
	if err := k.w.Close(); err != nil {
		return fmt.Errorf("cannot close producer: %w", err)
	}
	return nil
}

// RunOptions control a replay.
type RunOptions struct {
	Key      KeyMode
	Rate     float64 // statements per second; 0 = as fast as possible
	Batch    int     // statements per Sink.Write; default 500
	Limit    int     // stop after this many statements; 0 = all
	Progress io.Writer
	Interval time.Duration // between progress lines; default 1s
	Now      func() time.Time
}

// Summary describes a finished replay.
type Summary struct {
	Statements int
	Bytes      int64
	Elapsed    time.Duration
}

// Rate is statements per second.
func (s Summary) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Statements) / s.Elapsed.Seconds()
}

func (s Summary) String() string {
	avg := 0.0
	if s.Statements > 0 {
		avg = float64(s.Bytes) / float64(s.Statements)
	}
	return fmt.Sprintf("%d statements, %.1f MB (%.0f B each), %.2fs, %.0f statements/s",
		s.Statements, float64(s.Bytes)/1e6, avg, s.Elapsed.Seconds(), s.Rate())
}

// Run renders the dataset's attempts in replay order and writes them to
// sink in batches, pacing them to opt.Rate. It does not close the sink.
func Run(ctx context.Context, g *Generator, sink Sink, opt RunOptions) (Summary, error) {
	if opt.Batch <= 0 {
		opt.Batch = 500
	}
	if opt.Interval <= 0 {
		opt.Interval = time.Second
	}
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	atts := g.ds.Attempts
	if opt.Limit > 0 && opt.Limit < len(atts) {
		atts = atts[:opt.Limit]
	}
	batch := opt.Batch
	if opt.Rate > 0 {
		// Small batches keep the pace smooth: about 20 writes a second.
		batch = max(1, min(batch, int(opt.Rate/20)))
	}
	var (
		sum      Summary
		start    = now()
		next     = start.Add(opt.Interval)
		buf      = make([]byte, 0, batch*2048)
		msgs     = make([]Message, 0, batch)
		keyBytes = make([]byte, 0, batch*32)
		rnd      [16]byte
	)
	progress := func(final bool) {
		if opt.Progress == nil {
			return
		}
		el := now().Sub(start)
		rate := 0.0
		if el > 0 {
			rate = float64(sum.Statements) / el.Seconds()
		}
		end := "\r"
		if final {
			end = "\n"
		}
		fmt.Fprintf(opt.Progress, "replay: %d/%d statements (%.1f%%), %.1f MB, %.0f/s, %.1fs%s",
			sum.Statements, len(atts), 100*float64(sum.Statements)/float64(max(1, len(atts))),
			float64(sum.Bytes)/1e6, rate, el.Seconds(), end)
	}
	for i := 0; i < len(atts); i += batch {
		if err := ctx.Err(); err != nil {
			sum.Elapsed = now().Sub(start)
			return sum, fmt.Errorf("replay stopped after %d statements: %w", sum.Statements, err)
		}
		end := min(i+batch, len(atts))
		buf, msgs, keyBytes = buf[:0], msgs[:0], keyBytes[:0]
		offs := make([]int, 0, end-i+1)
		koffs := make([]int, 0, end-i+1)
		for j := i; j < end; j++ {
			a := &atts[j]
			offs = append(offs, len(buf))
			buf = g.Append(buf, a)
			koffs = append(koffs, len(keyBytes))
			switch opt.Key {
			case KeyLearner:
				keyBytes = append(keyBytes, g.LearnerKey(a.User)...)
			case KeyRandom:
				rand.Read(rnd[:])
				keyBytes = hex.AppendEncode(keyBytes, rnd[:])
			}
		}
		offs = append(offs, len(buf))
		koffs = append(koffs, len(keyBytes))
		for j := i; j < end; j++ {
			k := j - i
			m := Message{Value: buf[offs[k]:offs[k+1]], Time: time.Unix(0, atts[j].Time)}
			if opt.Key == KeyLearner || opt.Key == KeyRandom {
				m.Key = keyBytes[koffs[k]:koffs[k+1]]
			}
			msgs = append(msgs, m)
		}
		if opt.Rate > 0 {
			due := start.Add(time.Duration(float64(i) / opt.Rate * float64(time.Second)))
			if d := due.Sub(now()); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-ctx.Done():
					t.Stop()
					sum.Elapsed = now().Sub(start)
					return sum, fmt.Errorf("replay stopped after %d statements: %w", sum.Statements, ctx.Err())
				case <-t.C:
				}
			}
		}
		if err := sink.Write(ctx, msgs); err != nil {
			sum.Elapsed = now().Sub(start)
			return sum, err
		}
		sum.Statements += len(msgs)
		sum.Bytes += int64(len(buf))
		if t := now(); !t.Before(next) {
			progress(false)
			next = t.Add(opt.Interval)
		}
	}
	sum.Elapsed = now().Sub(start)
	progress(true)
	return sum, nil
}
