package pipeline

import (
	"context"
	"errors"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/unpair/unpair/schema"
)

// aggStage is stage 2: it consumes a learner-keyed topic in the group,
// feeds the aggregator, and flushes changed learners to the store, the
// decision events and dead letters to Kafka, then commits offsets.
type aggStage struct {
	cfg        *Config
	log        *zap.Logger
	m          *Metrics
	topic      string // consumed topic: by-learner, or the input with rekey off
	partitions func() int
	dec        Decoder
	agg        Aggregator
	store      Store
	out        Producer
	open       ReaderFactory
	figures    Figures // nil: no per-content engagement figures
	routeCheck bool    // rekey off: report statements not keyed by learner key
	// originTopic is the input topic when the re-key stage feeds this one:
	// origin headers naming it give each statement its Source.Origin.
	originTopic string
	health      *Health
	// hard ends only when the stop is forced; final flushes run under it
	// (bounded by FlushTimeout), not under the generation's context.
	hard context.Context
	now  func() time.Time

	warnRoute rateLimited
	warnDead  rateLimited

	// cut makes each flush a consistent cut of the stream: a fetcher holds
	// it shared from handing a batch to the aggregator until the batch's
	// offsets are marked, a flush holds it exclusively from taking the marks
	// until its barrier has passed every shard. So every statement of a
	// marked message is applied before the barrier and none after it (one
	// Kafka message's statements never straddle two flushes), and the
	// per-content figures' stored offsets never run ahead of the state.
	cut sync.RWMutex

	mu      sync.Mutex
	skipped uint64 // aggregator's Skipped() at the last flush
	// owed is how many duplicates were counted before the statements they
	// belong to were: a statement handed over between a flush's snapshot
	// and its barrier is applied (and may be skipped as a duplicate) by that
	// barrier, but counted as accepted only by the next snapshot.
	owed     int
	ended    time.Time // when the last generation ended (rebalance pause)
	inFlight *budget   // the current generation's budget, for tests
}

// genState is the bookkeeping of one generation of stage 2.
type genState struct {
	mu       sync.Mutex
	marks    map[int32]int64 // last dispatched offset per partition
	dlq      []kafka.Message // dead letters awaiting produce
	pending  int             // statements dispatched since the last snapshot
	accepted int             // of which handed to the aggregator
	budget   *budget
	kick     chan struct{} // size-triggered flush

	committed map[int32]int64 // next-offsets committed; the flusher's own
	forgets   []forgetReq     // control records awaiting the next flush (control.go)
	figs      figureState     // per-content engagement figures; the flusher's own

	// pausedSince is when the previous generation ended; the first flush of
	// this one observes the rebalance pause and clears it. The flusher's own.
	pausedSince time.Time
}

// snapshot is what a flush covers: everything dispatched before it.
type snapshot struct {
	marks    map[int32]int64
	dlq      []kafka.Message
	pending  int
	accepted int
	forgets  []forgetReq
}

func (g *genState) take() snapshot {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := snapshot{marks: make(map[int32]int64, len(g.marks)), dlq: g.dlq, pending: g.pending, accepted: g.accepted, forgets: g.forgets}
	for p, o := range g.marks {
		s.marks[p] = o
	}
	g.dlq, g.pending, g.accepted, g.forgets = nil, 0, 0, nil
	return s
}

// runGeneration starts one fetcher per assigned partition and the flusher.
func (s *aggStage) runGeneration(gen generation) {
	assigned := gen.Partitions(s.topic)
	s.mu.Lock()
	gs := &genState{marks: map[int32]int64{}, committed: map[int32]int64{}, budget: newBudget(s.cfg.MaxInFlight), kick: make(chan struct{}, 1),
		pausedSince: s.ended}
	s.inFlight = gs.budget
	s.mu.Unlock()
	s.health.setAssigned(len(assigned))

	// Fetchers stop when the generation ends or when the flusher says so
	// (first step of the final flush, or a flush that gave up).
	fetchCtx, stopFetch := context.WithCancel(context.Background())
	var fetchers sync.WaitGroup
	fetchers.Add(len(assigned))
	for _, pa := range assigned {
		gen.Start(func(ctx context.Context) {
			defer fetchers.Done()
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			defer context.AfterFunc(fetchCtx, cancel)()
			s.fetch(ctx, gs, pa)
		})
	}
	parts := make([]int32, len(assigned))
	for i, pa := range assigned {
		parts[i] = int32(pa.ID)
	}
	gen.Start(func(ctx context.Context) {
		s.flushLoop(ctx, gen, gs, func() { stopFetch(); fetchers.Wait() }, parts)
	})
}

