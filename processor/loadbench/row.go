package loadbench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/pipeline"
	"github.com/unpair/unpair/processor/store"
)

// Row is one end-to-end measurement of the real pipeline.
type Row struct {
	Phase
	Rekey bool
	Ratio float64 // sustained rate / the ceiling's

	// Accounting from unpair_statements_total (and unpair_rekeyed_total).
	Processed, DeadLettered, Duplicates, Rekeyed int
	// Learners checked in Redis after the run, and how many of them lacked
	// the offset of their latest statement.
	Checked, Missing int

	// Where the time went: flushes (barrier, produces, Redis write,
	// commit), their total time and how many overran the flush interval;
	// the process's CPU time (user+system) and the share of the whole
	// machine's CPU time that was busy (broker, Redis and other processes
	// included), both over the wall time.
	Flushes       int
	FlushTime     time.Duration
	FlushOverruns int
	ProcessCPU    time.Duration
	MachineBusy   float64
	// RedisCPU is Redis's own CPU time (INFO cpu, user+system; summed over
	// a cluster's masters) over the row.
	RedisCPU time.Duration

	// Memory: pairs held by the aggregator at the end, the Go heap in use
	// (after GC) less the heap before the pipeline started, and Redis's
	// used_memory growth over the learners written.
	Pairs         int64
	HeapDelta     int64
	RedisDelta    int64
	RedisLearners int
}

// HeapPerPair is the heap growth per live learner-content pair, in bytes.
func (r Row) HeapPerPair() float64 {
	if r.Pairs <= 0 {
		return 0
	}
	return float64(r.HeapDelta) / float64(r.Pairs)
}

// RedisPerLearner is Redis's used_memory growth per learner, in bytes.
func (r Row) RedisPerLearner() float64 {
	if r.RedisLearners <= 0 {
		return 0
	}
	return float64(r.RedisDelta) / float64(r.RedisLearners)
}

// Accounted reports whether every produced statement was counted once.
func (r Row) Accounted(produced int) bool {
	return r.Processed+r.DeadLettered+r.Duplicates == produced
}

// names are one run's topics, groups and Redis prefixes.
type names struct {
	input, fresh, byLearner, dlq, decisions string
	group                                   string
}

func newNames(now time.Time) names {
	id := strconv.FormatInt(now.UnixMilli(), 36)
	base := "unpair-bench-" + id
	return names{input: base + ".in", fresh: base + ".fresh", byLearner: base + ".by-learner",
		dlq: base + ".dlq", decisions: base + ".decisions", group: base}
}

// prefix is the Redis prefix of one row: each row starts from empty state.
func (n names) prefix(row string) string { return n.group + "-" + row }

// pipelineConfig is `unpair run` with its defaults, on the run's names.
func (b *bench) pipelineConfig(input, group, prefix string, rekey bool) pipeline.Config {
	c := pipeline.DefaultConfig()
	c.Brokers, c.Redis = b.cfg.Brokers, b.cfg.Redis
	c.Group, c.InputTopic = group, input
	c.ByLearnerTopic, c.DeadLetterTopic, c.DecisionTopic = b.names.byLearner, b.names.dlq, b.names.decisions
	c.CatalogTopic, c.CatalogFile = "", b.catalogFile
	c.HTTPAddr = ""
	c.LearnerSecret = b.cfg.Secret
	c.RedisPrefix = prefix
	c.Rekey = rekey
	return c
}

// running is one in-process pipeline.
type running struct {
	p      *pipeline.Processor
	built  *pipeline.Built
	cancel context.CancelFunc
	done   chan error
}

