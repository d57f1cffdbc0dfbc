package replay

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Attempt is one row of an attempt log: one learner's first answer to one
// item.
type Attempt struct {
	File     int   // index into Dataset.Files
	Line     int   // 1-based line number in that file (the header is line 1)
	User     int64 // user_id
	Item     int64 // item_id
	SkillSet int64 // skill_id: the id of the item's set of skills
	Correct  bool
	Raw      int64 // timestamp column as given (seconds; 0 when absent)
	Time     int64 // unix nanoseconds, from the data or synthesized (see doc.go)
	Index    int   // the learner's answer index, 0-based, in time order
	Duration int64 // nanoseconds since the learner's previous answer, capped; 0 on the first
}

// MaxDuration caps result.duration: a gap longer than this is a break, not
// time spent on the problem.
const MaxDuration = 10 * time.Minute

// Dataset is an attempt log loaded in memory with its q-matrix.
type Dataset struct {
	Name        string
	Files       []string          // base names of the data files, for statement ids
	Attempts    []Attempt         // in global replay order: (Time, User, File, Line)
	Skills      map[int64][]int64 // q-matrix: item → sorted skill indexes
	Synthesized bool              // times were synthesized (the data has no timestamps)
}

// Options control how a dataset's times are derived.
type Options struct {
	// Epoch is the time that timestamp 0 (or a synthesized learner's first
	// answer) maps to.
	Epoch time.Time
	// Gap separates a learner's consecutive answers when times are
	// synthesized.
	Gap time.Duration
}

// DefaultOptions places timestamp 0 at 2009-09-01 UTC and synthesizes one
// answer a minute.
func DefaultOptions() Options {
	return Options{Epoch: time.Date(2009, 9, 1, 0, 0, 0, 0, time.UTC), Gap: time.Minute}
}

// DatasetName derives a dataset name from a data file path: the name of the
// directory holding it (assistments-2009-skill-builder), else the file name
// without its extension.
func DatasetName(path string) string {
	dir := filepath.Base(filepath.Dir(path))
	if dir != "." && dir != "/" && dir != "" {
		return dir
	}
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

// Load reads one or more data files of one dataset and its q-matrix. The
// files must not share learners' rows out of order: rows of one learner keep
// their order (by timestamp, then file order).
func Load(name string, dataPaths []string, qmatrixPath string, opt Options) (*Dataset, error) {
	if len(dataPaths) == 0 {
		return nil, errors.New("replay: no data file given")
	}
	ds := &Dataset{Name: name, Skills: map[int64][]int64{}}
	if qmatrixPath != "" {
		f, err := os.Open(qmatrixPath)
		if err != nil {
			return nil, fmt.Errorf("cannot open q-matrix: %w", err)
		}
		ds.Skills, err = ReadQMatrix(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", qmatrixPath, err)
		}
	}
	for i, p := range dataPaths {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("cannot open attempt log: %w", err)
		}
		rows, err := ReadAttempts(f, i)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		ds.Files = append(ds.Files, filepath.Base(p))
		ds.Attempts = append(ds.Attempts, rows...)
	}
	ds.assignTimes(opt)
	return ds, nil
}

// ReadQMatrix reads "item_id<TAB>skill_index" lines after a header.
func ReadQMatrix(r io.Reader) (map[int64][]int64, error) {
	q := map[int64][]int64{}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		if line == 1 {
			continue
		}
		t := strings.TrimRight(sc.Text(), "\r")
		if t == "" {
			continue
		}
		f := strings.Split(t, "\t")
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want 2 tab-separated fields (item_id, skill_index), got %d", line, len(f))
		}
		item, err := parseID(f[0], "item_id", line)
		if err != nil {
			return nil, err
		}
		skill, err := parseID(f[1], "skill_index", line)
		if err != nil {
			return nil, err
		}
		q[item] = append(q[item], skill)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cannot read q-matrix: %w", err)
	}
	for k, s := range q {
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		q[k] = dedup(s)
	}
	return q, nil
}

