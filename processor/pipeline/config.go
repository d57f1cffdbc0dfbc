package pipeline

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is every setting of `unpair run`. Zero values mean "use the
// default"; call WithDefaults before Validate (New does both).
type Config struct {
	Brokers []string // Kafka bootstrap addresses
	Redis   []string // Redis addresses; more than one means Redis Cluster

	// RedisCluster uses the Redis Cluster client even with one (seed)
	// address; more than one address always does.
	RedisCluster  bool
	RedisUsername string   // Redis ACL user; "" is the default user
	RedisPassword string   // password of RedisUsername (or of requirepass)
	RedisTLS      TLSFiles // TLS to Redis

	KafkaSASL SASL     // SASL authentication of every Kafka connection
	KafkaTLS  TLSFiles // TLS of every Kafka connection

	Group           string // consumer group of the aggregating stage; the re-key stage uses Group+".rekey"
	InputTopic      string // xAPI statements as producers send them
	ByLearnerTopic  string // internal re-keyed topic (used when Rekey)
	DeadLetterTopic string
	DecisionTopic   string
	CatalogTopic    string // compacted catalog topic; "" disables following it
	CatalogFile     string // catalog file loaded at start (optional)

	// Rekey routes statements through ByLearnerTopic keyed by learner key,
	// so each learner has exactly one owner whatever the producers' keys.
	// When false, the input must already be keyed by learner key, and
	// statements whose key is not are counted and warned about.
	Rekey bool
	// CreateTopics creates missing topics (by-learner with the input's
	// partition count; dead letters, decisions, catalog) at start.
	CreateTopics bool
	// ReplicationFactor of topics created by the processor.
	ReplicationFactor int

	RedisPrefix   string        // first component of every Redis key; "" means "unpair"
	Shards        int           // aggregator shards; 0 means GOMAXPROCS
	SweepInterval time.Duration // how often time-bound suppressions are re-evaluated (review due, feedback expiry); negative disables
	APIToken      string        // bearer token of the query API; "" means no authentication
	Pprof         bool          // serve net/http/pprof at /debug/pprof/ on HTTPAddr

	HTTPAddr      string // metrics, health and query API; "" disables the server
	LearnerSecret string // HMAC secret of learner keys
	LogFormat     string // json or console

	FlushInterval   time.Duration // time between flushes to Redis
	FlushSize       int           // flush early once this many messages (with rekey on: statements) await a flush
	MaxInFlight     int           // messages (with rekey on: statements) fetched but not yet durable; fetching stops at this bound
	FlushTimeout    time.Duration // deadline of the final flush on revoke or shutdown
	ShutdownTimeout time.Duration // deadline of the whole orderly stop
	FetchMaxWait    time.Duration // longest a fetch waits for new data
	RetryMin        time.Duration // first backoff after a failed Redis write or produce
	RetryMax        time.Duration // backoff ceiling

	SessionTimeout    time.Duration // consumer group session timeout
	HeartbeatInterval time.Duration // consumer group heartbeat
	// RebalanceTimeout is how long the group coordinator waits for members
	// to rejoin a rebalance; a member rejoins after its final flush, so
	// FlushTimeout + HeartbeatInterval + RebalanceMargin must not exceed it
	// (Validate).
	RebalanceTimeout time.Duration
}

// Defaults of every setting that has one.
const (
	DefaultGroup           = "unpair"
	DefaultInputTopic      = "xapi.statements"
	DefaultByLearnerTopic  = "unpair.by-learner"
	DefaultDeadLetterTopic = "unpair.dlq"
	DefaultDecisionTopic   = "unpair.decisions"
	DefaultCatalogTopic    = "unpair.catalog"
	DefaultHTTPAddr        = ":8080"
	DefaultFlushInterval   = 250 * time.Millisecond
	DefaultSweepInterval   = time.Minute
	DefaultFlushSize       = 5000
	DefaultMaxInFlight     = 50000
	DefaultFlushTimeout    = 10 * time.Second
	DefaultShutdownTimeout = 30 * time.Second
	DefaultFetchMaxWait    = 250 * time.Millisecond
	DefaultRetryMin        = 50 * time.Millisecond
	DefaultRetryMax        = 5 * time.Second
	DefaultSessionTimeout  = 10 * time.Second
	DefaultHeartbeat       = time.Second
	DefaultRebalance       = 30 * time.Second
)

