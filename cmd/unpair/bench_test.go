package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestBenchFlags(t *testing.T) {
	env := map[string]string{"UNPAIR_BROKERS": "k1:9092,k2:9092", "UNPAIR_REDIS": "r:6379", "UNPAIR_KAFKA_VERSION": "4.4.0", "UNPAIR_LEARNER_SECRET": "s3cret"}
	getenv := func(k string) string { return env[k] }
	o, help, err := benchConfig([]string{"--statements", "1234", "--partitions", "4", "--learners", "50", "--contents", "400",
		"--zipf", "1.5", "--freshness", "0", "--rekey-row=false", "--record", "", "--log", "console"}, getenv, &bytes.Buffer{})
	if err != nil || help {
		t.Fatalf("help %v, err %v", help, err)
	}
	c := o.cfg
	if len(c.Brokers) != 2 || c.Redis[0] != "r:6379" || c.Statements != 1234 || c.Partitions != 4 || c.Learners != 50 ||
		c.Contents != 400 || c.Skills != 20 || c.ZipfS != 1.5 || c.Freshness != 0 || c.RekeyRow || c.KafkaVersion != "4.4.0" ||
		c.Secret != "s3cret" || o.record != "" || o.logFormat != "console" {
		t.Errorf("parsed %+v, record %q, log %q", c, o.record, o.logFormat)
	}
	o, _, err = benchConfig([]string{"--brokers", "b:1", "--redis", "r:2"}, func(string) string { return "" }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c := o.cfg; c.Statements != 300000 || c.Partitions != 6 || !c.RekeyRow || c.Freshness != 20*time.Second || o.record != "docs/benchmarks/e2e.md" {
		t.Errorf("defaults: %+v, record %q", c, o.record)
	}
}

func TestBenchUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no servers", nil, "brokers: at least one Kafka address is required"},
		{"bad zipf", []string{"--brokers", "b:1", "--redis", "r:1", "--zipf", "1"}, "zipf must be in (1, 10]"},
		{"bad number", []string{"--brokers", "b:1", "--redis", "r:1", "--statements", "many"}, `invalid value "many" for flag -statements`},
		{"bad log", []string{"--brokers", "b:1", "--redis", "r:1", "--log", "xml"}, `--log: "xml" must be json or console`},
		{"argument", []string{"--brokers", "b:1", "--redis", "r:1", "extra"}, `unexpected argument "extra"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("UNPAIR_BROKERS", "")
			t.Setenv("UNPAIR_REDIS", "")
			var out, errb bytes.Buffer
			code := dispatch(append([]string{"bench"}, tc.args...), strings.NewReader(""), &out, &errb)
			if code != 2 || !strings.Contains(errb.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errb.String(), tc.want)
			}
		})
	}
}

func TestBenchHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := dispatch([]string{"bench", "--help"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"usage: unpair bench", "-statements", "-partitions", "-learners", "-contents", "-zipf", "-record", "-freshness"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"--statements": "--statements", "300000": "300000", "a b": `"a b"`, "": `""`} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
