package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestForgetCommandUsageErrors(t *testing.T) {
	t.Setenv("UNPAIR_BROKERS", "127.0.0.1:1")
	t.Setenv("UNPAIR_REDIS", "127.0.0.1:1")
	t.Setenv("UNPAIR_LEARNER_SECRET", "s")
	f := func(want string, args ...string) {
		t.Helper()
		var out, errb bytes.Buffer
		if code := dispatch(append([]string{"forget"}, args...), nil, &out, &errb); code != 2 {
			t.Errorf("forget %v: exit %d, want 2 (stderr %q)", args, code, errb.String())
		}
		if !strings.Contains(errb.String(), want) {
			t.Errorf("forget %v: stderr %q does not name %q", args, errb.String(), want)
		}
	}
	f("exactly one LEARNER")
	f("exactly one LEARNER", "a", "b")
	f("neither an actor JSON", "not a key!")
	f("partitioner", "--rekey=false", "--partitioner", "crc32", "mailto:a@example.com")
	f("no-such", "--no-such", "x")
	var out bytes.Buffer
	if code := dispatch([]string{"forget", "--help"}, nil, &out, &out); code != 0 || !strings.Contains(out.String(), "--partitioner") || !strings.Contains(out.String(), "--brokers") {
		t.Errorf("forget --help: exit %d, %q", code, out.String())
	}
}
