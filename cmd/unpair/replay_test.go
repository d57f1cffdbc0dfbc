package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReplayCommandNDJSON(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "log.csv")
	os.WriteFile(data, []byte("user_id\titem_id\ttimestamp\tcorrect\tskill_id\n1\t2\t0\t1\t3\n1\t4\t0\t0\t3\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "q_matrix_item_skill.tsv"), []byte("item_id\tskill_index\n2\t7\n4\t7\n"), 0o644)
	var out, errb bytes.Buffer
	if st := dispatch([]string{"replay", "--data", data}, nil, &out, &errb); st != 0 {
		t.Fatalf("exit %d: %s", st, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "/skills/7") {
		t.Fatalf("output = %q", out.String())
	}
	if !strings.Contains(errb.String(), "2 statements") {
		t.Errorf("no summary on stderr: %q", errb.String())
	}
	for _, args := range [][]string{
		{"replay"},
		{"replay", "--data", data, "--key", "bogus"},
		{"replay", "--data", data, "--to", "kafka", "--brokers", ""},
	} {
		if st := dispatch(args, nil, &out, &errb); st != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)", args, st)
		}
	}
}
