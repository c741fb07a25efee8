package pgkv

import (
	"context"
	"fmt"
	"testing"
	"time"

	"excloud.dev/buckets/catalog/kv"
	"excloud.dev/buckets/catalog/kv/kvtest"
	"excloud.dev/buckets/internal/pgtest"
)

// indexScans is how many index scans the server has counted on the table,
// once every session that ran one has ended (a session's counts reach the
// shared statistics when it ends, at the latest): each page an iterator
// fetches is one.
func indexScans(t *testing.T, url string, want func(int64) bool) int64 {
	t.Helper()
	c := raw(t, url)
	deadline := time.Now().Add(time.Minute)
	for {
		var n int64
		if err := c.QueryRow(context.Background(),
			"SELECT pg_stat_clear_snapshot(), coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = 'exc_kv'").Scan(nil, &n); err != nil {
			t.Fatal(err)
		}
		if want(n) || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond) // poll interval: the ended sessions' counts arrive by themselves
	}
}

// A scan given no Prefetch that reads on (catalog.List reads a 1000-key
// page so) must not pay a round trip per minimal page: 1000 keys in a
// handful of fetches, not 63.
func TestLongScanFetchesGrowingPages(t *testing.T) {
	ctx := context.Background()
	url := pgtest.DB(t)
	const n = 1000
	e := open(t, url, Options{PruneEvery: -1})
	if err := kvtest.Update(ctx, e, func(tx kv.Txn) error {
		for i := range n {
			if err := tx.Set(fmt.Appendf(nil, "l/%05d", i), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.Close()
	before := indexScans(t, url, func(int64) bool { return true })

	e = open(t, url, Options{PruneEvery: -1})
	seen := 0
	if err := e.View(ctx, func(r kv.Reader) error {
		it := r.Iterate(kv.IterOptions{Prefix: []byte("l/")})
		defer it.Close()
		for it.Seek(nil); it.Valid(); it.Next() {
			seen++
		}
		return it.Err()
	}); err != nil {
		t.Fatal(err)
	}
	if seen != n {
		t.Fatalf("scanned %d keys, want %d", seen, n)
	}
	e.Close()
	// minPage doubling to maxPage: 16+32+…+512 ≥ 1000 in 7 fetches (one
	// more if the last is full); 63 at a fixed minPage.
	fetches := indexScans(t, url, func(x int64) bool { return x > before }) - before
	if fetches == 0 || fetches > 8 {
		t.Fatalf("a %d-key scan took %d fetches, want at most 8", n, fetches)
	}
	t.Logf("%d keys in %d fetches", n, fetches)
}
