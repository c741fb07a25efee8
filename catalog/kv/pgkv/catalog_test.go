package pgkv

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/internal/pgtest"
)

// The catalog on PostgreSQL, as two excd nodes run it: two engines (each
// its own connection pool, as in two processes) and two catalogs on one
// database. Only the database (locks, conflicts) keeps them consistent;
// these are the races of catalog/shared_engine_test.go, across engines.
func twoNodes(t *testing.T) (a, b *catalog.DB) {
	t.Helper()
	url := pgtest.DB(t)
	for _, db := range []**catalog.DB{&a, &b} {
		e := open(t, url, Options{})
		c, err := catalog.OpenEngine(e, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		*db = c
	}
	return a, b
}

const nodeRounds = 30

var bg = context.Background()

func chunkID(n int) chunkstore.ID { return sha256.Sum256([]byte(fmt.Sprint("chunk", n))) }

func manifest(etag string, chunks ...int) *catalog.Manifest {
	m := &catalog.Manifest{ETag: `"` + etag + `"`, ModTime: time.Unix(1700000000, 5).UTC()}
	for i, c := range chunks {
		m.Extents = append(m.Extents, catalog.Extent{Chunk: chunkID(c), Offset: int64(i), Length: 10})
		m.Size += 10
	}
	return m
}

func race(f, g func()) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); f() }()
	go func() { defer wg.Done(); g() }()
	wg.Wait()
}

func TestCatalogReadAfterWriteAcrossNodes(t *testing.T) {
	a, b := twoNodes(t)
	org, err := a.CreateOrg(bg, "acme")
	if err != nil {
		t.Fatal(err)
	}
	bk, err := a.CreateBucket(bg, org.ID, "photos")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Bucket(bg, org.ID, "photos"); err != nil {
		t.Fatalf("node b does not see the bucket node a created: %v", err)
	}
	if _, err := a.PutObject(bg, bk, "cat.jpg", manifest("v1", 1), catalog.Condition{}); err != nil {
		t.Fatal(err)
	}
	m, err := b.Object(bg, bk.ID, "cat.jpg")
	if err != nil || m.ETag != `"v1"` {
		t.Fatalf("node b reads %+v, %v after node a's PUT", m, err)
	}
	if _, err := b.PutObject(bg, bk, "cat.jpg", manifest("v2", 2), catalog.Condition{}); err != nil {
		t.Fatal(err)
	}
	if m, err := a.Object(bg, bk.ID, "cat.jpg"); err != nil || m.ETag != `"v2"` {
		t.Fatalf("node a reads %+v, %v after node b's overwrite", m, err)
	}
	if n, err := a.RefCount(bg, chunkID(1)); err != nil || n != 0 {
		t.Fatalf("the overwritten object's chunk: count %d, %v", n, err)
	}
}

