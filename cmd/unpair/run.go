package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/redis/go-redis/v9"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/unpair/unpair/processor/pipeline"
)

func init() {
	register("run", "run the stream processor: Kafka statements in, suppressions out to Redis", runRun)
}

const runUsage = `usage: unpair run [flags]

Consumes xAPI statements from Kafka, keeps each learner's mastery state,
and writes per learner-content suppression decisions to Redis; decision
changes go to a Kafka topic, rejected statements to a dead-letter topic.
Serves /metrics, /healthz, /readyz and the query API (/v1/...) on
--http-addr. SIGTERM or SIGINT stops in order (stop fetching, final flush,
commit, leave the group); a second signal exits at once (nothing
uncommitted is lost: it is replayed on restart).

Every setting is taken from, in order: its flag, the environment variable
shown, the YAML file of --config (UNPAIR_CONFIG; keys are the flag names,
e.g. "flush-interval: 500ms", lists as YAML lists or comma-separated; an
unknown key is an error), then the default. Durations take Go syntax
(250ms, 10s). Secrets are never printed; prefer the environment or the
file for them.

`

// runFlag is one setting: its flag, environment variable, default and help.
type runFlag struct {
	name, env, def, help string
	boolean              bool // --name alone means true
	secret               bool // the environment's value is never shown as a default
}

// flagValue is a string flag that can act as a boolean one.
type flagValue struct {
	v      string
	isBool bool
}

func (f *flagValue) String() string     { return f.v }
func (f *flagValue) Set(s string) error { f.v = s; return nil }
func (f *flagValue) IsBoolFlag() bool   { return f.isBool }

