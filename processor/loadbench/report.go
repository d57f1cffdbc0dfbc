package loadbench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Machine describes where the benchmark ran.
type Machine struct {
	CPUs         int
	CPUModel     string
	MemoryBytes  int64
	Kernel       string
	LoadAvg      string // /proc/loadavg's first three fields at the start
	Go           string
	KafkaGo      string
	GoRedis      string
	RedisVersion string
}

// describeMachine reads /proc (Linux; elsewhere the fields stay empty),
// the build's module versions and Redis's version.
func describeMachine(ctx context.Context, rdb redis.UniversalClient) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	if kb := strings.Fields(procField("/proc/meminfo", "MemTotal")); len(kb) > 0 {
		if n, err := strconv.ParseInt(kb[0], 10, 64); err == nil {
			m.MemoryBytes = n << 10
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/segmentio/kafka-go":
				m.KafkaGo = d.Version
			case "github.com/redis/go-redis/v9":
				m.GoRedis = d.Version
			}
		}
	}
	if s, err := rdb.Info(ctx, "server").Result(); err == nil {
		m.RedisVersion = infoField(s, "redis_version")
	}
	return m
}

// procField returns the value of the first "name: value" line of a /proc
// file, or "".
func procField(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// profileTop returns `go tool pprof -top` of the profile (the 25 heaviest
// functions by flat CPU), or "" when the go tool is not available.
func profileTop(ctx context.Context, profile string) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=25", profile).Output()
	if err != nil {
		return ""
	}
	s := string(out)
	if i := strings.Index(s, "Showing nodes"); i >= 0 {
		s = s[i:]
	}
	return strings.TrimRight(s, "\n")
}

// ProfileCommand is the command that shows the CPU profile's top.
func (r *Result) ProfileCommand() string {
	return "go tool pprof -top -nodecount=25 " + r.Profile
}

// Short reports whether the rekey-off row fell short of Goal.
func (r *Result) Short() bool {
	return len(r.Rows) > 0 && r.Rows[0].Ratio < Goal
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 0, 64) + " ms" }

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s" }

// workload is the one-line description of the cohort.
func (r *Result) workload() string {
	c := &r.Config
	return fmt.Sprintf("%d statements on %d partitions; %d learners drawn from a Zipf distribution (s = %g), %d of them seen; %d contents over %d skills",
		c.Statements, c.Partitions, c.Learners, c.ZipfS, r.Learners, c.Contents, c.Skills)
}

// WriteText prints the figures for a terminal.
func (r *Result) WriteText(w io.Writer) {
	fmt.Fprintf(w, "unpair bench: %s\n\n", r.workload())
	tw := func(name string, p Phase, extra string) {
		fmt.Fprintf(w, "  %-46s %9d stmts %9s %9.0f/s%s\n", name, p.Statements, secs(p.Sustained), p.Rate(), extra)
	}
	tw("produce (bulk, acks=all)", r.Produce, "")
	if r.Ceiling.Statements > 0 {
		tw("ceiling: bare kafka-go consumer group", r.Ceiling, "")
	}
	for _, row := range r.Rows {
		verdict := "meets the goal"
		if row.Ratio < Goal {
			verdict = "short of the goal"
		}
		tw(rowLabel(row), row.Phase, fmt.Sprintf("   %.2f of the ceiling (goal %.1f: %s)", row.Ratio, Goal, verdict))
	}
	fmt.Fprintln(w)
	if len(r.CeilingPasses) > 1 {
		fmt.Fprintf(w, "  ceiling: %s\n", r.ceilingPasses())
	}
	for _, row := range r.Rows {
		fmt.Fprintf(w, "  accounting, %s: %s\n", rowLabel(row), r.accounting(row))
		fmt.Fprintf(w, "  time, %s: %s\n", rowLabel(row), r.timeGoes(row))
	}
	if len(r.Rows) > 0 {
		row := r.Rows[0]
		fmt.Fprintf(w, "  memory: %.0f B of Go heap per live pair (%d pairs, heap +%s); Redis %.0f B per learner (used_memory +%s over %d learners)\n",
			row.HeapPerPair(), row.Pairs, mib(row.HeapDelta), row.RedisPerLearner(), mib(row.RedisDelta), row.RedisLearners)
	}
	if f := r.Fresh; f != nil {
		fmt.Fprintf(w, "  freshness at %.0f statements/s (achieved %.0f/s for %s): p50 %s, p99 %s, max %s over %d samples, %d lost\n",
			f.Rate, f.Achieved, secs(f.Duration), ms(f.P50), ms(f.P99), ms(f.Max), f.Samples, f.Lost)
	}
	if r.Profile != "" && len(r.Rows) > 0 {
		fmt.Fprintf(w, "  CPU profile of the rekey-off row: %s\n", r.ProfileCommand())
		if r.Short() && r.ProfileTop != "" {
			fmt.Fprintf(w, "\n%s\n", indent(r.ProfileTop, "    "))
		}
	}
}

