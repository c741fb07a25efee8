package catalog

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// item is a listed key ("k:") or common prefix ("p:"), in page order.
type item = string

// refList is the naive reference: every key with the prefix, rolled up by the
// delimiter, deduplicated, keeping what sorts after start.
func refList(sorted []string, o ListOptions) []item {
	start := max(o.StartAfter, o.ContinueAfter)
	var out []item
	last := ""
	for _, k := range sorted {
		if !strings.HasPrefix(k, o.Prefix) {
			continue
		}
		if o.Delimiter != "" {
			if i := strings.Index(k[len(o.Prefix):], o.Delimiter); i >= 0 {
				cp := k[:len(o.Prefix)+i+len(o.Delimiter)]
				if cp > start && "p:"+cp != last {
					last = "p:" + cp
					out = append(out, last)
				}
				continue
			}
		}
		if k > start {
			last = "k:" + k
			out = append(out, last)
		}
	}
	return out
}

// pageItems merges a page's objects and common prefixes in key order,
// checking each list is itself ordered.
func pageItems(t *testing.T, r ListResult) []item {
	t.Helper()
	var out []item
	i, j := 0, 0
	for i < len(r.Objects) || j < len(r.CommonPrefixes) {
		if j == len(r.CommonPrefixes) || i < len(r.Objects) && r.Objects[i].Key < r.CommonPrefixes[j] {
			out = append(out, "k:"+r.Objects[i].Key)
			i++
		} else {
			out = append(out, "p:"+r.CommonPrefixes[j])
			j++
		}
	}
	if !slices.IsSorted(out) && !sortedByName(out) {
		t.Fatalf("page not in order: %q", out)
	}
	return out
}

func sortedByName(items []item) bool {
	return slices.IsSortedFunc(items, func(a, b item) int { return strings.Compare(a[2:], b[2:]) })
}

// walk lists every page with page size max and returns the concatenation,
// checking page sizes and the truncation flag.
func walk(t *testing.T, db *DB, bucketID uint64, o ListOptions, max int) []item {
	t.Helper()
	o.MaxKeys = max
	var all []item
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("listing does not end")
		}
		r, err := db.List(ctx, bucketID, o)
		if err != nil {
			t.Fatal(err)
		}
		items := pageItems(t, r)
		if !sortedByName(items) {
			t.Fatalf("page out of order: %q", items)
		}
		if len(items) > max {
			t.Fatalf("page of %d items with MaxKeys %d", len(items), max)
		}
		all = append(all, items...)
		if !r.IsTruncated {
			if r.Next != "" {
				t.Fatalf("Next %q on the last page", r.Next)
			}
			return all
		}
		if len(items) == 0 || r.Next != items[len(items)-1][2:] {
			t.Fatalf("truncated page %q with Next %q", items, r.Next)
		}
		o.ContinueAfter = r.Next
	}
}

func TestListTable(t *testing.T) {
	db, b := newTestBucket(t)
	keys := []string{"a", "a.b", "a/", "a/b", "a/b/c", "a/c", "a//d", "a0", "a\x00", "a\x7f",
		"b", "b::x", "b::y::z", "bb", "c/", "é", "é/x", "photos/2024/a.jpg", "photos/2024/b.jpg", "photos/2025/c.jpg", "photos/index"}
	for _, k := range keys {
		mustPut(t, db, b, k, &Manifest{Size: int64(len(k)), ETag: `"` + k + `"`})
	}
	slices.Sort(keys)
	for _, tc := range []struct {
		name string
		o    ListOptions
		want []item
	}{
		{"all", ListOptions{}, nil},
		{"prefix", ListOptions{Prefix: "a/"}, []item{"k:a/", "k:a//d", "k:a/b", "k:a/b/c", "k:a/c"}},
		{"prefix equal to a key", ListOptions{Prefix: "a/b"}, []item{"k:a/b", "k:a/b/c"}},
		{"prefix matching nothing", ListOptions{Prefix: "zz"}, []item{}},
		{"delimiter", ListOptions{Delimiter: "/"}, []item{"k:a", "k:a\x00", "k:a.b", "p:a/", "k:a0", "k:a\x7f",
			"k:b", "k:b::x", "k:b::y::z", "k:bb", "p:c/", "p:photos/", "k:é", "p:é/"}},
		{"prefix and delimiter", ListOptions{Prefix: "a/", Delimiter: "/"}, []item{"k:a/", "p:a//", "k:a/b", "p:a/b/", "k:a/c"}},
		{"prefix ends at delimiter", ListOptions{Prefix: "photos/", Delimiter: "/"}, []item{"p:photos/2024/", "p:photos/2025/", "k:photos/index"}},
		{"multi-character delimiter", ListOptions{Prefix: "b", Delimiter: "::"}, []item{"k:b", "p:b::", "k:bb"}},
		{"multi-character delimiter after prefix", ListOptions{Prefix: "b::", Delimiter: "::"}, []item{"k:b::x", "p:b::y::"}},
		{"start after", ListOptions{StartAfter: "a0"}, nil},
		{"start after inside a common prefix", ListOptions{StartAfter: "a/b", Delimiter: "/"}, nil},
		{"continue after common prefix", ListOptions{ContinueAfter: "a/", Delimiter: "/"}, nil},
		{"continue after beyond prefix", ListOptions{Prefix: "a", ContinueAfter: "b"}, []item{}},
		{"start after before prefix", ListOptions{Prefix: "photos/", StartAfter: "a"}, []item{"k:photos/2024/a.jpg", "k:photos/2024/b.jpg", "k:photos/2025/c.jpg", "k:photos/index"}},
		{"unicode delimiter", ListOptions{Delimiter: "é"}, nil},
		{"max keys", ListOptions{MaxKeys: 4, Delimiter: "/"}, []item{"k:a", "k:a\x00", "k:a.b", "p:a/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want == nil {
				want = refList(keys, tc.o)
			}
			r, err := db.List(ctx, b.ID, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			got := pageItems(t, r)
			if len(got) != 0 || len(want) != 0 {
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("got  %q\nwant %q", got, want)
				}
			}
			if tc.o.MaxKeys == 0 && r.IsTruncated {
				t.Fatal("truncated")
			}
			if tc.o.MaxKeys == 4 && (!r.IsTruncated || r.Next != "a/") {
				t.Fatalf("truncated %v next %q", r.IsTruncated, r.Next)
			}
			for _, e := range r.Objects {
				if e.ETag != `"`+e.Key+`"` || e.Size != int64(len(e.Key)) {
					t.Fatalf("entry %+v", e)
				}
			}
		})
	}
	// The reference itself must agree with the hand-written rows.
	if got := refList(keys, ListOptions{StartAfter: "a/b", Delimiter: "/"}); got[0] != "k:a0" {
		t.Fatalf("reference: %q", got)
	}
}

