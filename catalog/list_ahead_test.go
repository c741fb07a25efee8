package catalog

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// waitAhead waits until no page is being read ahead.
func waitAhead(t *testing.T, db *DB) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); db.ahead.busy.Load(); {
		if time.Now().After(deadline) {
			t.Fatal("page read ahead never finished")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestListAheadWalks: walks served from pages read ahead return exactly
// the reference listing, for V1 and V2 continuations,
// with and without a delimiter, and most pages do come from read-ahead.
func TestListAheadWalks(t *testing.T) {
	db, b := newTestBucket(t)
	var keys []string
	for i := range 2500 {
		k := fmt.Sprintf("d%02d/k%05d", i/100, i)
		keys = append(keys, k)
		mustPut(t, db, b, k, manifest(fmt.Sprintf("e%d", i)))
	}
	for _, tc := range []struct {
		name string
		o    ListOptions
		v1   bool
	}{
		{"v2", ListOptions{MaxKeys: 300}, false},
		{"v1", ListOptions{MaxKeys: 300}, true},
		{"v2 start-after", ListOptions{MaxKeys: 250, StartAfter: "d03/"}, false},
		{"delimiter", ListOptions{MaxKeys: 7, Delimiter: "/"}, false},
		{"prefix", ListOptions{MaxKeys: 40, Prefix: "d1"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := refList(keys, tc.o)
			// Wait for each page read ahead, so that every page after the
			// first can come from it.
			hits := db.ahead.hits.Load()
			var got []item
			o := tc.o
			pages := 0
			for {
				waitAhead(t, db)
				r, err := db.List(ctx, b.ID, o)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				got = append(got, pageItems(t, r)...)
				if !r.IsTruncated {
					break
				}
				if tc.v1 {
					o.StartAfter = r.Next
				} else {
					o.ContinueAfter = r.Next
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("walk with read-ahead: %d items, reference: %d", len(got), len(want))
			}
			if n := db.ahead.hits.Load() - hits; n != int64(pages-1) {
				t.Errorf("%d of %d pages after the first came from read-ahead", n, pages-1)
			}
		})
	}
}

// TestListAheadSeesCommits: a page read ahead before a commit is not served
// after it, so a listing shows every acknowledged put and delete, whatever
// the bucket.
func TestListAheadSeesCommits(t *testing.T) {
	db, b := newTestBucket(t)
	other, err := db.CreateBucket(ctx, b.OrgID, "other")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		mustPut(t, db, b, fmt.Sprintf("k%02d", i), manifest("e"))
	}
	for _, tc := range []struct {
		name   string
		change func()
		want   []item
	}{
		{"put into the next page", func() { mustPut(t, db, b, "k15a", manifest("e")) },
			[]item{"k:k10", "k:k11", "k:k12", "k:k13", "k:k14", "k:k15", "k:k15a", "k:k16", "k:k17", "k:k18"}},
		{"delete from the next page", func() {
			if _, err := db.DeleteObject(ctx, b, "k12"); err != nil {
				t.Fatal(err)
			}
		}, []item{"k:k10", "k:k11", "k:k13", "k:k14", "k:k15", "k:k15a", "k:k16", "k:k17", "k:k18", "k:k19"}},
		{"put into another bucket", func() { mustPut(t, db, other, "x", manifest("e")) },
			[]item{"k:k10", "k:k11", "k:k13", "k:k14", "k:k15", "k:k15a", "k:k16", "k:k17", "k:k18", "k:k19"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := db.List(ctx, b.ID, ListOptions{MaxKeys: 10})
			if err != nil || !r.IsTruncated || r.Next != "k09" {
				t.Fatalf("first page: next %q, %v", r.Next, err)
			}
			waitAhead(t, db)
			hits := db.ahead.hits.Load()
			tc.change()
			r, err = db.List(ctx, b.ID, ListOptions{MaxKeys: 10, ContinueAfter: r.Next})
			if err != nil {
				t.Fatal(err)
			}
			if got := pageItems(t, r); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("second page after the change: %q, want %q", got, tc.want)
			}
			if db.ahead.hits.Load() != hits {
				t.Error("a page read ahead before the commit was served after it")
			}
		})
	}
}

// TestListAheadClose: closing the catalog while a page is being read ahead
// waits for it instead of pulling Badger from under it.
func TestListAheadClose(t *testing.T) {
	db, b := newTestBucket(t)
	for i := range 3000 {
		mustPut(t, db, b, fmt.Sprintf("k%05d", i), manifest("e"))
	}
	if _, err := db.List(ctx, b.ID, ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db.ahead.busy.Load() {
		t.Fatal("Close returned while a page was still being read ahead")
	}
}