// RebalanceMargin is the least time RebalanceTimeout leaves a member after
// its final flush (FlushTimeout) and a heartbeat to rejoin the group.
const RebalanceMargin = time.Second

// DefaultConfig returns a Config with every default filled in and no
// brokers or Redis addresses.
func DefaultConfig() Config {
	c := Config{Rekey: true, CreateTopics: true}
	c.WithDefaults()
	return c
}

// WithDefaults fills zero-valued settings with their defaults.
func (c *Config) WithDefaults() {
	def := func(s *string, v string) {
		if strings.TrimSpace(*s) == "" {
			*s = v
		}
	}
	defD := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Group, DefaultGroup)
	def(&c.InputTopic, DefaultInputTopic)
	def(&c.ByLearnerTopic, DefaultByLearnerTopic)
	def(&c.DeadLetterTopic, DefaultDeadLetterTopic)
	def(&c.DecisionTopic, DefaultDecisionTopic)
	def(&c.LogFormat, "json")
	defD(&c.FlushInterval, DefaultFlushInterval)
	defD(&c.SweepInterval, DefaultSweepInterval)
	defD(&c.FlushTimeout, DefaultFlushTimeout)
	defD(&c.ShutdownTimeout, DefaultShutdownTimeout)
	defD(&c.FetchMaxWait, DefaultFetchMaxWait)
	defD(&c.RetryMin, DefaultRetryMin)
	defD(&c.RetryMax, DefaultRetryMax)
	defD(&c.SessionTimeout, DefaultSessionTimeout)
	defD(&c.HeartbeatInterval, DefaultHeartbeat)
	defD(&c.RebalanceTimeout, DefaultRebalance)
	if c.FlushSize == 0 {
		c.FlushSize = DefaultFlushSize
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = 1
	}
}

// Validate reports every bad setting, each naming the setting and the rule.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(c.Brokers) == 0 {
		bad("brokers: at least one Kafka address is required (UNPAIR_BROKERS)")
	}
	for _, b := range c.Brokers {
		if !strings.Contains(b, ":") {
			bad("brokers: %q must be host:port", b)
		}
	}
	if len(c.Redis) == 0 {
		bad("redis: at least one Redis address is required (UNPAIR_REDIS)")
	}
	for _, r := range c.Redis {
		if !strings.Contains(r, ":") {
			bad("redis: %q must be host:port", r)
		}
	}
	topics := map[string]string{
		"group": c.Group, "input-topic": c.InputTopic, "dlq-topic": c.DeadLetterTopic,
		"decision-topic": c.DecisionTopic,
	}
	if c.Rekey {
		topics["by-learner-topic"] = c.ByLearnerTopic
	}
	for name, v := range topics {
		if strings.TrimSpace(v) == "" {
			bad("%s: must not be empty", name)
		} else if strings.ContainsAny(v, " \t\n/\\") {
			bad("%s: %q must not contain spaces or slashes", name, v)
		}
	}
	if c.Rekey && c.ByLearnerTopic == c.InputTopic {
		bad("by-learner-topic: must differ from input-topic %q when rekey is on", c.InputTopic)
	}
	if c.DeadLetterTopic == c.InputTopic || c.DecisionTopic == c.InputTopic {
		bad("dlq-topic, decision-topic: must differ from input-topic %q", c.InputTopic)
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		bad("log-format: %q must be json or console", c.LogFormat)
	}
	pos := func(name string, d time.Duration) {
		if d <= 0 {
			bad("%s: %v must be positive", name, d)
		}
	}
	pos("flush-interval", c.FlushInterval)
	pos("flush-timeout", c.FlushTimeout)
	pos("shutdown-timeout", c.ShutdownTimeout)
	pos("fetch-max-wait", c.FetchMaxWait)
	pos("retry-min", c.RetryMin)
	pos("retry-max", c.RetryMax)
	pos("session-timeout", c.SessionTimeout)
	pos("heartbeat-interval", c.HeartbeatInterval)
	pos("rebalance-timeout", c.RebalanceTimeout)
	if c.RetryMax < c.RetryMin {
		bad("retry-max: %v must be at least retry-min %v", c.RetryMax, c.RetryMin)
	}
	if c.HeartbeatInterval >= c.SessionTimeout {
		bad("heartbeat-interval: %v must be below session-timeout %v", c.HeartbeatInterval, c.SessionTimeout)
	}
	if c.FlushSize < 1 {
		bad("flush-size: %d must be at least 1", c.FlushSize)
	}
	if c.MaxInFlight < c.FlushSize {
		bad("max-in-flight: %d must be at least flush-size %d", c.MaxInFlight, c.FlushSize)
	}
	if c.Shards < 0 || c.Shards > 4096 {
		bad("shards: %d must be between 0 (GOMAXPROCS) and 4096", c.Shards)
	}
	if strings.ContainsAny(c.RedisPrefix, "{} \t\n") {
		bad("redis-prefix: %q must not contain braces or whitespace", c.RedisPrefix)
	}
	if c.ReplicationFactor < 1 {
		bad("replication-factor: %d must be at least 1", c.ReplicationFactor)
	}
	// A member rejoins a rebalance only after its final flush: one still
	// flushing when the coordinator gives up on it (RebalanceTimeout) would
	// write learners the next owner already reads, two writers for a time.
	// The margin covers dropping the revoked learners and the join request.
	if c.FlushTimeout+c.HeartbeatInterval+RebalanceMargin > c.RebalanceTimeout {
		bad("flush-timeout: %v plus heartbeat-interval %v plus %v must not exceed rebalance-timeout %v, so a final flush ends before the group moves on",
			c.FlushTimeout, c.HeartbeatInterval, RebalanceMargin, c.RebalanceTimeout)
	}
	if c.FlushTimeout > c.ShutdownTimeout {
		bad("flush-timeout: %v must not exceed shutdown-timeout %v", c.FlushTimeout, c.ShutdownTimeout)
	}
	errs = append(errs, c.KafkaSASL.validate("kafka-sasl"))
	errs = append(errs, c.KafkaTLS.validate("kafka-tls"))
	errs = append(errs, c.RedisTLS.validate("redis-tls"))
	if c.RedisUsername != "" && c.RedisPassword == "" {
		bad("redis-password: required when redis-username %q is set (UNPAIR_REDIS_PASSWORD)", c.RedisUsername)
	}
	return errors.Join(errs...)
}