// fetch reads one partition and hands its statements to the aggregator in
// small batches, until the generation ends.
func (s *aggStage) fetch(ctx context.Context, gs *genState, pa kafka.PartitionAssignment) {
	var r PartitionReader
	var err error
	bo := backoff{min: s.cfg.RetryMin, max: s.cfg.RetryMax}
	for r == nil {
		if r, err = s.open(s.topic, pa.ID, pa.Offset); err != nil {
			s.log.Warn("cannot open partition reader", zap.String("topic", s.topic), zap.Int("partition", pa.ID), zap.Error(err))
			if bo.wait(ctx) != nil {
				return
			}
		}
	}
	defer r.Close()
	label := strconv.Itoa(pa.ID)
	const maxBatch = 256
	msgs := make([]kafka.Message, 0, maxBatch)
	in := make([]Input, 0, maxBatch)
	handed := make([]int, 0, maxBatch)
	var evs []schema.Evidence
	var held []kafka.Message // fetched after a control record (their budget taken)
	for {
		msgs = msgs[:0]
		if len(held) > 0 {
			msgs, held = append(msgs, held...), held[:0]
		} else {
			if err := gs.budget.acquire(ctx); err != nil {
				return
			}
			m, err := r.FetchMessage(ctx)
			if err != nil {
				gs.budget.release(1)
				if ctx.Err() != nil {
					return
				}
				s.log.Warn("fetch failed", zap.String("topic", s.topic), zap.Int("partition", pa.ID), zap.Error(err))
				if bo.wait(ctx) != nil {
					return
				}
				continue
			}
			bo.reset()
			msgs = append(msgs, m)
			// take what the reader already holds, without waiting
			msgs = collect(ctx, r, gs.budget, msgs, maxBatch, time.Millisecond)
		}
		// A control record (control.go) is applied alone, after what came
		// before it and before what follows.
		if k := controlIndex(msgs); k == 0 {
			held = append(held, msgs[1:]...)
			if !s.applyControl(ctx, gs, int32(pa.ID), &msgs[0]) {
				return
			}
			continue
		} else if k > 0 {
			held = append(held, msgs[k:]...)
			msgs = msgs[:k]
		}
		last := msgs[len(msgs)-1]
		s.m.ConsumerLag.WithLabelValues(s.topic, label).Set(float64(max(last.HighWaterMark-last.Offset-1, 0)))

		in = in[:0]
		var dead []kafka.Message
		handed = handed[:0] // messages whose statements are in `in`
		for i := range msgs {
			var derr error
			evs, derr = s.decode(evs[:0], &msgs[i])
			if derr == nil && s.originTopic != "" && len(evs) > 1 {
				// the re-key stage forwards one statement per message; more
				// (an older stage's nested array) would share one origin
				derr = nestedError{}
			}
			if derr != nil {
				dead = append(dead, s.deadLetter(&msgs[i], derr))
				continue
			}
			if s.routeCheck {
				s.checkRoute(&msgs[i], evs)
			}
			handed = append(handed, i)
			src := Source{Partition: int32(pa.ID), Offset: msgs[i].Offset, Origin: s.origin(&msgs[i])}
			for j, ev := range evs {
				src.Index = int32(j)
				in = append(in, Input{Evidence: ev, Source: src})
			}
		}
		s.cut.RLock()
		if err := s.submit(ctx, in); err != nil {
			var pe panicError
			if !errors.As(err, &pe) {
				// cancelled or the aggregator is closing: nothing is marked,
				// so whoever owns the partition next reads these again
				s.cut.RUnlock()
				if ctx.Err() == nil {
					s.log.Error("cannot hand statements to the aggregator", zap.Error(err))
				}
				return
			}
			// A panic while handing over: dead-letter what was handed. (A
			// shard may have taken part of it before the panic; those are
			// applied and dead-lettered both, which the dead letter's
			// reason "internal" asks an operator to look at.)
			for _, i := range handed {
				dead = append(dead, s.deadLetter(&msgs[i], err))
			}
			in = in[:0]
		}
		gs.mu.Lock()
		gs.marks[int32(pa.ID)] = last.Offset
		gs.dlq = append(gs.dlq, dead...)
		gs.pending += len(msgs)
		gs.accepted += len(in)
		full := gs.pending >= s.cfg.FlushSize
		gs.mu.Unlock()
		s.cut.RUnlock()
		if full {
			select {
			case gs.kick <- struct{}{}:
			default:
			}
		}
	}
}

