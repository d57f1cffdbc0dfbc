package loadbench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/simulate"
	"github.com/unpair/unpair/processor/store"
)

// Freshness is the latency from produce to visible in Redis at a fixed
// produce rate.
type Freshness struct {
	Rate     float64       // target produce rate, statements/s
	Achieved float64       // statements produced / duration
	Duration time.Duration // how long the producer ran
	Samples  int           // sampled statements seen in Redis
	Lost     int           // sampled statements never seen (should be 0)
	P50, P99 time.Duration
	Max      time.Duration
}

// freshPoll is how often pending samples are looked up in Redis; it
// bounds the resolution of the latencies.
const freshPoll = 5 * time.Millisecond

// freshness runs the pipeline (rekey off) on a fresh, empty topic, then
// produces at rate for cfg.Freshness, tagging one valid statement per
// SampleEvery. Once the producer has the sample's partition and offset
// (its acknowledgement), a poller reads the learner's stored offset for
// that partition every freshPoll; the sample is visible when the stored
// offset reaches its own. The store writes the offset in the same script
// as the learner's state and decisions, so a visible offset means a
// visible effect. Latency = visible - the moment the produce call that
// carried the sample started.
func (b *bench) freshness(ctx context.Context, rate float64) (*Freshness, error) {
	f := &Freshness{Rate: rate}
	topic, group, prefix := b.names.fresh, b.names.group+"-fresh", b.names.prefix("fresh")
	if err := b.admin.createTopic(ctx, topic, b.cfg.Partitions); err != nil {
		return nil, err
	}
	sch, err := store.NewSchema(prefix)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.PhaseTimeout)
	defer cancel()
	r, err := b.start(b.pipelineConfig(topic, group, prefix, false))
	if err != nil {
		return nil, err
	}
	defer r.stop()
	if err := b.waitReady(ctx, r); err != nil {
		return nil, err
	}

	sc := b.cfg.cohort(time.Now().Add(-simulate.DefaultConfig().Span), int(rate*b.cfg.Freshness.Seconds())+produceBatch)
	sc.Seed++
	gen, err := simulate.New(sc)
	if err != nil {
		return nil, err
	}
	want := int(b.cfg.Freshness/b.cfg.SampleEvery) + 16
	samples := make(chan *sample, want)
	pr := newProducer(b.cfg.Brokers, topic, gen, b.cfg.Secret, newLedger(samples))
	defer pr.Close()

	polled := make(chan []time.Duration, 1)
	pollCtx, stopPoll := context.WithCancel(ctx)
	produced := make(chan struct{})
	go func() { polled <- b.pollSamples(pollCtx, sch, samples, produced, &f.Lost) }()

	start := time.Now()
	n, err := pr.paced(ctx, rate, b.cfg.Freshness, b.cfg.SampleEvery)
	f.Duration = time.Since(start)
	close(produced)
	if err != nil {
		stopPoll()
		<-polled
		return nil, err
	}
	f.Achieved = float64(n) / f.Duration.Seconds()
	lat := <-polled
	stopPoll()
	if len(lat) == 0 {
		return nil, fmt.Errorf("freshness: no sampled statement became visible in Redis (%d lost)", f.Lost)
	}
	slices.Sort(lat)
	f.Samples = len(lat)
	f.P50, f.P99, f.Max = percentile(lat, 0.50), percentile(lat, 0.99), lat[len(lat)-1]
	return f, nil
}

// pollSamples looks up pending samples until the producer is done and
// every sample it sent is visible, or ctx ends (the rest count as lost).
func (b *bench) pollSamples(ctx context.Context, sch store.Schema, in <-chan *sample, produced <-chan struct{}, lost *int) []time.Duration {
	var lat []time.Duration
	var pending []*sample
	t := time.NewTicker(freshPoll)
	defer t.Stop()
	finished := false
	var deadline time.Time
	for {
	drain:
		for {
			select {
			case s := <-in:
				pending = append(pending, s)
			default:
				break drain
			}
		}
		if len(pending) > 0 {
			pipe := b.rdb.Pipeline()
			cmds := make([]*redis.StringCmd, len(pending))
			for i, s := range pending {
				cmds[i] = pipe.HGet(ctx, sch.Keys(s.learner).Offsets, strconv.Itoa(s.partition))
			}
			_, _ = pipe.Exec(ctx)
			now := time.Now()
			keep := pending[:0]
			for i, s := range pending {
				if v, err := cmds[i].Int64(); err == nil && v >= s.offset {
					s.visible, s.completed = now, true
					lat = append(lat, now.Sub(s.produced))
					continue
				}
				keep = append(keep, s)
			}
			pending = keep
		}
		if finished && len(pending) == 0 && len(in) == 0 {
			return lat
		}
		if finished && time.Now().After(deadline) {
			*lost = len(pending) + len(in)
			return lat
		}
		select {
		case <-ctx.Done():
			*lost = len(pending) + len(in)
			return lat
		case <-produced:
			produced = nil
			finished, deadline = true, time.Now().Add(time.Minute)
		case <-t.C:
		}
	}
}

// percentile returns the q-quantile of sorted (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
