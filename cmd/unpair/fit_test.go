package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unpair/unpair/processor/catalog"
)

func TestFitCommandWritesLoadableCatalog(t *testing.T) {
	dir := t.TempDir()
	log := "user_id\titem_id\ttimestamp\tcorrect\tskill_id\n"
	for u := 0; u < 30; u++ {
		for k, c := range []string{"0", "1", "0", "1", "1", "1"} {
			log += strings.Join([]string{itoaCmd(u), itoaCmd(k % 3), "0", c, "4"}, "\t") + "\n"
		}
	}
	data := filepath.Join(dir, "log.csv")
	os.WriteFile(data, []byte(log), 0o644)
	os.WriteFile(filepath.Join(dir, "q_matrix_item_skill.tsv"), []byte("item_id\tskill_index\n0\t1\n1\t1\n2\t1\n"), 0o644)
	out := filepath.Join(dir, "catalog.json")
	var so, se bytes.Buffer
	if st := dispatch([]string{"fit", "--data", data, "--out", out}, nil, &so, &se); st != 0 {
		t.Fatalf("exit %d: %s", st, se.String())
	}
	snap, err := catalog.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if items, skills := snap.Len(); items != 3 || skills != 1 {
		t.Fatalf("catalog has %d items and %d skills, want 3 and 1", items, skills)
	}
	if !strings.Contains(se.String(), "1 skills fitted") {
		t.Errorf("summary = %q", se.String())
	}
}

func TestFitPredictMode(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.json")
	os.WriteFile(in, []byte(`{"params":{"l0":0.827,"t":0.18,"f":0.0127,"g":0.266,"s":0.148},"sequences":[[1,1],[0]]}`), 0o644)
	var so, se bytes.Buffer
	if st := dispatch([]string{"fit", "--predict", in}, nil, &so, &se); st != 0 {
		t.Fatalf("exit %d: %s", st, se.String())
	}
	var out predictOutput
	if err := json.Unmarshal(so.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	// P(known) after one correct answer is about 0.938 (mastery's worked case).
	if len(out.Known) != 2 || math.Abs(out.Known[0][1]-0.938) > 0.0005 {
		t.Fatalf("known = %v", out.Known)
	}
	if want := 0.827*(1-0.148) + 0.173*0.266; math.Abs(out.Correct[1][0]-want) > 1e-12 {
		t.Fatalf("P(correct) first = %v, want %v", out.Correct[1][0], want)
	}
	os.WriteFile(in, []byte(`{"params":{},"sequences":[[2]]}`), 0o644)
	if st := dispatch([]string{"fit", "--predict", in}, nil, &so, &se); st != 1 {
		t.Errorf("a 2 in a sequence: exit %d, want 1", st)
	}
}

func itoaCmd(n int) string { b, _ := json.Marshal(n); return string(b) }