// runFlags defines every setting as a string flag whose default comes from
// the environment (getenv) or else the built-in default; parseRunConfig
// converts and checks the values.
func runFlags(fs *flag.FlagSet, getenv func(string) string, file map[string]string) []runFlag {
	d := pipeline.DefaultConfig()
	flags := []runFlag{
		{name: "config", env: "UNPAIR_CONFIG", help: "YAML FILE of settings (keys are these flag names); flags and the environment override it"},
		{name: "brokers", env: "UNPAIR_BROKERS", help: "Kafka bootstrap addresses, comma-separated host:port (required)"},
		{name: "kafka-sasl-mechanism", env: "UNPAIR_KAFKA_SASL_MECHANISM", help: "Kafka SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: no SASL"},
		{name: "kafka-sasl-username", env: "UNPAIR_KAFKA_SASL_USERNAME", help: "Kafka SASL user"},
		{name: "kafka-sasl-password", env: "UNPAIR_KAFKA_SASL_PASSWORD", secret: true, help: "Kafka SASL password"},
		{name: "kafka-tls", env: "UNPAIR_KAFKA_TLS", def: "false", boolean: true, help: "TLS to Kafka (implied by any kafka-tls-* file)"},
		{name: "kafka-tls-ca", env: "UNPAIR_KAFKA_TLS_CA", help: "PEM FILE of the CA that signs the brokers' certificates; empty: system roots"},
		{name: "kafka-tls-cert", env: "UNPAIR_KAFKA_TLS_CERT", help: "PEM FILE of the client certificate for mutual TLS (with kafka-tls-key)"},
		{name: "kafka-tls-key", env: "UNPAIR_KAFKA_TLS_KEY", help: "PEM FILE of the client certificate's key"},
		{name: "kafka-tls-insecure-skip-verify", env: "UNPAIR_KAFKA_TLS_INSECURE_SKIP_VERIFY", def: "false", boolean: true, help: "do not verify the brokers' certificates (never in production)"},
		{name: "redis", env: "UNPAIR_REDIS", help: "Redis addresses, comma-separated; more than one means Redis Cluster (required)"},
		{name: "redis-cluster", env: "UNPAIR_REDIS_CLUSTER", def: "false", boolean: true, help: "use the Redis Cluster client even with one seed address"},
		{name: "redis-username", env: "UNPAIR_REDIS_USERNAME", help: "Redis ACL user; empty: the default user"},
		{name: "redis-password", env: "UNPAIR_REDIS_PASSWORD", secret: true, help: "password of the Redis ACL user (or requirepass)"},
		{name: "redis-tls", env: "UNPAIR_REDIS_TLS", def: "false", boolean: true, help: "TLS to Redis (implied by any redis-tls-* file)"},
		{name: "redis-tls-ca", env: "UNPAIR_REDIS_TLS_CA", help: "PEM FILE of the CA that signs the Redis servers' certificates; empty: system roots"},
		{name: "redis-tls-cert", env: "UNPAIR_REDIS_TLS_CERT", help: "PEM FILE of the client certificate for mutual TLS (with redis-tls-key)"},
		{name: "redis-tls-key", env: "UNPAIR_REDIS_TLS_KEY", help: "PEM FILE of the client certificate's key"},
		{name: "redis-tls-insecure-skip-verify", env: "UNPAIR_REDIS_TLS_INSECURE_SKIP_VERIFY", def: "false", boolean: true, help: "do not verify the Redis servers' certificates (never in production)"},
		{name: "group", env: "UNPAIR_GROUP", def: d.Group, help: "consumer group; the re-key stage uses <group>.rekey"},
		{name: "input-topic", env: "UNPAIR_INPUT_TOPIC", def: d.InputTopic, help: "topic of xAPI statements"},
		{name: "by-learner-topic", env: "UNPAIR_BY_LEARNER_TOPIC", def: d.ByLearnerTopic, help: "internal topic of statements re-keyed by learner key"},
		{name: "dlq-topic", env: "UNPAIR_DLQ_TOPIC", def: d.DeadLetterTopic, help: "dead-letter topic of rejected statements"},
		{name: "decision-topic", env: "UNPAIR_DECISION_TOPIC", def: d.DecisionTopic, help: "topic of decision change events"},
		{name: "catalog-topic", env: "UNPAIR_CATALOG_TOPIC", def: pipeline.DefaultCatalogTopic, help: "compacted catalog topic every instance follows; empty disables"},
		{name: "catalog", env: "UNPAIR_CATALOG", help: "catalog FILE (JSON or CSV) loaded at start"},
		{name: "rekey", env: "UNPAIR_REKEY", def: "true", boolean: true, help: "re-key statements by learner through the by-learner topic; false when producers already key by learner key"},
		{name: "create-topics", env: "UNPAIR_CREATE_TOPICS", def: "true", boolean: true, help: "create missing output and internal topics at start"},
		{name: "replication-factor", env: "UNPAIR_REPLICATION_FACTOR", def: "1", help: "replication factor of topics the processor creates"},
		{name: "http-addr", env: "UNPAIR_HTTP_ADDR", def: pipeline.DefaultHTTPAddr, help: "address of /metrics, /healthz, /readyz and the query API; empty disables"},
		{name: "pprof", env: "UNPAIR_PPROF", def: "false", boolean: true, help: "serve Go's profiler at /debug/pprof/ on the HTTP address (keep it off on a public port)"},
		{name: "learner-secret", env: "UNPAIR_LEARNER_SECRET", secret: true, help: "HMAC secret of learner keys (prefer the environment variable)"},
		{name: "api-token", env: "UNPAIR_API_TOKEN", secret: true, help: "bearer token required by the query API and the insight JSON endpoints (/v1/...); /metrics, /healthz, /readyz and the /insight/ page stay open; empty: none"},
		{name: "redis-prefix", env: "UNPAIR_REDIS_PREFIX", help: "first component of every Redis key (default unpair)"},
		{name: "shards", env: "UNPAIR_SHARDS", def: "0", help: "aggregator shards; 0 means one per CPU"},
		{name: "log-format", env: "UNPAIR_LOG_FORMAT", def: "json", help: "log format: json (production) or console (development)"},
		{name: "flush-interval", env: "UNPAIR_FLUSH_INTERVAL", def: d.FlushInterval.String(), help: "time between flushes to Redis"},
		{name: "flush-size", env: "UNPAIR_FLUSH_SIZE", def: strconv.Itoa(d.FlushSize), help: "flush early once this many statements wait"},
		{name: "max-in-flight", env: "UNPAIR_MAX_IN_FLIGHT", def: strconv.Itoa(d.MaxInFlight), help: "messages fetched but not yet durable (one statement each with rekey on; a JSON array counts once); fetching pauses at this bound"},
		{name: "flush-timeout", env: "UNPAIR_FLUSH_TIMEOUT", def: d.FlushTimeout.String(), help: "deadline of the final flush on rebalance or stop"},
		{name: "shutdown-timeout", env: "UNPAIR_SHUTDOWN_TIMEOUT", def: d.ShutdownTimeout.String(), help: "deadline of the whole orderly stop"},
		{name: "sweep-interval", env: "UNPAIR_SWEEP_INTERVAL", def: d.SweepInterval.String(), help: "how often review-due and expired suppressions are re-evaluated; negative disables"},
		{name: "fetch-max-wait", env: "UNPAIR_FETCH_MAX_WAIT", def: d.FetchMaxWait.String(), help: "longest a fetch waits for new data"},
		{name: "session-timeout", env: "UNPAIR_SESSION_TIMEOUT", def: d.SessionTimeout.String(), help: "consumer group session timeout"},
		{name: "heartbeat-interval", env: "UNPAIR_HEARTBEAT_INTERVAL", def: d.HeartbeatInterval.String(), help: "consumer group heartbeat interval"},
		{name: "rebalance-timeout", env: "UNPAIR_REBALANCE_TIMEOUT", def: d.RebalanceTimeout.String(), help: "consumer group rebalance timeout"},
		{name: "retry-min", env: "UNPAIR_RETRY_MIN", def: d.RetryMin.String(), help: "first backoff after a failed Redis write or produce"},
		{name: "retry-max", env: "UNPAIR_RETRY_MAX", def: d.RetryMax.String(), help: "longest backoff"},
	}
	for i := range flags {
		f := &flags[i]
		v := &flagValue{v: f.def, isBool: f.boolean}
		if !f.secret {
			if fv, ok := file[f.name]; ok {
				v.v = fv
			}
			if e := getenv(f.env); e != "" {
				v.v = e
			}
		}
		fs.Var(v, f.name, f.help+" ["+f.env+"]")
	}
	return flags
}