func dedup(s []int64) []int64 {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// header columns of an attempt log.
var columns = []string{"user_id", "item_id", "timestamp", "correct", "skill_id"}

// ReadAttempts reads an attempt log with a header line naming the columns
// user_id, item_id, timestamp, correct, skill_id (in any order; others are
// ignored). file is stored in each Attempt.
func ReadAttempts(r io.Reader, file int) ([]Attempt, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("cannot read header: %w", err)
		}
		return nil, errors.New("line 1: empty file, want a header naming user_id, item_id, timestamp, correct, skill_id")
	}
	head := strings.Split(strings.TrimRight(sc.Text(), "\r"), "\t")
	col := make([]int, len(columns))
	for i, c := range columns {
		col[i] = -1
		for j, h := range head {
			if strings.TrimSpace(h) == c {
				col[i] = j
			}
		}
		if col[i] < 0 {
			return nil, fmt.Errorf("line 1: header lacks column %q (want tab-separated %s)", c, strings.Join(columns, ", "))
		}
	}
	var out []Attempt
	line := 1
	var v [5]int64
	for sc.Scan() {
		line++
		t := strings.TrimRight(sc.Text(), "\r")
		if t == "" {
			continue
		}
		f := strings.Split(t, "\t")
		if len(f) != len(head) {
			return nil, fmt.Errorf("line %d: want %d tab-separated fields, got %d", line, len(head), len(f))
		}
		for i, c := range columns {
			n, err := parseID(f[col[i]], c, line)
			if err != nil {
				return nil, err
			}
			v[i] = n
		}
		if v[3] > 1 {
			return nil, fmt.Errorf("line %d: correct: must be 0 or 1, got %d", line, v[3])
		}
		out = append(out, Attempt{File: file, Line: line, User: v[0], Item: v[1], Raw: v[2], Correct: v[3] == 1, SkillSet: v[4]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cannot read line %d: %w", line+1, err)
	}
	return out, nil
}

func parseID(s, field string, line int) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("line %d: %s: must be a non-negative integer, got %q", line, field, s)
	}
	return n, nil
}

// assignTimes derives times, answer indexes and durations, then sorts the
// attempts into global replay order.
func (ds *Dataset) assignTimes(opt Options) {
	if opt.Gap <= 0 {
		opt.Gap = time.Minute
	}
	ds.Synthesized = true
	for i := range ds.Attempts {
		if ds.Attempts[i].Raw != 0 {
			ds.Synthesized = false
			break
		}
	}
	// Order each learner's rows: by timestamp, then by file and line (the
	// files are in chronological order within a learner).
	sort.SliceStable(ds.Attempts, func(i, j int) bool {
		a, b := &ds.Attempts[i], &ds.Attempts[j]
		if a.User != b.User {
			return a.User < b.User
		}
		if a.Raw != b.Raw {
			return a.Raw < b.Raw
		}
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	epoch := opt.Epoch.UnixNano()
	for i := range ds.Attempts {
		a := &ds.Attempts[i]
		if i > 0 && ds.Attempts[i-1].User == a.User {
			a.Index = ds.Attempts[i-1].Index + 1
		}
		if ds.Synthesized {
			a.Time = epoch + int64(a.Index)*int64(opt.Gap)
		} else {
			a.Time = epoch + a.Raw*int64(time.Second)
		}
		if a.Index > 0 {
			d := a.Time - ds.Attempts[i-1].Time
			a.Duration = min(max(d, 0), int64(MaxDuration))
		}
	}
	sort.SliceStable(ds.Attempts, func(i, j int) bool {
		a, b := &ds.Attempts[i], &ds.Attempts[j]
		if a.Time != b.Time {
			return a.Time < b.Time
		}
		if a.User != b.User {
			return a.User < b.User
		}
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
}

// ItemSkills returns the skills of an item: the q-matrix entry, or, for an
// item the q-matrix lacks, nil (the caller then uses the problem set).
func (ds *Dataset) ItemSkills(item int64) []int64 { return ds.Skills[item] }

// ByLearner returns the attempts grouped per learner, each group in time
// order, learners in ascending user id. The slices alias ds.Attempts' copy.
func (ds *Dataset) ByLearner() [][]Attempt {
	cp := append([]Attempt(nil), ds.Attempts...)
	sort.SliceStable(cp, func(i, j int) bool {
		if cp[i].User != cp[j].User {
			return cp[i].User < cp[j].User
		}
		return cp[i].Index < cp[j].Index
	})
	var out [][]Attempt
	for i := 0; i < len(cp); {
		j := i
		for j < len(cp) && cp[j].User == cp[i].User {
			j++
		}
		out = append(out, cp[i:j:j])
		i = j
	}
	return out
}
