package peers

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Row is one workload of the table: a figure per target per round.
type Row struct {
	Name string
	Unit string
	// Lower: the figure is a time, so smaller is better and the ratio is
	// peer/excd (the factor by which excd is faster), as for a rate.
	Lower bool
	// Goal is the ratio excd/peer the issue asks for: 1.0, or 1.5 on the
	// rows where excd already leads.
	Goal float64
	// Values per target ("excd", the peer's name, "ext4"), one per round,
	// in the order the rounds ran.
	Values map[string][]float64
}

// Add records one round's figure for a target.
func (r *Row) Add(target string, v float64) {
	if r.Values == nil {
		r.Values = map[string][]float64{}
	}
	r.Values[target] = append(r.Values[target], v)
}

// median of vs (the mean of the middle two for an even count); 0 when empty.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ratio is how many times better excd is than the peer: excd/peer for a
// rate, peer/excd for a time. 0 when either side has no figure.
func ratio(excd, peer float64, lower bool) float64 {
	if excd <= 0 || peer <= 0 {
		return 0
	}
	if lower {
		return peer / excd
	}
	return excd / peer
}

// roundRatios pairs the rounds (excd's round i against the peer's round i,
// which ran in the same minute) and returns the smallest and largest ratio.
func roundRatios(excd, peer []float64, lower bool) (lo, hi float64) {
	for i := range min(len(excd), len(peer)) {
		q := ratio(excd[i], peer[i], lower)
		if q == 0 {
			continue
		}
		if lo == 0 || q < lo {
			lo = q
		}
		hi = max(hi, q)
	}
	return lo, hi
}

// human prints a figure with three significant digits, thousands as "k".
func human(v float64) string {
	switch {
	case v == 0:
		return "–"
	case v >= 10000:
		return fmt.Sprintf("%.1f k", v/1000)
	case v >= 1000:
		return fmt.Sprintf("%.2f k", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// cell is a target's median with the range of its rounds when they differ.
func cell(vs []float64, unit string) string {
	if len(vs) == 0 {
		return "–"
	}
	s := human(median(vs)) + " " + unit
	if len(vs) > 1 {
		s += fmt.Sprintf(" (%s–%s)", human(slices.Min(vs)), human(slices.Max(vs)))
	}
	return s
}

// WriteTable writes rows as one Markdown table: the median of each
// target's rounds (with their range), the ratio of excd's median to the
// peer's (with the range of the round-by-round ratios), the goal, and
// whether the median ratio meets it.
func WriteTable(w io.Writer, rows []*Row) {
	fmt.Fprintln(w, "| workload | excd | peer | ext4 | excd / peer | goal | met |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range rows {
		var peerName string
		for t := range r.Values {
			if t != "excd" && t != "ext4" {
				peerName = t
			}
		}
		ex, pe := r.Values["excd"], r.Values[peerName]
		q := ratio(median(ex), median(pe), r.Lower)
		qs, met := "–", "–"
		if q > 0 {
			qs = fmt.Sprintf("%.2f", q)
			if lo, hi := roundRatios(ex, pe, r.Lower); len(ex) > 1 && lo > 0 {
				qs += fmt.Sprintf(" (%.2f–%.2f)", lo, hi)
			}
			met = "yes"
			if q < r.Goal {
				met = "**no**"
			}
		}
		peerCell := cell(pe, r.Unit)
		if peerName != "" && len(pe) > 0 {
			peerCell = peerName + " " + peerCell
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | ≥ %.1f | %s |\n", r.Name, cell(ex, r.Unit), peerCell,
			cell(r.Values["ext4"], r.Unit), qs, r.Goal, met)
	}
}

// Table is WriteTable into a string.
func Table(rows []*Row) string {
	var b strings.Builder
	WriteTable(&b, rows)
	return b.String()
}
