package schema

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const vectorsDir = "../../shared/xapi-vectors"

func vectorFiles(t *testing.T, sub string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(vectorsDir, sub, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors under %s/%s (err %v): the shared test data is required", vectorsDir, sub, err)
	}
	return files
}

// specFor picks the version rules a vector is written for (see INDEX.md:
// v103- files hold only under 1.0.3; v2- files set version 2.0.0 themselves).
func specFor(file string) SpecVersion {
	if strings.HasPrefix(filepath.Base(file), "v103-") {
		return Spec103
	}
	return SpecAuto
}

func fatal(vs []Violation) []Violation {
	var out []Violation
	for _, v := range vs {
		if v.Fatal() {
			out = append(out, v)
		}
	}
	return out
}

func TestValidVectorsAccepted(t *testing.T) {
	files := vectorFiles(t, "valid")
	if len(files) != 116 {
		t.Errorf("found %d valid vectors, INDEX.md lists 116", len(files))
	}
	for _, mode := range []Mode{Strict, Tolerant} {
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			d := NewDecoder(Options{Mode: mode, Spec: specFor(f)})
			if vs := fatal(d.Validate(raw)); len(vs) > 0 {
				t.Errorf("%s mode: %s rejected: %v", mode, filepath.Base(f), vs)
			}
		}
	}
}

func TestInvalidVectorsRejected(t *testing.T) {
	files := vectorFiles(t, "invalid")
	if len(files) != 254 {
		t.Errorf("found %d invalid vectors, INDEX.md lists 254", len(files))
	}
	// Documents with no field to name: the statement itself is wrong.
	wholeDoc := map[string]bool{"statement-is-json-string.json": true, "statement-is-null.json": true}
	d := NewDecoder(Options{Mode: Strict})
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dd := d
		if specFor(f) != SpecAuto {
			dd = NewDecoder(Options{Mode: Strict, Spec: specFor(f)})
		}
		vs := fatal(dd.Validate(raw))
		name := filepath.Base(f)
		if len(vs) == 0 {
			t.Errorf("%s accepted, want rejected", name)
			continue
		}
		if !wholeDoc[name] && vs[0].Path == "" {
			t.Errorf("%s: first violation %q names no field", name, vs[0])
		}
		for _, v := range vs {
			if v.Rule == "" {
				t.Errorf("%s: violation at %q has no rule", name, v.Path)
			}
		}
	}
}

// TestInvalidVectorPaths pins the path reported for a sample of vectors, so
// a regression that rejects for the wrong reason shows up.
func TestInvalidVectorPaths(t *testing.T) {
	cases := map[string]string{
		"statement-duplicate-actor-key.json":          "actor",
		"statement-key-wrong-case-actor.json":         "Actor",
		"result-score-scaled-above-1.json":            "result.score.scaled",
		"result-score-min-equals-max.json":            "result.score.min",
		"actor-agent-two-ifis-mbox-account.json":      "actor",
		"actor-mbox-sha1sum-not-40-hex.json":          "actor.mbox_sha1sum",
		"verb-display-two-region-subtags.json":        "verb.display.de-419-DE",
		"substatement-with-id.json":                   "object.id",
		"voiding-object-activity.json":                "object",
		"timestamp-february-30.json":                  "timestamp",
		"result-duration-weeks-combined.json":         "result.duration",
		"attachment-sha2-not-hex.json":                "attachments[0].sha2",
		"batch-duplicate-statement-ids.json":          "[1].id",
		"context-platform-with-group-object.json":     "context.platform",
		"interaction-component-duplicate-ids.json":    "object.definition.choices[1].id",
		"v2-context-agent-relevant-type-not-iri.json": "context.contextAgents[0].relevantTypes[0]",
	}
	d := NewDecoder(Options{Mode: Strict})
	for name, want := range cases {
		raw, err := os.ReadFile(filepath.Join(vectorsDir, "invalid", name))
		if err != nil {
			t.Fatal(err)
		}
		vs := fatal(d.Validate(raw))
		if len(vs) == 0 || vs[0].Path != want {
			t.Errorf("%s: violations %v, want the first at path %q", name, vs, want)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(vectorsDir, "invalid", "result-score-scaled-above-1.json"))
	if got := fatal(d.Validate(raw))[0].String(); got != "result.score.scaled: must be within [-1, 1], got 1.01" {
		t.Errorf("message %q", got)
	}
}

// Version-dependent vectors flip with the version rules.
func TestVectorVersionRules(t *testing.T) {
	f := func(file string, spec SpecVersion, wantValid bool) {
		t.Helper()
		raw, err := os.ReadFile(filepath.Join(vectorsDir, file))
		if err != nil {
			t.Fatal(err)
		}
		vs := fatal(NewDecoder(Options{Mode: Strict, Spec: spec}).Validate(raw))
		if (len(vs) == 0) != wantValid {
			t.Errorf("%s under spec %d: violations %v, want valid=%v", file, spec, vs, wantValid)
		}
	}
	f("invalid/v103-version-2.0.0.json", SpecAuto, true)
	f("invalid/v103-version-2.0.0.json", Spec200, true)
	f("invalid/v103-version-2.0.0.json", Spec103, false)
	f("valid/v103-timestamp-without-timezone.json", Spec200, false)
	f("valid/v103-timestamp-iso8601-basic-format.json", Spec200, false)
	f("valid/v2-context-agents.json", Spec103, false)
	f("invalid/v103-context-agents-not-allowed.json", SpecAuto, false)
}
