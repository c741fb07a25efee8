package catalog

import (
	"fmt"
	"reflect"
	"slices"
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
	db, b := newLocalTestBucket(t)
	var keys []string
	for i := range 2500 {
		k := fmt.Sprintf("d%03d/k%05d", i/10, i)
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
		{"v2 start-after", ListOptions{MaxKeys: 250, StartAfter: "d030/"}, false},
		{"delimiter", ListOptions{MaxKeys: 100, Delimiter: "/"}, false},
		{"delimiter v1", ListOptions{MaxKeys: 100, Delimiter: "/"}, true},
		{"prefix", ListOptions{MaxKeys: 100, Prefix: "d0"}, true},
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
	db, b := newLocalTestBucket(t)
	other, err := db.CreateBucket(ctx, b.OrgID, "other")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for i := range 250 {
		k := fmt.Sprintf("k%03d", i)
		keys[k] = true
		mustPut(t, db, b, k, manifest("e"))
	}
	for _, tc := range []struct {
		name   string
		change func()
	}{
		{"put into the next page", func() { mustPut(t, db, b, "k150a", manifest("e")); keys["k150a"] = true }},
		{"delete from the next page", func() {
			if _, err := db.DeleteObject(ctx, b, "k120"); err != nil {
				t.Fatal(err)
			}
			delete(keys, "k120")
		}},
		{"put into another bucket", func() { mustPut(t, db, other, "x", manifest("e")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := ListOptions{MaxKeys: 100}
			waitAhead(t, db) // the previous case's third page
			r, err := db.List(ctx, b.ID, o)
			if err != nil || !r.IsTruncated {
				t.Fatalf("first page: truncated %v, %v", r.IsTruncated, err)
			}
			waitAhead(t, db)
			o.ContinueAfter = r.Next
			db.ahead.mu.Lock()
			_, held := db.ahead.pages[keyFor(b.ID, o)]
			db.ahead.mu.Unlock()
			if !held {
				t.Fatal("the second page was not read ahead")
			}
			hits := db.ahead.hits.Load()
			tc.change()
			r, err = db.List(ctx, b.ID, o)
			if err != nil {
				t.Fatal(err)
			}
			var sorted []string
			for k := range keys {
				sorted = append(sorted, k)
			}
			slices.Sort(sorted)
			want := refList(sorted, o)[:100]
			if got := pageItems(t, r); !reflect.DeepEqual(got, want) {
				t.Fatalf("second page after the change:\n got %q\nwant %q", got, want)
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

// TestListAheadSmallPages: the mount's probes of one or two entries are
// truncated pages too, but start no read-ahead that would evict a walk's.
func TestListAheadSmallPages(t *testing.T) {
	db, b := newTestBucket(t)
	for i := range 300 {
		mustPut(t, db, b, fmt.Sprintf("k%03d", i), manifest("e"))
	}
	for _, n := range []int{1, 2, listAheadMin - 1} {
		r, err := db.List(ctx, b.ID, ListOptions{MaxKeys: n})
		if err != nil || !r.IsTruncated {
			t.Fatalf("page of %d: truncated %v, %v", n, r.IsTruncated, err)
		}
		waitAhead(t, db)
		db.ahead.mu.Lock()
		held := len(db.ahead.pages)
		db.ahead.mu.Unlock()
		if held != 0 {
			t.Fatalf("a page of %d entries read the next one ahead", n)
		}
	}
}