// runSettingNames lists every setting a config file may hold.
func runSettingNames() []string {
	var names []string
	for _, f := range runFlags(nilFlagSet(), func(string) string { return "" }, nil) {
		if f.name != "config" {
			names = append(names, f.name)
		}
	}
	return names
}

// nilFlagSet is a throwaway flag set, for listing the settings.
func nilFlagSet() *flag.FlagSet { return flag.NewFlagSet("run", flag.ContinueOnError) }

// configFileArg returns the --config FILE of args, else UNPAIR_CONFIG.
func configFileArg(args []string, getenv func(string) string) string {
	path := getenv("UNPAIR_CONFIG")
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasVal {
			path = val
		} else if i+1 < len(args) {
			path = args[i+1]
			i++
		}
	}
	return path
}

// parseRunConfig parses args (with environment fallbacks) into a validated
// Config. Every error names the flag and its environment variable.
func parseRunConfig(args []string, getenv func(string) string, out io.Writer) (pipeline.Config, bool, error) {
	c, rest, help, err := parseSettings("run", runUsage, args, getenv, out, nil)
	if err == nil && !help && len(rest) > 0 {
		err = usageError{fmt.Errorf("run: unexpected argument %q (see unpair run --help)", rest[0])}
	}
	return c, help, err
}