// collect appends to msgs what r yields within linger, up to max messages,
// taking one budget unit per message.
func collect(ctx context.Context, r PartitionReader, b *budget, msgs []kafka.Message, maxN int, linger time.Duration) []kafka.Message {
	if len(msgs) >= maxN {
		return msgs
	}
	lctx, cancel := context.WithTimeout(ctx, linger)
	defer cancel()
	for len(msgs) < maxN {
		if b.tryAcquire() != nil {
			break
		}
		m, err := r.FetchMessage(lctx)
		if err != nil {
			b.release(1)
			break
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// origin returns the origin of a by-learner message: the re-key stage's
// unpair-source-* headers, when they name the configured input topic.
func (s *aggStage) origin(m *kafka.Message) Origin {
	if s.originTopic == "" {
		return Origin{}
	}
	o := originOf(m)
	// Not ordered: forwarded by an older re-key stage (no index header:
	// its array statements share one position) or re-sent behind later
	// statements after the broker refused it; the by-learner offset and
	// the statement id window guard those.
	if !o.Forwarded || !o.Ordered || o.Topic != s.originTopic || o.Partition < 0 || o.Partition > math.MaxInt32 || o.Index > math.MaxInt32 || o.Offset < 0 {
		return Origin{}
	}
	return Origin{Partition: int32(o.Partition), Index: int32(o.Index), Offset: o.Offset, Valid: true}
}

// originTopic is the topic whose positions the engine's origin guard keeps:
// the input when the re-key stage runs, else none.
func originTopic(cfg *Config) string {
	if cfg.Rekey {
		return cfg.InputTopic
	}
	return ""
}

// decode decodes one message, converting a panic into an internal error.
func (s *aggStage) decode(dst []schema.Evidence, m *kafka.Message) (evs []schema.Evidence, err error) {
	defer func() {
		if v := recover(); v != nil {
			evs, err = dst[:0], panicError{v}
		}
	}()
	if len(m.Value) == 0 {
		return dst, emptyError{}
	}
	evs, err = s.dec.Decode(dst, m.Value, originOf(m).Time)
	if err == nil && len(evs) == len(dst) {
		err = emptyError{}
	}
	return evs, err
}

// submit hands in to the aggregator, converting a panic into an error.
func (s *aggStage) submit(ctx context.Context, in []Input) (err error) {
	if len(in) == 0 {
		return nil
	}
	defer func() {
		if v := recover(); v != nil {
			err = panicError{v}
		}
	}()
	return s.agg.Submit(ctx, in)
}

// deadLetter builds m's dead letter and counts it.
func (s *aggStage) deadLetter(m *kafka.Message, err error) kafka.Message {
	dl, code := deadLetter(s.cfg.DeadLetterTopic, m, err, s.now())
	s.m.Statements.WithLabelValues(OutcomeDeadLettered, code).Inc()
	if ok, muted := s.warnDead.allow(s.now()); ok {
		o := originOf(m)
		s.log.Warn("statement dead-lettered", zap.String("reason", code), zap.String("topic", o.Topic),
			zap.Int("partition", o.Partition), zap.Int64("offset", o.Offset), zap.Int("suppressed_warnings", muted))
	}
	return dl
}

// checkRoute counts and warns about statements that are not keyed by their
// learner key (rekey off: their learner may have two owners).
func (s *aggStage) checkRoute(m *kafka.Message, evs []schema.Evidence) {
	n := 0
	if s.partitions != nil {
		n = s.partitions()
	}
	for i := range evs {
		why := checkRoute(m.Key, evs[i].Learner, m.Partition, n)
		if why == "" {
			continue
		}
		s.m.Misrouted.WithLabelValues(why).Inc()
		if ok, muted := s.warnRoute.allow(s.now()); ok {
			s.log.Warn("input is not keyed by learner key: one learner may be processed by two instances; run with rekey on or fix the producer",
				zap.String("reason", why), zap.String("learner", evs[i].Learner), zap.String("topic", m.Topic),
				zap.Int("partition", m.Partition), zap.Int64("offset", m.Offset), zap.Int("suppressed_warnings", muted))
		}
		return
	}
}

// emptyError: a message without a statement.
type emptyError struct{}

func (emptyError) Error() string   { return "message holds no statement (empty value or empty array)" }
func (emptyError) Code() string    { return ReasonEmpty }
func (emptyError) Lines() []string { return []string{emptyError{}.Error()} }

// flushLoop flushes on the timer and on size until the generation ends,
// then stops the fetchers, makes a final flush, commits and drops the
// generation's partitions from memory.
func (s *aggStage) flushLoop(ctx context.Context, gen generation, gs *genState, stopFetchers func(), parts []int32) {
	// Flushes run under fctx, which outlives the generation by at most
	// FlushTimeout: a flush under way when the generation ends completes
	// (or gives up) with the final one.
	fctx, cancel := context.WithCancel(s.hard)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(s.cfg.FlushTimeout, cancel)
		context.AfterFunc(fctx, func() { t.Stop() })
	})
	defer stop()

	tick := time.NewTicker(s.cfg.FlushInterval)
	defer tick.Stop()
	var sweep <-chan time.Time
	sw, canSweep := s.agg.(Sweeper)
	if canSweep && s.cfg.SweepInterval > 0 {
		t := time.NewTicker(s.cfg.SweepInterval)
		defer t.Stop()
		sweep = t.C
	}
	ok := true
	for ok && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case now := <-sweep:
			// the events come with the next flush
			if err := sw.Sweep(fctx, now); err != nil {
				s.log.Warn("sweep failed", zap.Error(err))
			}
		case <-tick.C:
			ok = s.flush(fctx, gen, gs)
		case <-gs.kick:
			ok = s.flush(fctx, gen, gs)
		}
	}
	stopFetchers()
	if ok {
		ok = s.flush(fctx, gen, gs)
	}
	s.health.leave()
	if !ok {
		s.log.Error("final flush did not complete; nothing after the last commit is committed, the next owner replays it",
			zap.Any("partitions", parts))
	}
	// The drop runs under the hard context, not fctx: a final flush that
	// timed out has cancelled fctx, and learners of revoked partitions left
	// in memory would be written again by this instance after their next
	// owner moved them on.
	if err := s.agg.DropPartitions(s.hard, parts); err != nil {
		s.log.Error("cannot drop revoked partitions from memory", zap.Any("partitions", parts), zap.Error(err))
	}
	s.mu.Lock()
	s.ended = time.Now()
	s.mu.Unlock()
	s.m.Rebalances.Inc()
}