// SplitList splits a comma-separated list, dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ReadSettingsFile reads a YAML file of settings: one top-level mapping
// from setting names (the flag names of `unpair run`, e.g. flush-interval)
// to scalars, or to lists of scalars for list settings (brokers, redis),
// which come back comma-joined. A key not in known, a repeated key or a
// nested mapping is an error naming the key and its line.
func ReadSettingsFile(path string, known []string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseSettings(path, raw, known)
}

// ParseSettings is ReadSettingsFile on the bytes of a file named name.
func ParseSettings(name string, raw []byte, known []string) (map[string]string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("config %s: not YAML: %w", name, err)
	}
	out := map[string]string{}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return out, nil // empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config %s: line %d: must be a mapping of setting: value", name, root.Line)
	}
	ok := make(map[string]bool, len(known))
	for _, k := range known {
		ok[k] = true
	}
	var errs []error
	line := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		key := k.Value
		switch {
		case !ok[key]:
			errs = append(errs, fmt.Errorf("config %s: line %d: unknown setting %q (settings are the flag names of unpair run --help)", name, k.Line, key))
			continue
		case line[key] > 0:
			errs = append(errs, fmt.Errorf("config %s: line %d: setting %q given twice (first on line %d)", name, k.Line, key, line[key]))
			continue
		}
		line[key] = k.Line
		switch v.Kind {
		case yaml.ScalarNode:
			if v.Tag == "!!null" {
				out[key] = ""
			} else {
				out[key] = v.Value
			}
		case yaml.SequenceNode:
			items := make([]string, 0, len(v.Content))
			for _, it := range v.Content {
				if it.Kind != yaml.ScalarNode {
					errs = append(errs, fmt.Errorf("config %s: line %d: setting %q: list items must be plain values", name, it.Line, key))
					break
				}
				items = append(items, it.Value)
			}
			out[key] = strings.Join(items, ",")
		default:
			errs = append(errs, fmt.Errorf("config %s: line %d: setting %q must be a value or a list of values", name, v.Line, key))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