// parseSettings parses the settings of `unpair run` for command cmd (run,
// forget), with extra adding the command's own flags; it returns the
// validated Config and the positional arguments.
func parseSettings(cmd, usage string, args []string, getenv func(string) string, out io.Writer, extra func(*flag.FlagSet)) (pipeline.Config, []string, bool, error) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c pipeline.Config
	var file map[string]string
	if path := configFileArg(args, getenv); path != "" {
		var err error
		if file, err = pipeline.ReadSettingsFile(path, runSettingNames()); err != nil {
			return c, nil, false, usageError{fmt.Errorf("%s: --config (UNPAIR_CONFIG): %w", cmd, err)}
		}
	}
	flags := runFlags(fs, getenv, file)
	if extra != nil {
		extra(fs)
	}
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printRunUsage(out, usage, flags, fs)
			return c, nil, true, nil
		}
		return c, nil, false, usageError{fmt.Errorf("%s: %w (see unpair %s --help)", cmd, err, cmd)}
	}
	val := map[string]string{}
	for _, f := range flags {
		val[f.name] = fs.Lookup(f.name).Value.String()
		if f.secret && val[f.name] == "" {
			val[f.name] = getenv(f.env)
		}
		if f.secret && val[f.name] == "" {
			val[f.name] = file[f.name]
		}
	}
	envOf := map[string]string{}
	for _, f := range flags {
		envOf[f.name] = f.env
	}
	var errs []error
	dur := func(name string, p *time.Duration) {
		v, err := time.ParseDuration(val[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s (%s): %q is not a duration like 250ms or 10s", name, envOf[name], val[name]))
			return
		}
		*p = v
	}
	num := func(name string, p *int) {
		v, err := strconv.Atoi(val[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s (%s): %q is not a whole number", name, envOf[name], val[name]))
			return
		}
		*p = v
	}
	boolean := func(name string, p *bool) {
		v, err := strconv.ParseBool(val[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s (%s): %q is not true or false", name, envOf[name], val[name]))
			return
		}
		*p = v
	}
	c.Brokers = pipeline.SplitList(val["brokers"])
	c.Redis = pipeline.SplitList(val["redis"])
	c.Group = val["group"]
	c.InputTopic = val["input-topic"]
	c.ByLearnerTopic = val["by-learner-topic"]
	c.DeadLetterTopic = val["dlq-topic"]
	c.DecisionTopic = val["decision-topic"]
	c.CatalogTopic = strings.TrimSpace(val["catalog-topic"])
	c.CatalogFile = val["catalog"]
	c.HTTPAddr = val["http-addr"]
	c.LearnerSecret = val["learner-secret"]
	c.APIToken = val["api-token"]
	c.RedisPrefix = val["redis-prefix"]
	c.LogFormat = val["log-format"]
	c.RedisUsername = val["redis-username"]
	c.RedisPassword = val["redis-password"]
	c.RedisTLS = pipeline.TLSFiles{CAFile: val["redis-tls-ca"], CertFile: val["redis-tls-cert"], KeyFile: val["redis-tls-key"]}
	c.KafkaSASL = pipeline.SASL{Mechanism: val["kafka-sasl-mechanism"], Username: val["kafka-sasl-username"], Password: val["kafka-sasl-password"]}
	c.KafkaTLS = pipeline.TLSFiles{CAFile: val["kafka-tls-ca"], CertFile: val["kafka-tls-cert"], KeyFile: val["kafka-tls-key"]}
	boolean("redis-cluster", &c.RedisCluster)
	boolean("redis-tls", &c.RedisTLS.Enabled)
	boolean("redis-tls-insecure-skip-verify", &c.RedisTLS.InsecureSkipVerify)
	boolean("kafka-tls", &c.KafkaTLS.Enabled)
	boolean("kafka-tls-insecure-skip-verify", &c.KafkaTLS.InsecureSkipVerify)
	boolean("rekey", &c.Rekey)
	boolean("pprof", &c.Pprof)
	boolean("create-topics", &c.CreateTopics)
	num("replication-factor", &c.ReplicationFactor)
	num("shards", &c.Shards)
	num("flush-size", &c.FlushSize)
	num("max-in-flight", &c.MaxInFlight)
	dur("flush-interval", &c.FlushInterval)
	dur("flush-timeout", &c.FlushTimeout)
	dur("shutdown-timeout", &c.ShutdownTimeout)
	dur("sweep-interval", &c.SweepInterval)
	dur("fetch-max-wait", &c.FetchMaxWait)
	dur("session-timeout", &c.SessionTimeout)
	dur("heartbeat-interval", &c.HeartbeatInterval)
	dur("rebalance-timeout", &c.RebalanceTimeout)
	dur("retry-min", &c.RetryMin)
	dur("retry-max", &c.RetryMax)
	if len(errs) > 0 {
		return c, nil, false, usageError{fmt.Errorf("%s: %w", cmd, errors.Join(errs...))}
	}
	c.WithDefaults()
	if err := c.Validate(); err != nil {
		return c, nil, false, usageError{fmt.Errorf("%s: %w", cmd, err)}
	}
	return c, fs.Args(), false, nil
}

// printRunUsage documents every setting in the order of runFlags, then the
// command's own flags.
func printRunUsage(w io.Writer, usage string, flags []runFlag, fs *flag.FlagSet) {
	fmt.Fprint(w, usage)
	own := map[string]bool{}
	for _, f := range flags {
		own[f.name] = true
	}
	fs.VisitAll(func(f *flag.Flag) {
		if !own[f.Name] {
			fmt.Fprintf(w, "  --%s (default %q)\n      %s\n", f.Name, f.DefValue, f.Usage)
		}
	})
	for _, f := range flags {
		def := ""
		switch {
		case f.def != "":
			def = ", default " + f.def
		case f.secret:
			def = ", secret: not shown"
		}
		fmt.Fprintf(w, "  --%s (%s%s)\n      %s\n", f.name, f.env, def, f.help)
	}
}

// newLogger returns the process logger: JSON lines (production) or
// console text (development). Logs name learners by learner key only. A
// sampler keeps a message repeated on a hot path from flooding the log:
// per message and level, the first 10 each second are written, then one in
// 100; the stages rate-limit their own per-statement warnings besides.
func newLogger(format string, w io.Writer) *zap.Logger {
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	enc := zapcore.NewJSONEncoder(ec)
	if format == "console" {
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	}
	core := zapcore.NewCore(enc, zapcore.AddSync(w), zap.InfoLevel)
	return zap.New(zapcore.NewSamplerWithOptions(core, time.Second, 10, 100))
}

// forceExit ends the process on a second signal; a variable for tests.
var forceExit = func() { os.Exit(1) }

func runRun(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, help, err := parseRunConfig(args, os.Getenv, stdout)
	if help {
		return 0
	}
	if err != nil {
		return fail(stderr, 2, err)
	}
	log := newLogger(cfg.LogFormat, stderr)
	defer log.Sync()
	redis.SetLogger(pipeline.RedisLogger(log))

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	hard, forced := context.WithCancel(context.Background())
	defer forced()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	go func() {
		s := <-sigs
		log.Info("stopping: final flush and commit; a second signal exits at once", zap.String("signal", s.String()))
		stop()
		s = <-sigs
		log.Warn("second signal: exiting without the final flush; uncommitted statements are replayed on restart", zap.String("signal", s.String()))
		forced()
		forceExit()
	}()

	b, err := pipeline.Build(cfg, log)
	if err != nil {
		return fail(stderr, 1, err)
	}
	defer b.Close()
	p, err := pipeline.New(cfg, b.Deps)
	if err != nil {
		return fail(stderr, 1, err)
	}
	log.Info("unpair run starting", zap.Strings("brokers", cfg.Brokers), zap.String("input", cfg.InputTopic),
		zap.Bool("rekey", cfg.Rekey), zap.String("group", cfg.Group), zap.String("http", cfg.HTTPAddr))
	if err := p.Run(ctx, hard); err != nil {
		return fail(stderr, 1, err)
	}
	log.Info("unpair run stopped")
	return 0
}
