package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/unpair/unpair/processor/fit"
	"github.com/unpair/unpair/processor/mastery"
	"github.com/unpair/unpair/processor/replay"
)

func init() {
	register("fit", "fit per-skill BKT and item difficulties from attempt logs into a catalog", runFit)
}

// predictInput is the JSON the hidden --predict mode reads (scripts/pybkt_check.py writes it).
type predictInput struct {
	Params    mastery.BKT `json:"params"`
	Sequences [][]int     `json:"sequences"` // 0 wrong, 1 correct
}

type predictOutput struct {
	Correct [][]float64 `json:"correct"` // P(correct) before each answer
	Known   [][]float64 `json:"known"`   // P(known) before each answer
	LogLik  float64     `json:"loglik"`
}

func runFit(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var data listFlag
	fs.Var(&data, "data", "attempt log; repeat for one dataset's several files")
	qm := fs.String("qmatrix", "", "q-matrix (default: q_matrix_item_skill.tsv beside the first --data)")
	name := fs.String("name", "", "dataset name (default: the data file's directory name)")
	home := fs.String("home", "", "activity id base, as given to unpair replay (default https://replay.unpair.example/<name>)")
	out := fs.String("out", "-", "catalog JSON output (- = stdout)")
	noForget := fs.Bool("no-forget", false, "fit BKT without forgetting (F = 0)")
	restarts := fs.Int("restarts", 5, "EM random restarts per skill")
	seed := fs.Uint64("seed", 1, "seed of the EM random restarts")
	report := fs.Bool("report", false, "print each skill's fit to stderr")
	predict := fs.String("predict", "", "") // hidden: JSON {params, sequences} in, predictions out (pyBKT check)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *predict != "" {
		return runPredict(*predict, stdout, stderr)
	}
	if len(data) == 0 {
		return fail(stderr, 2, usageError{fmt.Errorf("fit: --data: at least one attempt log is required")})
	}
	if *qm == "" {
		*qm = defaultQMatrix(data[0])
	}
	if *name == "" {
		*name = replay.DatasetName(data[0])
	}
	start := time.Now()
	ds, err := replay.Load(*name, data, *qm, replay.DefaultOptions())
	if err != nil {
		return fail(stderr, 1, err)
	}
	opt := fit.DefaultOptions()
	opt.BKT.Forget = !*noForget
	opt.BKT.Restarts = *restarts
	opt.BKT.Seed = *seed
	m := fit.Fit(ds, nil, opt)
	f, err := m.Catalog(ds, *home)
	if err != nil {
		return fail(stderr, 1, err)
	}
	w := stdout
	if *out != "-" {
		file, err := os.Create(*out)
		if err != nil {
			return fail(stderr, 1, fmt.Errorf("fit: cannot create catalog: %w", err))
		}
		defer file.Close()
		w = file
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	if err := enc.Encode(f); err != nil {
		return fail(stderr, 1, fmt.Errorf("fit: cannot write catalog: %w", err))
	}
	fitted, cold := 0, 0
	keys := make([]int64, 0, len(m.Skills))
	for s, r := range m.Skills {
		keys = append(keys, s)
		if r.Status == fit.Fitted {
			fitted++
		} else {
			cold++
		}
	}
	if *report {
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		fmt.Fprintln(stderr, "skill\tstatus\tseqs\tanswers\tdegenerate\tl0\tt\tf\tg\ts\tloglik")
		for _, s := range keys {
			r := m.Skills[s]
			p := r.Params
			fmt.Fprintf(stderr, "%d\t%s\t%d\t%d\t%d\t%.3f\t%.3f\t%.4f\t%.3f\t%.3f\t%.1f\n", s, r.Status, r.Sequences, r.Answers, r.Degenerate, p.L0, p.T, p.F, p.G, p.S, r.LogLik)
		}
	}
	fmt.Fprintf(stderr, "fit: %s: %d answers, %d skills fitted, %d cold start, %d items, %.1fs\n",
		ds.Name, len(ds.Attempts), fitted, cold, len(f.Items), time.Since(start).Seconds())
	return 0
}

func runPredict(path string, stdout, stderr io.Writer) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return fail(stderr, 1, fmt.Errorf("fit: --predict: %w", err))
	}
	var in predictInput
	if err := json.Unmarshal(b, &in); err != nil {
		return fail(stderr, 1, fmt.Errorf("fit: --predict: cannot parse JSON: %w", err))
	}
	var out predictOutput
	var seqs [][]bool
	for i, s := range in.Sequences {
		seq := make([]bool, len(s))
		for t, v := range s {
			if v != 0 && v != 1 {
				return fail(stderr, 1, fmt.Errorf("fit: --predict: sequences[%d][%d]: must be 0 or 1, got %d", i, t, v))
			}
			seq[t] = v == 1
		}
		c, k := fit.Predict(in.Params, seq)
		out.Correct = append(out.Correct, c)
		out.Known = append(out.Known, k)
		seqs = append(seqs, seq)
	}
	out.LogLik = fit.LogLikelihood(in.Params, seqs)
	if err := json.NewEncoder(stdout).Encode(out); err != nil {
		return fail(stderr, 1, err)
	}
	return 0
}