func rowLabel(row Row) string {
	if row.Rekey {
		return "unpair end to end, rekey on"
	}
	return "unpair end to end, rekey off"
}

func (r *Result) accounting(row Row) string {
	s := fmt.Sprintf("processed %d + dead-lettered %d + duplicate %d = %d of %d produced",
		row.Processed, row.DeadLettered, row.Duplicates, row.Processed+row.DeadLettered+row.Duplicates, r.Config.Statements)
	if row.Rekey {
		s += fmt.Sprintf(" (re-keyed %d)", row.Rekeyed)
	}
	return s + fmt.Sprintf("; %d learners checked in Redis, %d missing their last statement", row.Checked, row.Missing)
}

// ceilingPasses describes the spread of the ceiling's passes.
func (r *Result) ceilingPasses() string {
	lo, hi := r.CeilingPasses[0].Rate(), r.CeilingPasses[0].Rate()
	var sum time.Duration
	for _, p := range r.CeilingPasses {
		lo, hi = min(lo, p.Rate()), max(hi, p.Rate())
		sum += p.Sustained
	}
	return fmt.Sprintf("median of %d passes (%s in all), %.0f-%.0f statements/s", len(r.CeilingPasses), secs(sum), lo, hi)
}

// timeGoes says where a row's wall time went.
func (r *Result) timeGoes(row Row) string {
	s := fmt.Sprintf("%d flushes took %s of the %s", row.Flushes, secs(row.FlushTime), secs(row.Sustained))
	if row.Flushes > 0 {
		s += fmt.Sprintf(" (mean %s, %d over the flush interval)", ms(row.FlushTime/time.Duration(row.Flushes)), row.FlushOverruns)
	}
	if row.Wall > 0 && row.ProcessCPU > 0 {
		s += fmt.Sprintf("; unpair used %s of CPU time, %.2f cores of %d on average", secs(row.ProcessCPU),
			row.ProcessCPU.Seconds()/row.Wall.Seconds(), r.Machine.CPUs)
	}
	if row.RedisCPU > 0 {
		s += fmt.Sprintf("; Redis used %s of CPU time", secs(row.RedisCPU))
	}
	if row.MachineBusy > 0 {
		s += fmt.Sprintf("; the machine's CPUs were %.0f %% busy", 100*row.MachineBusy)
	}
	return s
}

func indent(s, pre string) string {
	return pre + strings.ReplaceAll(s, "\n", "\n"+pre)
}

// RecordHeader opens a new record file.
const RecordHeader = `# Benchmark: unpair end to end on the real broker and Redis

Produced by ` + "`unpair bench`" + ` (processor/loadbench), which appends one
section per run. Each run produces a simulated cohort (1-2 KB xAPI
statements, learners from a Zipf distribution, the simulator's 1 % invalid
statements and 1 % duplicates) to a fresh topic keyed by learner key, then
measures, on the same topic:

- **ceiling**: a bare kafka-go consumer group (ConsumerGroup/Generation,
  one partition reader per assignment with the pipeline's reader settings)
  reading every partition to its end and discarding, repeated in fresh
  groups until the passes add up to 20 s; the median pass counts;
- **unpair end to end**: the real pipeline in-process (` + "`pipeline.Build`" + `
  and ` + "`pipeline.New`" + ` with ` + "`unpair run`" + `'s defaults), from an empty group and
  Redis prefix, until every statement's effect is in Redis: the groups have
  committed the end of every partition (polled every 10 ms with
  OffsetFetch) and the learner of each partition's last valid statement has
  that statement's offset stored in Redis. Rates are sustained: from the
  moment the group has assigned the partitions to done (group joins
  excluded; the wall times include them). Afterwards every learner is
  checked in Redis and every statement accounted for in
  unpair_statements_total;
- **freshness**: on a fresh topic, the pipeline (rekey off) running, a
  producer at half the measured rekey-off rate tags one valid statement
  per 20 ms; once its acknowledgement gives its partition and offset, the
  learner's stored offset for that partition is polled every 5 ms
  (HGET, pipelined). The store writes the offset in the same Lua script as
  the state and decisions, so a stored offset means a visible effect.
  Latency = first poll that sees it - start of the produce call carrying
  it (so it includes the produce acknowledgement, the fetch wait, the
  250 ms flush interval and the Redis write; resolution 5 ms);
- **memory**: Go heap in use after GC, at the end of the rekey-off row,
  less the heap before the pipeline started, divided by the aggregator's
  pairs in memory (so it includes the pipeline's fixed buffers); Redis
  used_memory growth over the learners written by that row.

The CPU profile covers the rekey-off row (runtime/pprof, 100 Hz); when the
row falls short of 0.7 of the ceiling, its top functions are recorded.
The producer, the consumers, the broker and Redis share the machine.
`