func TestCatalogDeleteBucketRacingPutAcrossNodes(t *testing.T) {
	a, b := twoNodes(t)
	org, err := a.CreateOrg(bg, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for r := range nodeRounds {
		bk, err := a.CreateBucket(bg, org.ID, fmt.Sprint("b", r))
		if err != nil {
			t.Fatal(err)
		}
		var putErr, delErr error
		race(func() { _, putErr = b.PutObject(bg, bk, "k", manifest("e", r), catalog.Condition{}) },
			func() { delErr = a.DeleteBucket(bg, org.ID, bk.Name) })
		if putErr != nil && !errors.Is(putErr, catalog.ErrNoSuchBucket) {
			t.Fatalf("round %d: put: %v", r, putErr)
		}
		if delErr != nil && !errors.Is(delErr, catalog.ErrBucketNotEmpty) {
			t.Fatalf("round %d: delete: %v", r, delErr)
		}
		if _, objErr := a.Object(bg, bk.ID, "k"); delErr == nil && !errors.Is(objErr, catalog.ErrNotFound) {
			t.Fatalf("round %d: bucket deleted with an object in it (put: %v)", r, putErr)
		}
		if putErr == nil && delErr == nil {
			t.Fatalf("round %d: both the put and the delete succeeded", r)
		}
	}
}

func TestCatalogConditionalCreatesAcrossNodes(t *testing.T) {
	a, b := twoNodes(t)
	org, err := a.CreateOrg(bg, "acme")
	if err != nil {
		t.Fatal(err)
	}
	bk, err := a.CreateBucket(bg, org.ID, "photos")
	if err != nil {
		t.Fatal(err)
	}
	for r := range nodeRounds {
		key := fmt.Sprint("k", r)
		var errA, errB error
		race(func() { _, errA = a.PutObject(bg, bk, key, manifest("a", 1), catalog.Condition{IfNoneMatchAny: true}) },
			func() { _, errB = b.PutObject(bg, bk, key, manifest("b", 2), catalog.Condition{IfNoneMatchAny: true}) })
		won := 0
		for _, err := range []error{errA, errB} {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, catalog.ErrPreconditionFailed):
				t.Fatalf("round %d: %v", r, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d conditional creates of one key succeeded (%v, %v)", r, won, errA, errB)
		}
	}
}

func TestCatalogCompleteRacingPutPartAcrossNodes(t *testing.T) {
	a, b := twoNodes(t)
	org, err := a.CreateOrg(bg, "acme")
	if err != nil {
		t.Fatal(err)
	}
	bk, err := a.CreateBucket(bg, org.ID, "photos")
	if err != nil {
		t.Fatal(err)
	}
	part := func(n int, etag string, chunks ...int) catalog.UploadPart {
		m := manifest(etag, chunks...)
		return catalog.UploadPart{Number: n, Size: m.Size, ETag: m.ETag, ModTime: m.ModTime, Extents: m.Extents}
	}
	for r := range nodeRounds {
		u, err := a.CreateUpload(bg, bk, fmt.Sprint("k", r), catalog.Manifest{})
		if err != nil {
			t.Fatal(err)
		}
		c1, c2 := 1000+2*r, 1001+2*r
		if _, err := a.PutPart(bg, bk, u.ID, part(1, "p1", c1)); err != nil {
			t.Fatal(err)
		}
		var partErr, doneErr error
		race(func() { _, partErr = b.PutPart(bg, bk, u.ID, part(2, "p2", c2)) },
			func() { _, doneErr = a.CompleteUpload(bg, bk, u.ID, manifest("final", c1), catalog.Condition{}) })
		if doneErr != nil {
			t.Fatalf("round %d: complete: %v", r, doneErr)
		}
		if partErr != nil && !errors.Is(partErr, catalog.ErrNoSuchUpload) {
			t.Fatalf("round %d: put part: %v", r, partErr)
		}
		if n, err := a.RefCount(bg, chunkID(c2)); err != nil || n != 0 {
			t.Fatalf("round %d: a part put during Complete outlived its upload (chunk count %d, %v; put part: %v)", r, n, err, partErr)
		}
	}
}

func TestCatalogDeleteOrgRacingCreatesAcrossNodes(t *testing.T) {
	a, b := twoNodes(t)
	for r := range nodeRounds {
		org, err := a.CreateOrg(bg, fmt.Sprint("org", r))
		if err != nil {
			t.Fatal(err)
		}
		var bucketErr, keyErr, delErr error
		var key catalog.AccessKey
		race(func() {
			_, bucketErr = b.CreateBucket(bg, org.ID, "x")
			key, keyErr = b.CreateAccessKey(bg, catalog.AccessKey{OrgID: org.ID})
		}, func() { delErr = a.DeleteOrg(bg, org.ID) })
		if delErr != nil {
			if !errors.Is(delErr, catalog.ErrOrgNotEmpty) {
				t.Fatalf("round %d: delete org: %v", r, delErr)
			}
			continue
		}
		if _, err := a.Bucket(bg, org.ID, "x"); !errors.Is(err, catalog.ErrNoSuchBucket) {
			t.Fatalf("round %d: org deleted with a bucket in it (create bucket: %v)", r, bucketErr)
		}
		if keyErr == nil {
			if _, err := a.AccessKey(bg, key.ID); !errors.Is(err, catalog.ErrNoSuchKey) {
				t.Fatalf("round %d: an access key of a deleted org survives: %v", r, err)
			}
		} else if !errors.Is(keyErr, catalog.ErrNoSuchOrg) {
			t.Fatalf("round %d: create key: %v", r, keyErr)
		}
	}
}
