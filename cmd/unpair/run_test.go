package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

func TestRunConfigFlagsEnvDefaults(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	base := []string{"UNPAIR_BROKERS", "k1:9092,k2:9092", "UNPAIR_REDIS", "r:6379"}

	c, help, err := parseRunConfig(nil, env(base...), &bytes.Buffer{})
	if err != nil || help {
		t.Fatalf("defaults: help=%v err=%v", help, err)
	}
	if len(c.Brokers) != 2 || c.Group != "unpair" || c.InputTopic != "xapi.statements" || !c.Rekey ||
		c.HTTPAddr != ":8080" || c.FlushInterval != 250*time.Millisecond || c.CatalogTopic != "unpair.catalog" ||
		c.ByLearnerTopic != "unpair.by-learner" || c.DeadLetterTopic != "unpair.dlq" || c.DecisionTopic != "unpair.decisions" {
		t.Errorf("defaults not applied: %+v", c)
	}

	// the environment overrides defaults, flags override the environment
	e := env(append(base, "UNPAIR_GROUP", "fromenv", "UNPAIR_REKEY", "false", "UNPAIR_LOG_FORMAT", "console",
		"UNPAIR_LEARNER_SECRET", "s3cret", "UNPAIR_INPUT_TOPIC", "in")...)
	c, _, err = parseRunConfig([]string{"--group", "fromflag", "--flush-interval", "1s"}, e, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Group != "fromflag" || c.Rekey || c.LogFormat != "console" || c.LearnerSecret != "s3cret" ||
		c.InputTopic != "in" || c.FlushInterval != time.Second {
		t.Errorf("precedence wrong: %+v", c)
	}
	c, _, err = parseRunConfig([]string{"--rekey=false"}, env(base...), &bytes.Buffer{})
	if err != nil || c.Rekey {
		t.Errorf("--rekey=false: rekey=%v err=%v", c.Rekey, err)
	}
	c, _, err = parseRunConfig([]string{"--rekey"}, env(append(base, "UNPAIR_REKEY", "false")...), &bytes.Buffer{})
	if err != nil || !c.Rekey {
		t.Errorf("--rekey alone: rekey=%v err=%v", c.Rekey, err)
	}

	bad := func(args []string, e func(string) string, want string) {
		t.Helper()
		_, _, err := parseRunConfig(args, e, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: error %v, want one naming %q", args, err, want)
		}
		if _, ok := err.(usageError); !ok {
			t.Errorf("%v: error %T is not a usage error", args, err)
		}
	}
	bad(nil, env(), "UNPAIR_BROKERS")
	bad([]string{"--flush-interval", "soon"}, env(base...), "--flush-interval (UNPAIR_FLUSH_INTERVAL)")
	bad([]string{"--shards", "x"}, env(base...), "--shards (UNPAIR_SHARDS)")
	bad([]string{"--rekey=maybe"}, env(base...), "--rekey (UNPAIR_REKEY)")
	bad([]string{"--log-format", "xml"}, env(base...), "log-format")
	bad([]string{"--no-such-flag"}, env(base...), "no-such-flag")
	bad([]string{"extra"}, env(base...), "unexpected argument")
}

func TestRunHelpDocumentsEverySetting(t *testing.T) {
	var out bytes.Buffer
	_, help, err := parseRunConfig([]string{"--help"}, func(k string) string {
		if k == "UNPAIR_LEARNER_SECRET" {
			return "do-not-print-me"
		}
		return ""
	}, &out)
	if err != nil || !help {
		t.Fatalf("--help: help=%v err=%v", help, err)
	}
	text := out.String()
	for _, f := range runFlags(nilFlagSet(), func(string) string { return "" }, nil) {
		if !strings.Contains(text, "--"+f.name+" ("+f.env) {
			t.Errorf("--help does not document --%s (%s)", f.name, f.env)
		}
	}
	for _, env := range []string{"UNPAIR_BROKERS", "UNPAIR_REDIS", "UNPAIR_GROUP", "UNPAIR_INPUT_TOPIC", "UNPAIR_HTTP_ADDR",
		"UNPAIR_LEARNER_SECRET", "UNPAIR_REKEY", "UNPAIR_LOG_FORMAT"} {
		if !strings.Contains(text, env) {
			t.Errorf("--help does not name %s", env)
		}
	}
	if strings.Contains(text, "do-not-print-me") {
		t.Error("--help prints the learner secret from the environment")
	}
}

func TestRunCommandUsageErrorExitStatus(t *testing.T) {
	t.Setenv("UNPAIR_BROKERS", "")
	t.Setenv("UNPAIR_REDIS", "")
	var out, errb bytes.Buffer
	if code := dispatch([]string{"run"}, nil, &out, &errb); code != 2 {
		t.Errorf("unpair run without brokers: exit %d, want 2 (stderr %q)", code, errb.String())
	}
	if !strings.Contains(errb.String(), "brokers") {
		t.Errorf("stderr %q does not name the missing setting", errb.String())
	}
	out.Reset()
	if code := dispatch([]string{"run", "--help"}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "usage: unpair run") {
		t.Errorf("unpair run --help: exit %d, output %q", code, out.String())
	}
}

func TestRunConfigFilePrecedenceAndUnknownKeys(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		t.Helper()
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", `
brokers: [k1:9092, k2:9092]
redis: r1:6379,r2:6379
group: fromfile
input-topic: file-in
flush-interval: 2s
rekey: false
learner-secret: file-secret
redis-username: unpair
redis-password: file-pw
kafka-sasl-mechanism: SCRAM-SHA-512
kafka-sasl-username: u
kafka-sasl-password: file-kafka-pw
`)
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	// file over defaults
	c, _, err := parseRunConfig([]string{"--config", good}, env(), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Brokers) != 2 || len(c.Redis) != 2 || c.Group != "fromfile" || c.InputTopic != "file-in" ||
		c.FlushInterval != 2*time.Second || c.Rekey || c.LearnerSecret != "file-secret" || c.RedisPassword != "file-pw" ||
		c.KafkaSASL.Mechanism != "SCRAM-SHA-512" || c.KafkaSASL.Password != "file-kafka-pw" || c.DecisionTopic != "unpair.decisions" {
		t.Errorf("file not applied: %+v", c)
	}
	// env over file (UNPAIR_CONFIG names the file), flag over env
	c, _, err = parseRunConfig([]string{"--input-topic=flag-in"}, env("UNPAIR_CONFIG", good, "UNPAIR_GROUP", "fromenv",
		"UNPAIR_INPUT_TOPIC", "env-in", "UNPAIR_LEARNER_SECRET", "env-secret"), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Group != "fromenv" || c.InputTopic != "flag-in" || c.LearnerSecret != "env-secret" || c.FlushInterval != 2*time.Second {
		t.Errorf("precedence flag > env > file wrong: group %q input %q secret %q flush %v", c.Group, c.InputTopic, c.LearnerSecret, c.FlushInterval)
	}

	bad := func(text, want string) {
		t.Helper()
		p := write("bad.yaml", text)
		_, _, err := parseRunConfig([]string{"--config=" + p}, env(), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config %q: error %v, want one naming %q", text, err, want)
		}
	}
	bad("brokers: k:9092\nredis: r:6379\nflush-intreval: 1s\n", `unknown setting "flush-intreval"`)
	bad("brokers: k:9092\nredis: r:6379\nbrokers: j:9092\n", `"brokers" given twice`)
	bad("brokers: {a: b}\nredis: r:6379\n", `"brokers" must be a value or a list`)
	bad("- a\n- b\n", "must be a mapping")
	bad("brokers: k:9092\nredis: r:6379\nflush-interval: soon\n", "--flush-interval (UNPAIR_FLUSH_INTERVAL)")
	bad("brokers: k:9092\nredis: r:6379\nkafka-sasl-mechanism: GSSAPI\nkafka-sasl-username: u\nkafka-sasl-password: p\n", "kafka-sasl-mechanism")
	bad("brokers: k:9092\nredis: r:6379\nredis-username: u\n", "redis-password")
	bad("brokers: k:9092\nredis: r:6379\nredis-tls-cert: /no/such.pem\n", "redis-tls-cert")
	_, _, err = parseRunConfig([]string{"--config", dir + "/missing.yaml"}, env(), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "--config (UNPAIR_CONFIG)") {
		t.Errorf("missing file: %v", err)
	}
}

func TestRunLoggerSamplesRepeatedWarnings(t *testing.T) {
	for _, format := range []string{"json", "console"} {
		var buf bytes.Buffer
		log := newLogger(format, &buf)
		for range 1000 {
			log.Warn("same warning on a hot path")
		}
		log.Warn("another warning")
		log.Sync()
		n := strings.Count(buf.String(), "same warning on a hot path")
		if n < 10 || n > 30 {
			t.Errorf("%s: a warning repeated 1000 times in a second was written %d times, want 10 to 30", format, n)
		}
		if !strings.Contains(buf.String(), "another warning") {
			t.Errorf("%s: a different message was sampled away", format)
		}
		if format == "json" && !strings.HasPrefix(buf.String(), "{") {
			t.Errorf("json format writes %q", buf.String()[:min(40, buf.Len())])
		}
	}
}