// Markdown is the run's section of the record file; command is the exact
// command line.
func (r *Result) Markdown(command string) string {
	var b strings.Builder
	m := &r.Machine
	fmt.Fprintf(&b, "\n## Run of %s\n\n", r.Date.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "- Command: `%s`\n", command)
	fmt.Fprintf(&b, "- Machine: %d CPUs (%s), %.1f GiB RAM, %s; load average at start %s\n",
		m.CPUs, orUnknown(m.CPUModel), float64(m.MemoryBytes)/(1<<30), orUnknown(m.Kernel), orUnknown(m.LoadAvg))
	fmt.Fprintf(&b, "- Versions: %s, Apache Kafka %s (single broker), Redis %s, kafka-go %s, go-redis %s\n",
		m.Go, orUnknown(r.Config.KafkaVersion), orUnknown(m.RedisVersion), orUnknown(m.KafkaGo), orUnknown(m.GoRedis))
	fmt.Fprintf(&b, "- Workload: %s\n\n", r.workload())
	b.WriteString("| Phase | Statements | Sustained | Wall (with group join) | Statements/s | Share of the ceiling |\n|---|---|---|---|---|---|\n")
	line := func(name string, p Phase, share string) {
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %.0f | %s |\n", name, p.Statements, secs(p.Sustained), secs(p.Wall), p.Rate(), share)
	}
	line("produce (bulk, acks=all)", r.Produce, "")
	if r.Ceiling.Statements > 0 {
		line("ceiling: bare kafka-go consumer group", r.Ceiling, "1")
	}
	for _, row := range r.Rows {
		line(rowLabel(row), row.Phase, fmt.Sprintf("**%.2f**", row.Ratio))
	}
	b.WriteString("\n")
	if len(r.Rows) > 0 {
		row := r.Rows[0]
		if row.Ratio >= Goal {
			fmt.Fprintf(&b, "Goal (at least %.1f of the ceiling): met.\n\n", Goal)
		} else {
			fmt.Fprintf(&b, "Goal (at least %.1f of the ceiling): **not met** (%.2f); see the profile below.\n\n", Goal, row.Ratio)
		}
	}
	if len(r.CeilingPasses) > 1 {
		fmt.Fprintf(&b, "- Ceiling: %s.\n", r.ceilingPasses())
	}
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "- Accounting, %s: %s.\n", rowLabel(row), r.accounting(row))
		fmt.Fprintf(&b, "- Time, %s: %s.\n", rowLabel(row), r.timeGoes(row))
	}
	if len(r.Rows) > 0 {
		row := r.Rows[0]
		fmt.Fprintf(&b, "- Memory per live pair: %.0f B of Go heap (%d pairs, heap +%s).\n", row.HeapPerPair(), row.Pairs, mib(row.HeapDelta))
		fmt.Fprintf(&b, "- Redis memory per learner: %.0f B (used_memory +%s over %d learners).\n", row.RedisPerLearner(), mib(row.RedisDelta), row.RedisLearners)
	}
	if f := r.Fresh; f != nil {
		fmt.Fprintf(&b, "- Freshness at %.0f statements/s (achieved %.0f/s for %s): p50 **%s**, p99 **%s**, max %s over %d samples (%d lost).\n",
			f.Rate, f.Achieved, secs(f.Duration), ms(f.P50), ms(f.P99), ms(f.Max), f.Samples, f.Lost)
	}
	if r.Short() && r.ProfileTop != "" {
		b.WriteString("\nWhere the time goes (CPU profile of the rekey-off row, `go tool pprof -top`):\n\n```\n")
		b.WriteString(r.ProfileTop)
		b.WriteString("\n```\n")
	}
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// AppendRecord appends the run's section to path, starting the file with
// RecordHeader when it is new or empty.
func (r *Result) AppendRecord(path, command string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("cannot record the figures: %w", err)
	}
	st, err := f.Stat()
	if err == nil && st.Size() == 0 {
		_, err = f.WriteString(RecordHeader)
	}
	if err == nil {
		_, err = f.WriteString(r.Markdown(command))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cannot record the figures in %s: %w", path, err)
	}
	return nil
}