// flush is one barrier: what was dispatched before it becomes durable, in
// this order: dead letters and decision events acknowledged by Kafka, the
// learners written to Redis, then the offsets committed. It retries each
// step with backoff until it succeeds or ctx ends; it returns false when it
// gave up, after which the generation must not commit again.
func (s *aggStage) flush(ctx context.Context, gen generation, gs *genState) bool {
	start := time.Now()
	snap, b, err := s.barrier(ctx, gs)
	if err != nil {
		s.log.Error("flush barrier failed", zap.Error(err))
		return false
	}
	skippedNow := s.agg.Skipped()
	s.mu.Lock()
	dups := int(skippedNow - s.skipped)
	s.skipped = skippedNow
	// processed = accepted - duplicates, over the stage's whole life: a
	// shortfall now (duplicates of statements this snapshot does not hold
	// yet) is settled by the next flush, never counted twice.
	n := snap.accepted - dups - len(b.Failed) - s.owed
	s.owed = 0
	if n < 0 {
		s.owed, n = -n, 0
	}
	s.mu.Unlock()
	if dups > 0 {
		s.m.Statements.WithLabelValues(OutcomeDuplicate, "").Add(float64(dups))
	}
	if n > 0 {
		s.m.Statements.WithLabelValues(OutcomeProcessed, "").Add(float64(n))
	}

	for _, f := range b.Failed {
		// The aggregator holds no message bytes: the dead letter points at
		// the statement's place in the topic this stage reads.
		m := kafka.Message{Topic: s.topic, Partition: int(f.Source.Partition), Offset: f.Source.Offset, Key: []byte(f.Learner)}
		snap.dlq = append(snap.dlq, s.deadLetter(&m, panicError{f.Panic}))
	}
	msgs := snap.dlq
	if len(b.Events) > 0 {
		msgs = make([]kafka.Message, 0, len(snap.dlq)+len(b.Events))
		msgs = append(msgs, snap.dlq...)
		for i := range b.Events {
			em, err := eventMessage(s.cfg.DecisionTopic, &b.Events[i])
			if err != nil {
				s.log.Error("cannot encode decision event", zap.String("id", b.Events[i].ID), zap.Error(err))
				continue
			}
			msgs = append(msgs, em)
		}
	}
	if !s.retry(ctx, "produce dead letters and decision events", func(ctx context.Context) error {
		return s.out.WriteMessages(ctx, msgs...)
	}, func(error) { s.m.KafkaProduceErrors.WithLabelValues("flush").Inc() }) {
		return false
	}
	for i := range b.Events {
		s.m.Decisions.WithLabelValues(string(b.Events[i].Kind), string(b.Events[i].Decision.Reason)).Inc()
	}

	// The figures first: no learner state may be durable ahead of the
	// figures of the statements it reflects (docs/engagement.md).
	if s.figures != nil && !s.writeFigures(ctx, gs, snap.marks, b.EngagementChanges) {
		return false
	}

	if len(b.Learners) > 0 {
		attempt := 0
		ok := s.retry(ctx, "write learners to redis", func(ctx context.Context) error {
			if attempt > 0 {
				s.m.RedisRetries.Inc()
			}
			attempt++
			return s.store.WriteBatch(ctx, withoutForgotten(b.Learners, snap.forgets))
		}, func(error) { s.m.RedisErrors.Inc(); s.health.setRedis(false) })
		if !ok {
			return false
		}
		s.health.setRedis(true)
	}
	if len(snap.forgets) > 0 && !s.applyForgets(ctx, snap.forgets) {
		return false
	}

	offs := make(map[int]int64, len(snap.marks))
	for p, o := range snap.marks {
		if o+1 > gs.committed[p] {
			offs[int(p)] = o + 1 // Kafka commits the next offset to read
		}
	}
	if len(offs) > 0 {
		if err := gen.CommitOffsets(map[string]map[int]int64{s.topic: offs}); err == nil {
			for p, o := range offs {
				gs.committed[int32(p)] = o
			}
		} else {
			// Not fatal: the state is durable and guarded by offsets, so a
			// replay from the older commit is skipped; the next commit
			// covers these offsets too.
			s.log.Warn("cannot commit offsets", zap.String("topic", s.topic), zap.Error(err))
		}
	}
	for _, f := range snap.forgets {
		close(f.done)
	}
	if !gs.pausedSince.IsZero() {
		// the rebalance pause: from the previous generation's end to this
		// generation's first durable flush
		s.m.RebalancePause.Observe(time.Since(gs.pausedSince).Seconds())
		gs.pausedSince = time.Time{}
	}
	s.agg.Release(b)
	gs.budget.release(snap.pending)
	d := time.Since(start)
	s.m.FlushDuration.Observe(d.Seconds())
	s.m.FlushLearners.Observe(float64(len(b.Learners)))
	if d > s.cfg.FlushInterval {
		s.m.FlushOverruns.Inc()
	}
	return true
}

