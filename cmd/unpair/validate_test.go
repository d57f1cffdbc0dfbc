package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := dispatch(append([]string{"validate"}, args...), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestValidateCommand(t *testing.T) {
	vec := "../../../shared/xapi-vectors/"
	real := "../../../shared/xapi-real/"
	dir := t.TempDir()
	ndjson := filepath.Join(dir, "mixed.ndjson")
	good := `{"actor":{"mbox":"mailto:a@b.c"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"http://x.y/1"}}`
	bad := `{"actor":{"mbox":"mailto:a@b.c"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"http://x.y/1"},"result":{"score":{"scaled":1.5}}}`
	if err := os.WriteFile(ndjson, []byte(good+"\n"+bad+"\n\n"+good+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		stdin    string
		args     []string
		code     int
		outHas   []string
		outLines int
	}{
		{"valid file", "", []string{vec + "valid/result-full.json"}, 0, nil, 0},
		{"valid batch strict", "", []string{vec + "valid/batch-two-statements.json"}, 0, nil, 0},
		{"invalid file", "", []string{vec + "invalid/result-score-scaled-above-1.json"}, 1,
			[]string{"result-score-scaled-above-1.json:1: statement 0: result.score.scaled: must be within [-1, 1], got 1.01"}, 1},
		{"ndjson line numbers", "", []string{ndjson}, 1, []string{"mixed.ndjson:2: statement 1: result.score.scaled: must be within [-1, 1], got 1.5"}, 1},
		{"stdin", good, nil, 0, nil, 0},
		{"stdin invalid json", `{"actor":`, nil, 1, []string{"<stdin>:1: statement 0: cannot split the input"}, 1},
		{"duplicate key", "", []string{vec + "invalid/statement-duplicate-actor-key.json"}, 1, []string{"actor: duplicate key"}, 1},
		{"strict rejects real deviation", "", []string{"--strict", real + "openedx-problem-submitted-max-zero.json"}, 1, []string{"result.score.min: must be less than max"}, 1},
		{"tolerant is the default", "", []string{real + "openedx-problem-submitted-max-zero.json"}, 0,
			[]string{"[score_min_equals_max]"}, 1},
		{"tolerant prints deviation", "", []string{"--tolerant", real + "openedx-problem-submitted-max-zero.json"}, 0,
			[]string{"accepted with deviations: result.score.min: must be less than max, got min == max == 0 [score_min_equals_max]"}, 1},
		{"several files", "", []string{"--strict", vec + "valid/result-full.json", vec + "invalid/result-unknown-property.json"}, 1, []string{"result.grade: unknown property"}, 1},
		{"spec 1.0.3", "", []string{"--strict", "--spec", "1.0.3", vec + "invalid/v103-version-2.0.0.json"}, 1, []string{"version: must start with"}, 1},
		{"ingestion limit", strings.Replace(good, "http://x.y/1", "http://x.y/"+strings.Repeat("a", 2100), 1), nil, 1,
			[]string{"<stdin>:1: statement 0: refused on ingestion (id_too_long): "}, 1},
	}
	for _, c := range cases {
		code, out, errOut := runCLI(t, c.stdin, c.args...)
		if code != c.code {
			t.Errorf("%s: exit %d, want %d; stdout %q stderr %q", c.name, code, c.code, out, errOut)
		}
		for _, s := range c.outHas {
			if !strings.Contains(out, s) {
				t.Errorf("%s: stdout %q lacks %q", c.name, out, s)
			}
		}
		if n := strings.Count(out, "\n"); n != c.outLines {
			t.Errorf("%s: %d output lines, want %d: %q", c.name, n, c.outLines, out)
		}
	}
}

func TestValidateUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--bogus"},
		{"--strict", "--tolerant"},
		{"--spec", "3.0"},
		{filepath.Join(t.TempDir(), "missing.json")},
	} {
		code, out, errOut := runCLI(t, "", args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "unpair: validate: ") {
			t.Errorf("%v: exit %d stdout %q stderr %q; want 2 and one line of cause", args, code, out, errOut)
		}
	}
}
