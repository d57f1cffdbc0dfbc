package eval

import (
	"fmt"
	"html"
	"io"
	"math"
)

var palette = []string{"#7f7f7f", "#d62728", "#ff7f0e", "#1f77b4", "#17becf", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22"}

// WriteSVG draws every family's operating curve: attempts saved (share of
// test attempts, x) against precision@3 (y); the nominal point of each
// family is the larger marker. Points without evaluable pairs are left out.
func (r *Report) WriteSVG(w io.Writer) error {
	const W, H, left, right, top, bottom = 900, 560, 70, 250, 40, 60
	pw, ph := float64(W-left-right), float64(H-top-bottom)
	xmax, ymin := 0.0, 1.0
	for _, f := range r.Families {
		for _, x := range f.Results {
			if x.Evaluable3 > 0 {
				xmax = math.Max(xmax, x.SavedShare)
				ymin = math.Min(ymin, x.Precision3)
			}
		}
	}
	xmax = math.Max(0.01, math.Ceil(xmax*20)/20)
	ymin = math.Max(0, math.Floor(ymin*10)/10)
	X := func(v float64) float64 { return left + v/xmax*pw }
	Y := func(v float64) float64 { return top + (1-(v-ymin)/(1-ymin))*ph }
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", W, H)
	p(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	p(`<text x="%d" y="22" font-size="15">%s: precision@3 against attempts saved (test learners)</text>`+"\n", left, html.EscapeString(r.Dataset))
	for i := 0; i <= 5; i++ {
		v := xmax * float64(i) / 5
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/><text x="%.1f" y="%d" text-anchor="middle">%.0f%%</text>`+"\n", X(v), top, X(v), H-bottom, X(v), H-bottom+18, 100*v)
		u := ymin + (1-ymin)*float64(i)/5
		p(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%.2f</text>`+"\n", left, Y(u), W-right, Y(u), left-6, Y(u)+4, u)
	}
	p(`<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#333"/>`+"\n", left, top, pw, ph)
	p(`<text x="%.0f" y="%d" text-anchor="middle">attempts saved (share of test attempts hidden by the policy)</text>`+"\n", left+pw/2, H-15)
	p(`<text transform="translate(18 %.0f) rotate(-90)" text-anchor="middle">precision@3 (next 3 attempts all correct)</text>`+"\n", top+ph/2)
	for i, f := range r.Families {
		col := palette[i%len(palette)]
		var pts string
		for _, x := range f.Results {
			if x.Evaluable3 > 0 {
				pts += fmt.Sprintf("%.1f,%.1f ", X(x.SavedShare), Y(x.Precision3))
			}
		}
		dash := ""
		if f.Name == r.Bar.Baseline || f.Name == r.Bar.Candidate {
			dash = ` stroke-width="2.5"`
		}
		p(`<polyline points="%s" fill="none" stroke="%s"%s/>`+"\n", pts, col, dash)
		for j, x := range f.Results {
			if x.Evaluable3 == 0 {
				continue
			}
			rad := 2.5
			if j == f.Nominal {
				rad = 5
			}
			p(`<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s"><title>%s: saved %.1f%%, precision@3 %.3f (%d evaluable)</title></circle>`+"\n",
				X(x.SavedShare), Y(x.Precision3), rad, col, html.EscapeString(x.Name), 100*x.SavedShare, x.Precision3, x.Evaluable3)
		}
		ly := top + 10 + 18*i
		p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/><text x="%d" y="%d">%s</text>`+"\n", W-right+12, ly, W-right+32, ly, col, W-right+38, ly+4, html.EscapeString(f.Name))
	}
	_, err := fmt.Fprintln(w, "</svg>")
	return err
}