func TestListEmptyBucket(t *testing.T) {
	db, b := newTestBucket(t)
	for _, o := range []ListOptions{{}, {Prefix: "a", Delimiter: "/"}, {StartAfter: "x"}} {
		r, err := db.List(ctx, b.ID, o)
		if err != nil || len(r.Objects) != 0 || len(r.CommonPrefixes) != 0 || r.IsTruncated || r.Next != "" {
			t.Fatalf("%+v: %+v, %v", o, r, err)
		}
	}
	// Another bucket's keys never show.
	b2, err := db.CreateBucket(ctx, b.OrgID, "other")
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, b2, "a", &Manifest{})
	if r, _ := db.List(ctx, b.ID, ListOptions{}); len(r.Objects) != 0 {
		t.Fatalf("other bucket's keys listed: %+v", r)
	}
}

// TestListProperty walks every page size over a few hundred generated key
// sets and checks the union of the pages against refList.
func TestListProperty(t *testing.T) {
	db, b := newTestBucket(t)
	rng := rand.New(rand.NewPCG(1, 2))
	frags := []string{"a", "b", "/", "//", ".", "0", "\x00", "\x7f", "é", "a/", "::", "\xff", "ab"}
	delims := []string{"", "/", "/", "::", "é", "a", "//"}
	sets := 300
	if testing.Short() {
		sets = 60
	}
	defer func(n int) { cpSteps = n }(cpSteps)
	for set := range sets {
		cpSteps = []int{0, 1, 8}[set%3] // seek at once, after one step, or step
		bucket := b
		if set > 0 {
			var err error
			bucket, err = db.CreateBucket(ctx, b.OrgID, fmt.Sprint("set", set))
			if err != nil {
				t.Fatal(err)
			}
		}
		n := 1 + rng.IntN(25)
		seen := map[string]bool{}
		var keys []string
		for range n {
			var sb strings.Builder
			for range 1 + rng.IntN(5) {
				sb.WriteString(frags[rng.IntN(len(frags))])
			}
			if k := sb.String(); !seen[k] {
				seen[k] = true
				keys = append(keys, k)
				mustPut(t, db, bucket, k, &Manifest{Size: 1})
			}
		}
		slices.Sort(keys)
		pick := func() string {
			switch rng.IntN(4) {
			case 0:
				return ""
			case 1:
				k := keys[rng.IntN(len(keys))]
				return k[:rng.IntN(len(k)+1)]
			case 2:
				return keys[rng.IntN(len(keys))]
			default:
				return frags[rng.IntN(len(frags))]
			}
		}
		for range 3 {
			o := ListOptions{Prefix: pick(), Delimiter: delims[rng.IntN(len(delims))]}
			if rng.IntN(2) == 0 {
				o.StartAfter = pick()
			}
			want := refList(keys, o)
			for _, max := range []int{1, 2, 3, 7, 1000} {
				got := walk(t, db, bucket.ID, o, max)
				if !slices.Equal(got, want) {
					t.Fatalf("keys %q\nopts %+v max %d\ngot  %q\nwant %q", keys, o, max, got, want)
				}
			}
		}
	}
}
