package main

import (
	"bytes"
	"flag"
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
	for _, f := range runFlags(nilFlagSet(), func(string) string { return "" }) {
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

// nilFlagSet is a throwaway flag set, for listing the settings.
func nilFlagSet() *flag.FlagSet { return flag.NewFlagSet("run", flag.ContinueOnError) }
