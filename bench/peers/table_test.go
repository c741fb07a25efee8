package peers

import (
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{5}, 5},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	in := []float64{3, 1, 2}
	median(in)
	if in[0] != 3 || in[1] != 1 {
		t.Error("median reordered its input: the rounds' order pairs excd with the peer")
	}
}

func TestRatio(t *testing.T) {
	if got := ratio(200, 100, false); got != 2 {
		t.Errorf("rate: excd 200/s against 100/s is %v, want 2", got)
	}
	// A time: excd taking 10 s where the peer takes 5 s is half as fast.
	if got := ratio(10, 5, true); got != 0.5 {
		t.Errorf("time: excd 10 s against 5 s is %v, want 0.5", got)
	}
	if got := ratio(0, 5, false); got != 0 {
		t.Errorf("a missing figure gives %v, want 0", got)
	}
	lo, hi := roundRatios([]float64{100, 300, 200}, []float64{100, 100, 400}, false)
	if lo != 0.5 || hi != 3 {
		t.Errorf("round ratios %v–%v, want 0.5–3", lo, hi)
	}
}

func TestTable(t *testing.T) {
	create := &Row{Name: "mount: create", Unit: "files/s", Goal: 1.5}
	untar := &Row{Name: "mount: untar", Unit: "s", Lower: true, Goal: 1}
	for _, v := range [][3]float64{{900, 600, 20000}, {1000, 500, 21000}, {950, 700, 19000}} {
		create.Add("excd", v[0])
		create.Add("JuiceFS", v[1])
		create.Add("ext4", v[2])
	}
	untar.Add("excd", 23.3)
	untar.Add("JuiceFS", 13.2)
	lines := strings.Split(strings.TrimSpace(Table([]*Row{create, untar})), "\n")
	if len(lines) != 4 {
		t.Fatalf("want a header, a rule and 2 rows, got:\n%s", strings.Join(lines, "\n"))
	}
	want := []string{
		"| workload | excd | peer | ext4 | excd / peer | goal | met |",
		"|---|---|---|---|---|---|---|",
		"| mount: create | 950 files/s (900–1.00 k) | JuiceFS 600 files/s (500–700) | 20.0 k files/s (19.0 k–21.0 k) | 1.58 (1.36–2.00) | ≥ 1.5 | yes |",
		"| mount: untar | 23.3 s | JuiceFS 13.2 s | – | 0.57 | ≥ 1.0 | **no** |",
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, lines[i], want[i])
		}
	}
}
