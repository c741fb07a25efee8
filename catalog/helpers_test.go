package catalog

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"excloud.dev/buckets/catalog/kv/pgkv"
	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/internal/pgtest"
)

var ctx = context.Background()

func testKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// openTest opens a real catalog in dir with a small memtable: tests open many.
func openTest(t testing.TB, dir string, key []byte) *DB {
	t.Helper()
	db, err := Open(Options{Dir: dir, EncryptionKey: key, memTableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// newTestDB opens a fresh catalog: Badger in a temporary directory, or,
// under EXC_TEST_CATALOG=postgres, a fresh PostgreSQL database, so the
// catalog's semantics are tested on both engines (tests of Badger itself
// use openTest).
func newTestDB(t testing.TB) *DB {
	t.Helper()
	var db *DB
	if url := pgtest.CatalogURL(t); url != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		eng, err := pgkv.Open(ctx, url, pgkv.Options{Key: testKey()})
		if err != nil {
			t.Fatal(err)
		}
		if db, err = OpenEngine(eng, nil); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	return newLocalTestDB(t)
}

// newLocalTestDB opens a fresh Badger catalog whatever EXC_TEST_CATALOG
// says, for what only a catalog alone on its engine does (the listing
// read-ahead).
func newLocalTestDB(t testing.TB) *DB {
	t.Helper()
	db := openTest(t, t.TempDir(), testKey())
	t.Cleanup(func() { db.Close() })
	return db
}

// newTestBucket opens a catalog with one org and one bucket.
func newTestBucket(t testing.TB) (*DB, Bucket) {
	t.Helper()
	return bucketIn(t, newTestDB(t))
}

// newLocalTestBucket is newTestBucket on newLocalTestDB.
func newLocalTestBucket(t testing.TB) (*DB, Bucket) {
	t.Helper()
	return bucketIn(t, newLocalTestDB(t))
}

func bucketIn(t testing.TB, db *DB) (*DB, Bucket) {
	t.Helper()
	org, err := db.CreateOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	b, err := db.CreateBucket(ctx, org.ID, "photos")
	if err != nil {
		t.Fatal(err)
	}
	return db, b
}

// chunk returns a deterministic chunk id for n.
func chunk(n int) chunkstore.ID {
	return sha256.Sum256([]byte(fmt.Sprint("chunk", n)))
}

// manifest returns a manifest over the given chunks (repeats allowed), with
// etag as its ETag.
func manifest(etag string, chunks ...int) *Manifest {
	m := &Manifest{ETag: `"` + etag + `"`, ModTime: time.Unix(1700000000, 5).UTC()}
	for i, c := range chunks {
		m.Extents = append(m.Extents, Extent{Chunk: chunk(c), Offset: int64(i), Length: 10})
		m.Size += 10
	}
	return m
}

func mustPut(t testing.TB, db *DB, b Bucket, key string, m *Manifest) {
	t.Helper()
	if _, err := db.PutObject(ctx, b, key, m, Condition{}); err != nil {
		t.Fatal(err)
	}
}

func refCount(t testing.TB, db *DB, c int) int64 {
	t.Helper()
	n, err := db.RefCount(ctx, chunk(c))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
