package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/unpair/unpair/processor/eval"
	"github.com/unpair/unpair/processor/replay"
)

func init() {
	register("eval", "score suppression policies on attempt logs (train/test split by learner)", runEval)
}

// sharedDatasets finds the datasets under dir: each subdirectory holding
// preprocessed_data_*.csv and a q-matrix.
func sharedDatasets(dir string) (map[string][]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*", "preprocessed_data_*.csv"))
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, f := range files {
		d := filepath.Dir(f)
		out[d] = append(out[d], f)
	}
	for _, fs := range out {
		sort.Strings(fs)
	}
	return out, nil
}

func runEval(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var data, qms listFlag
	fs.Var(&data, "data", "attempt log; each --data is one dataset unless --join (default: every dataset under --shared)")
	fs.Var(&qms, "qmatrix", "q-matrix of the matching --data (default: q_matrix_item_skill.tsv beside it)")
	shared := fs.String("shared", "../shared/data", "directory of datasets used when no --data is given")
	join := fs.Bool("join", false, "treat all --data files as one dataset (e.g. a train and a test file)")
	seed := fs.Uint64("seed", 1, "seed of the learner split")
	testShare := fs.Float64("test-share", 0.2, "share of learners held out for testing")
	limit := fs.Int("learners", 0, "use only the first N learners of each dataset (0 = all): a quick sample")
	all := fs.Bool("all", false, "print every sweep point, not only each policy's nominal one")
	svgDir := fs.String("svg", "", "write each dataset's operating curves to DIR/<dataset>.svg")
	jsonOut := fs.String("json", "", "write the reports as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	type job struct {
		name  string
		files []string
		qm    string
	}
	var jobs []job
	switch {
	case len(data) == 0:
		sets, err := sharedDatasets(*shared)
		if err != nil || len(sets) == 0 {
			return fail(stderr, 1, fmt.Errorf("eval: no dataset under %s (give --data): %v", *shared, err))
		}
		dirs := make([]string, 0, len(sets))
		for d := range sets {
			dirs = append(dirs, d)
		}
		sort.Strings(dirs)
		for _, d := range dirs {
			jobs = append(jobs, job{filepath.Base(d), sets[d], defaultQMatrix(sets[d][0])})
		}
	case *join:
		qm := ""
		if len(qms) > 0 {
			qm = qms[0]
		} else {
			qm = defaultQMatrix(data[0])
		}
		jobs = append(jobs, job{replay.DatasetName(data[0]), data, qm})
	default:
		if len(qms) > 0 && len(qms) != len(data) {
			return fail(stderr, 2, usageError{fmt.Errorf("eval: --qmatrix: give one per --data (%d) or none, got %d", len(data), len(qms))})
		}
		for i, d := range data {
			qm := defaultQMatrix(d)
			if len(qms) > 0 {
				qm = qms[i]
			}
			jobs = append(jobs, job{replay.DatasetName(d), []string{d}, qm})
		}
	}
	var reports []*eval.Report
	for _, j := range jobs {
		start := time.Now()
		ds, err := replay.Load(j.name, j.files, j.qm, replay.DefaultOptions())
		if err != nil {
			return fail(stderr, 1, err)
		}
		if *limit > 0 {
			ds = eval.FirstLearners(ds, *limit)
		}
		cfg := eval.Config{Seed: *seed, TestShare: *testShare}
		rep, err := eval.Run(ds, cfg)
		if err != nil {
			return fail(stderr, 1, err)
		}
		rep.WriteTable(stdout, *all)
		if *svgDir != "" {
			if err := writeSVG(filepath.Join(*svgDir, eval.Slug(ds.Name)+".svg"), rep); err != nil {
				return fail(stderr, 1, err)
			}
		}
		fmt.Fprintf(stderr, "eval: %s: %d attempts, %.1fs (fit %.1fs, evaluation %.1fs)\n",
			ds.Name, len(ds.Attempts), time.Since(start).Seconds(), rep.FitSeconds, rep.EvaluateSecond)
		reports = append(reports, rep)
	}
	if *jsonOut != "" {
		b, err := json.MarshalIndent(reports, "", " ")
		if err == nil {
			err = os.WriteFile(*jsonOut, b, 0o644)
		}
		if err != nil {
			return fail(stderr, 1, fmt.Errorf("eval: cannot write %s: %w", *jsonOut, err))
		}
	}
	return 0
}

func writeSVG(path string, rep *eval.Report) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("eval: cannot create %s: %w", filepath.Dir(path), err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("eval: cannot create plot: %w", err)
	}
	if err := rep.WriteSVG(f); err != nil {
		f.Close()
		return fmt.Errorf("eval: cannot write %s: %w", path, err)
	}
	return f.Close()
}
