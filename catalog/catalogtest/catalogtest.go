// Package catalogtest opens real catalogs for other packages' tests: a Badger
// directory under t.TempDir() with a random encryption key, closed by
// t.Cleanup. There are no mocks of the catalog.
package catalogtest

import (
	"context"
	"crypto/rand"
	"testing"

	"excloud.dev/buckets/catalog"
)

// Open opens a fresh catalog in a temporary directory.
func Open(tb testing.TB) *catalog.DB {
	tb.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	db, err := catalog.Open(catalog.Options{Dir: tb.TempDir(), EncryptionKey: key})
	if err != nil {
		tb.Fatalf("catalogtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("catalogtest: %v", err)
		}
	})
	return db
}

// Bucket opens a fresh catalog and creates an org and a bucket in it.
func Bucket(tb testing.TB) (*catalog.DB, catalog.Bucket) {
	tb.Helper()
	db := Open(tb)
	ctx := context.Background()
	org, err := db.CreateOrg(ctx, "test")
	if err != nil {
		tb.Fatalf("catalogtest: %v", err)
	}
	b, err := db.CreateBucket(ctx, org.ID, "bucket")
	if err != nil {
		tb.Fatalf("catalogtest: %v", err)
	}
	return db, b
}
