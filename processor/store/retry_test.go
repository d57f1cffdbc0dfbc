package store

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/decision"
)

// dropProxy forwards TCP to a Redis server. Once armed, the first
// connection that sends EVALSHA has its request delivered to the server
// but its reply dropped and the connection closed: the server applied the
// scripts, the client saw EOF, and go-redis retries the whole pipeline.
type dropProxy struct {
	ln      net.Listener
	target  string
	armed   atomic.Bool
	dropped atomic.Int32
	wg      sync.WaitGroup
}

func newDropProxy(t *testing.T, target string) *dropProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *dropProxy) addr() string { return p.ln.Addr().String() }

func (p *dropProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		var drop atomic.Bool
		p.wg.Add(2)
		go func() { // client -> server
			defer p.wg.Done()
			defer s.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if bytes.Contains(bytes.ToLower(buf[:n]), []byte("evalsha")) && p.armed.CompareAndSwap(true, false) {
						drop.Store(true)
					}
					if _, werr := s.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
		go func() { // server -> client
			defer p.wg.Done()
			defer c.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := s.Read(buf)
				if n > 0 && drop.Load() {
					p.dropped.Add(1)
					return // a lost reply: the server did the work
				}
				if n > 0 {
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// retriedPipeline checks that a pipeline go-redis retries after a lost
// reply leaves the state of one clean pass.
func retriedPipeline(t *testing.T, target string) {
	p := newDropProxy(t, target)
	rdb := redis.NewClient(&redis.Options{Addr: p.addr(), MaxRetries: 3})
	t.Cleanup(func() { rdb.Close() })
	s := newTestStore(t, rdb, 0)
	ctx := context.Background()

	batch := make([]LearnerWrite, 40)
	for i := range batch {
		batch[i] = LearnerWrite{Learner: fmt.Sprintf("l%d", i), Partition: 2, Offset: int64(100 + i), State: []byte("s" + strconv.Itoa(i)),
			Decisions: []decision.Decision{mastered("c", int64(i))}, Engagement: []Field{{"seen", strconv.Itoa(i)}}}
	}
	// The script must be cached for EVALSHA to be the first command.
	if err := writeScript.Load(ctx, rdb).Err(); err != nil {
		t.Fatal(err)
	}
	p.armed.Store(true)
	res, err := s.WriteBatch(ctx, batch)
	if err != nil {
		t.Fatalf("WriteBatch through a lost reply: %v", err)
	}
	if p.dropped.Load() != 1 {
		t.Fatalf("proxy dropped %d replies, want 1: the test did not exercise a retry", p.dropped.Load())
	}
	if res.Applied+len(res.Stale) != len(batch) {
		t.Fatalf("result %+v does not account for %d writes", res, len(batch))
	}
	for i, w := range batch {
		sn := snap(t, s, w.Learner)
		h, _, err := ParseHead(sn.Decisions["c"])
		if err != nil || sn.State != "s"+strconv.Itoa(i) || sn.Offsets["2"] != strconv.Itoa(100+i) || sn.Engagement["seen"] != strconv.Itoa(i) || h.Until != int64(i) {
			t.Fatalf("learner %s after retry: %+v (%v)", w.Learner, sn, err)
		}
	}
	// Replaying the batch (a Kafka redelivery) changes nothing.
	res, err = s.WriteBatch(ctx, batch)
	if err != nil || res.Applied != 0 || len(res.Stale) != len(batch) {
		t.Fatalf("replay: %+v, %v", res, err)
	}
}

func TestRetriedPipelineMiniredis(t *testing.T) {
	retriedPipeline(t, miniredis.RunT(t).Addr())
}