// barrier takes the snapshot and places the aggregator's flush barrier
// under the exclusive side of the cut (see aggStage.cut), then waits for
// the batch outside it when the aggregator can start a flush apart
// (FlushStarter), so fetchers hand over new statements meanwhile.
func (s *aggStage) barrier(ctx context.Context, gs *genState) (snapshot, *Batch, error) {
	snap, wait, b, err := s.placeBarrier(ctx, gs)
	if err != nil || wait == nil {
		return snap, b, err
	}
	b, err = wait(ctx)
	return snap, b, err
}

func (s *aggStage) placeBarrier(ctx context.Context, gs *genState) (snapshot, func(context.Context) (*Batch, error), *Batch, error) {
	s.cut.Lock()
	defer s.cut.Unlock()
	snap := gs.take()
	if fs, ok := s.agg.(FlushStarter); ok {
		wait, err := fs.StartFlush(ctx)
		return snap, wait, nil, err
	}
	b, err := s.agg.Flush(ctx)
	return snap, nil, b, err
}

// retry runs op until it succeeds or ctx ends, backing off between tries.
func (s *aggStage) retry(ctx context.Context, what string, op func(context.Context) error, onErr func(error)) bool {
	bo := backoff{min: s.cfg.RetryMin, max: s.cfg.RetryMax}
	for {
		err := op(ctx)
		if err == nil {
			return true
		}
		onErr(err)
		if ctx.Err() != nil {
			s.log.Error("giving up: "+what, zap.Error(err))
			return false
		}
		s.log.Warn("retrying: "+what, zap.Error(err))
		if bo.wait(ctx) != nil {
			return false
		}
	}
}

// inFlightUsed returns the statements fetched and not yet durable in the
// current generation.
func (s *aggStage) inFlightUsed() int {
	s.mu.Lock()
	b := s.inFlight
	s.mu.Unlock()
	if b == nil {
		return 0
	}
	return b.inUse()
}