func (b *bench) start(cfg pipeline.Config) (*running, error) {
	built, err := pipeline.Build(cfg, b.log)
	if err != nil {
		return nil, fmt.Errorf("cannot build the pipeline: %w", err)
	}
	p, err := pipeline.New(cfg, built.Deps)
	if err != nil {
		built.Close()
		return nil, fmt.Errorf("cannot build the pipeline: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{p: p, built: built, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx, context.Background()) }()
	return r, nil
}

// stop stops the pipeline in order (final flush, commit, leave) and closes
// its parts.
func (r *running) stop() error {
	r.cancel()
	err := <-r.done
	return errors.Join(err, r.built.Close())
}

// waitReady waits until the pipeline has its partitions assigned.
func (b *bench) waitReady(ctx context.Context, r *running) error {
	return poll(ctx, b.cfg.PhaseTimeout, 5*time.Millisecond, func() (bool, error) {
		select {
		case err := <-r.done:
			return false, fmt.Errorf("the pipeline stopped before it was ready: %v", err)
		default:
		}
		return r.p.Health().Ready() == nil, nil
	}, "the pipeline's partitions to be assigned")
}

// row runs the real pipeline over the input topic from an empty group
// and Redis prefix until every statement's effect is in Redis: the
// groups have committed the end of every partition and the learner of
// each partition's last statement has that statement's offset stored.
func (b *bench) row(ctx context.Context, rekey bool, profile string) (Row, error) {
	name, tagName := "unpair, rekey off (producers key by learner key)", "off"
	if rekey {
		name, tagName = "unpair, rekey on (re-keyed through the by-learner topic)", "on"
	}
	row := Row{Phase: Phase{Name: name}, Rekey: rekey}
	group, prefix := b.names.group+"-"+tagName, b.names.prefix(tagName)
	cfg := b.pipelineConfig(b.names.input, group, prefix, rekey)
	sch, err := store.NewSchema(prefix)
	if err != nil {
		return row, err
	}
	usedBefore, err := usedMemory(ctx, b.rdb)
	if err != nil {
		return row, err
	}
	heapBefore := heapInUse()

	ctx, cancel := context.WithTimeout(ctx, b.cfg.PhaseTimeout)
	defer cancel()
	var prof *os.File
	if profile != "" {
		if prof, err = os.Create(profile); err != nil {
			return row, fmt.Errorf("cannot write the CPU profile: %w", err)
		}
		defer prof.Close()
		if err := pprof.StartCPUProfile(prof); err != nil {
			return row, fmt.Errorf("cannot start the CPU profile: %w", err)
		}
	}
	stopProfile := func() {
		if prof != nil {
			pprof.StopCPUProfile()
			prof = nil
		}
	}
	defer stopProfile()

	cpuBefore, machineBefore := processCPU(), readCPUStat()
	redisBefore := redisCPU(ctx, b.rdb)
	start := time.Now()
	r, err := b.start(cfg)
	if err != nil {
		return row, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = r.stop()
		}
	}()
	if err := b.waitReady(ctx, r); err != nil {
		return row, err
	}
	assigned := time.Now()

	// Done: both groups committed everything, then the stored offsets of
	// each partition's last learner reach its last statement.
	var targets map[int]position
	var learnerOf map[int]string
	err = poll(ctx, b.cfg.PhaseTimeout, 10*time.Millisecond, func() (bool, error) {
		select {
		case err := <-r.done:
			return false, fmt.Errorf("the pipeline stopped: %v", err)
		default:
		}
		if targets == nil {
			consumed := b.names.input
			if rekey {
				ok, _, err := b.admin.caughtUp(ctx, group+".rekey", b.names.input)
				if err != nil || !ok {
					return false, nil // transient errors: poll again
				}
				consumed = b.names.byLearner
			}
			ok, _, err := b.admin.caughtUp(ctx, group, consumed)
			if err != nil || !ok {
				return false, nil
			}
			if targets, learnerOf, err = b.lastStatements(ctx, rekey); err != nil {
				return false, err
			}
		}
		return b.storedReach(ctx, sch, targets, learnerOf)
	}, "every statement's effect in Redis")
	if err != nil {
		return row, err
	}
	end := time.Now()
	row.ProcessCPU = processCPU() - cpuBefore
	row.MachineBusy = readCPUStat().busySince(machineBefore)
	if after := redisCPU(ctx, b.rdb); after > 0 && redisBefore > 0 {
		row.RedisCPU = after - redisBefore
	}
	stopProfile()
	row.Wall, row.Sustained = end.Sub(start), end.Sub(assigned)

	row.Pairs = r.built.Shards.PairsInMemory()
	row.HeapDelta = int64(heapInUse()) - int64(heapBefore)
	usedAfter, err := usedMemory(ctx, b.rdb)
	if err != nil {
		return row, err
	}
	row.RedisDelta = usedAfter - usedBefore
	m := r.p.Metrics()
	outcomes := counterValues(m.Statements, "outcome")
	row.Processed = int(outcomes[pipeline.OutcomeProcessed])
	row.DeadLettered = int(outcomes[pipeline.OutcomeDeadLettered])
	row.Duplicates = int(outcomes[pipeline.OutcomeDuplicate])
	row.Rekeyed = int(counterValues(m.Rekeyed, "")[""])
	n, sum := histogramValues(m.FlushDuration)
	row.Flushes, row.FlushTime = int(n), time.Duration(sum*float64(time.Second))
	row.FlushOverruns = int(counterValues(m.FlushOverruns, "")[""])
	row.Statements = row.Processed + row.DeadLettered + row.Duplicates

	stopped = true
	if err := r.stop(); err != nil {
		return row, fmt.Errorf("the pipeline did not stop cleanly: %w", err)
	}
	row.Checked, row.Missing, err = b.verify(ctx, sch, rekey)
	row.RedisLearners = row.Checked
	return row, err
}

// lastStatements returns, per partition of the consumed topic, the offset
// of the last statement that leaves an offset in Redis and its learner.
// With rekey off that is the producer's last valid statement; with rekey
// on every by-learner message is valid and the last one is read back.
func (b *bench) lastStatements(ctx context.Context, rekey bool) (map[int]position, map[int]string, error) {
	if !rekey {
		b.ledger.mu.Lock()
		defer b.ledger.mu.Unlock()
		t := make(map[int]position, len(b.ledger.lastValid))
		l := make(map[int]string, len(b.ledger.lastOf))
		for p, pos := range b.ledger.lastValid {
			t[p], l[p] = pos, b.ledger.lastOf[p]
		}
		return t, l, nil
	}
	ends, err := b.admin.ends(ctx, b.names.byLearner)
	if err != nil {
		return nil, nil, err
	}
	t, l := map[int]position{}, map[int]string{}
	for p, end := range ends {
		if end <= 0 {
			continue
		}
		m, err := b.admin.lastMessage(ctx, b.names.byLearner, p, end)
		if err != nil {
			return nil, nil, err
		}
		t[p], l[p] = position{partition: p, offset: m.Offset}, string(m.Key)
	}
	return t, l, nil
}

// storedReach reports whether each target learner's stored offset for
// its partition has reached the target offset.
func (b *bench) storedReach(ctx context.Context, sch store.Schema, targets map[int]position, learnerOf map[int]string) (bool, error) {
	pipe := b.rdb.Pipeline()
	cmds := make(map[int]*redis.StringCmd, len(targets))
	for p := range targets {
		cmds[p] = pipe.HGet(ctx, sch.Keys(learnerOf[p]).Offsets, strconv.Itoa(p))
	}
	_, _ = pipe.Exec(ctx)
	for p, t := range targets {
		v, err := cmds[p].Int64()
		if err != nil || v < t.offset {
			return false, nil
		}
	}
	return true, nil
}

// verify checks every learner the producer wrote a valid statement for:
// with rekey off, its stored offset for its partition has reached its
// latest statement; with rekey on, it has a stored offset for the
// by-learner partition PartitionOf assigns it. It returns the learners
// checked and how many failed.
func (b *bench) verify(ctx context.Context, sch store.Schema, rekey bool) (checked, missing int, err error) {
	b.ledger.mu.Lock()
	learners := make(map[string]position, len(b.ledger.learners))
	for l, pos := range b.ledger.learners {
		learners[l] = pos
	}
	b.ledger.mu.Unlock()
	const chunk = 1000
	keys := make([]string, 0, chunk)
	flush := func() error {
		pipe := b.rdb.Pipeline()
		cmds := make([]*redis.StringCmd, len(keys))
		for i, l := range keys {
			p := learners[l].partition
			if rekey {
				p = pipeline.PartitionOf(l, b.cfg.Partitions)
			}
			cmds[i] = pipe.HGet(ctx, sch.Keys(l).Offsets, strconv.Itoa(p))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("cannot verify stored offsets: %w", err)
		}
		for i, l := range keys {
			v, err := cmds[i].Int64()
			checked++
			if err != nil || (!rekey && v < learners[l].offset) {
				missing++
			}
		}
		keys = keys[:0]
		return nil
	}
	for l := range learners {
		keys = append(keys, l)
		if len(keys) == chunk {
			if err := flush(); err != nil {
				return checked, missing, err
			}
		}
	}
	return checked, missing, flush()
}

// heapInUse is the Go heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// histogramValues returns a histogram's sample count and sum.
func histogramValues(h prometheus.Collector) (uint64, float64) {
	ch := make(chan prometheus.Metric, 4)
	go func() { h.Collect(ch); close(ch) }()
	var n uint64
	var sum float64
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) != nil || d.Histogram == nil {
			continue
		}
		n += d.Histogram.GetSampleCount()
		sum += d.Histogram.GetSampleSum()
	}
	return n, sum
}

// cpuStat is the first line of /proc/stat: total and idle (idle + iowait)
// jiffies of all CPUs.
type cpuStat struct{ total, idle uint64 }

func readCPUStat() cpuStat {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuStat{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var st cpuStat
	if len(f) < 6 || f[0] != "cpu" {
		return cpuStat{}
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return cpuStat{}
		}
		if i < 8 { // user nice system idle iowait irq softirq steal; guest is inside user
			st.total += n
		}
		if i == 3 || i == 4 {
			st.idle += n
		}
	}
	return st
}

// busySince is the busy share of all CPUs since before (0 when unknown).
func (s cpuStat) busySince(before cpuStat) float64 {
	dt := float64(s.total) - float64(before.total)
	if dt <= 0 {
		return 0
	}
	return 1 - (float64(s.idle)-float64(before.idle))/dt
}

// counterValues sums a counter (vector)'s values by the value of label.
func counterValues(c prometheus.Collector, label string) map[string]float64 {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	out := map[string]float64{}
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) != nil || d.Counter == nil {
			continue
		}
		k := ""
		for _, lp := range d.Label {
			if lp.GetName() == label {
				k = lp.GetValue()
			}
		}
		out[k] += d.Counter.GetValue()
	}
	return out
}
