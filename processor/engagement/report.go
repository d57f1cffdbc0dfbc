package engagement

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

// reportColumns are the columns of WriteTable and WriteCSV.
var reportColumns = []string{"content", "starts", "completions", "completion_rate", "unique_learners",
	"median_time", "idle", "abandoned", "abandonment_rate", "average_rating", "ratings", "mastered", "mastered_share"}

func reportRow(f *Figures, human bool) []string {
	pct := func(x float64) string {
		if human {
			return strconv.FormatFloat(x*100, 'f', 0, 64) + "%"
		}
		return strconv.FormatFloat(x, 'f', 4, 64)
	}
	med := strconv.FormatInt(f.MedianTimeSpentMS, 10)
	rating := strconv.FormatFloat(f.AverageRating, 'f', 3, 64)
	if human {
		med = (time.Duration(f.MedianTimeSpentMS) * time.Millisecond).Round(time.Second).String()
		if f.Ratings == 0 {
			rating = "-"
		}
	}
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	return []string{f.Content, i(f.Starts), i(f.Completions), pct(f.CompletionRate), i(f.UniqueLearners),
		med, i(f.Idle), i(f.Abandoned), pct(f.AbandonmentRate), rating, i(f.Ratings), i(f.Mastered), pct(f.MasteredShare)}
}

// WriteTable prints figures as an aligned text table.
func WriteTable(w io.Writer, fs []Figures) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(cells []string) {
		for _, c := range cells {
			fmt.Fprint(tw, c, "\t")
		}
		fmt.Fprintln(tw)
	}
	hdr := append([]string(nil), reportColumns...)
	hdr[5] = "median_time"
	row(hdr)
	for i := range fs {
		row(reportRow(&fs[i], true))
	}
	return tw.Flush()
}

// WriteCSV prints figures as CSV with a header line: rates as fractions,
// the median time in milliseconds (column median_time_ms).
func WriteCSV(w io.Writer, fs []Figures) error {
	cw := csv.NewWriter(w)
	hdr := append([]string(nil), reportColumns...)
	hdr[5] = "median_time_ms"
	if err := cw.Write(hdr); err != nil {
		return err
	}
	for i := range fs {
		if err := cw.Write(reportRow(&fs[i], false)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
