package catalog

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"excloud.dev/buckets/catalog/kv/badgerkv"
)

// Two catalogs on one engine stand for two excd nodes sharing one database:
// each has its own in-process locks, caches and feed, so only what goes
// through the engine (kv.Txn.Lock, conflicts) keeps them consistent. The
// races below are the decisions that used to rest on one process's locks.
func openShared(t *testing.T) (a, b *DB) {
	t.Helper()
	eng, err := badgerkv.Open(badgerkv.Options{Dir: t.TempDir(), EncryptionKey: testKey(), MemTableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if a, err = OpenEngine(eng, slog.Default()); err != nil {
		t.Fatal(err)
	}
	if b, err = OpenEngine(eng, slog.Default()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.Close() // the engine is shared: the second close reports it closed
		a.Close()
	})
	return a, b
}

// race runs f and g at once and waits for both.
func race(f, g func()) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); f() }()
	go func() { defer wg.Done(); g() }()
	wg.Wait()
}

const sharedRounds = 100

// DeleteBucket on one node while another PUTs into the bucket: the PUT
// fails or the delete does, never an object in a deleted bucket.
func TestSharedEngineDeleteBucketRacingPut(t *testing.T) {
	a, b := openShared(t)
	org, err := a.CreateOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for r := range sharedRounds {
		bk, err := a.CreateBucket(ctx, org.ID, fmt.Sprint("b", r))
		if err != nil {
			t.Fatal(err)
		}
		var putErr, delErr error
		race(func() { _, putErr = b.PutObject(ctx, bk, "k", manifest("e", r), Condition{}) },
			func() { delErr = a.DeleteBucket(ctx, org.ID, bk.Name) })
		if putErr != nil && !errors.Is(putErr, ErrNoSuchBucket) {
			t.Fatalf("round %d: put: %v", r, putErr)
		}
		if delErr != nil && !errors.Is(delErr, ErrBucketNotEmpty) {
			t.Fatalf("round %d: delete: %v", r, delErr)
		}
		_, objErr := a.Object(ctx, bk.ID, "k")
		if delErr == nil && !errors.Is(objErr, ErrNotFound) {
			t.Fatalf("round %d: bucket deleted with an object in it (put: %v)", r, putErr)
		}
		if putErr == nil && delErr == nil {
			t.Fatalf("round %d: both the put and the delete succeeded", r)
		}
	}
}

// CompleteMultipartUpload on one node racing UploadPart on another: the
// part is either in the upload when it completes (and released with it) or
// refused; it never lingers, referencing its chunk, in a finished upload.
func TestSharedEngineCompleteRacingPutPart(t *testing.T) {
	a, b := openShared(t)
	org, err := a.CreateOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	bk, err := a.CreateBucket(ctx, org.ID, "photos")
	if err != nil {
		t.Fatal(err)
	}
	for r := range sharedRounds {
		u, err := a.CreateUpload(ctx, bk, fmt.Sprint("k", r), Manifest{})
		if err != nil {
			t.Fatal(err)
		}
		c1, c2 := 1000+2*r, 1001+2*r
		if _, err := a.PutPart(ctx, bk, u.ID, part(1, "p1", c1)); err != nil {
			t.Fatal(err)
		}
		var partErr, doneErr error
		race(func() { _, partErr = b.PutPart(ctx, bk, u.ID, part(2, "p2", c2)) },
			func() { _, doneErr = a.CompleteUpload(ctx, bk, u.ID, manifest("final", c1), Condition{}) })
		if doneErr != nil {
			t.Fatalf("round %d: complete: %v", r, doneErr)
		}
		if partErr != nil && !errors.Is(partErr, ErrNoSuchUpload) {
			t.Fatalf("round %d: put part: %v", r, partErr)
		}
		if n := refCount(t, a, c2); n != 0 {
			t.Fatalf("round %d: a part put during Complete outlived its upload (chunk count %d, put part: %v)", r, n, partErr)
		}
		if parts, _, err := a.ListParts(ctx, bk.ID, u.ID, 0, 0); !errors.Is(err, ErrNoSuchUpload) {
			t.Fatalf("round %d: upload still listed after Complete: %d parts, %v", r, len(parts), err)
		}
	}
}

// An org deleted on one node while another creates a bucket or an access
// key in it: never a bucket or key of a deleted org.
func TestSharedEngineDeleteOrgRacingCreates(t *testing.T) {
	a, b := openShared(t)
	for r := range sharedRounds {
		org, err := a.CreateOrg(ctx, fmt.Sprint("org", r))
		if err != nil {
			t.Fatal(err)
		}
		var bucketErr, keyErr, delErr error
		var key AccessKey
		race(func() {
			_, bucketErr = b.CreateBucket(ctx, org.ID, "x")
			key, keyErr = b.CreateAccessKey(ctx, AccessKey{OrgID: org.ID})
		}, func() { delErr = a.DeleteOrg(ctx, org.ID) })
		if delErr != nil {
			if !errors.Is(delErr, ErrOrgNotEmpty) {
				t.Fatalf("round %d: delete org: %v", r, delErr)
			}
			continue // the bucket came first
		}
		if _, err := a.Bucket(ctx, org.ID, "x"); !errors.Is(err, ErrNoSuchBucket) {
			t.Fatalf("round %d: org deleted with a bucket in it (create bucket: %v)", r, bucketErr)
		}
		if keyErr == nil {
			if _, err := a.AccessKey(ctx, key.ID); !errors.Is(err, ErrNoSuchKey) {
				t.Fatalf("round %d: an access key of a deleted org survives: %v", r, err)
			}
		} else if !errors.Is(keyErr, ErrNoSuchOrg) {
			t.Fatalf("round %d: create key: %v", r, keyErr)
		}
	}
}

// Two conditional creates of one key on two nodes: exactly one wins.
func TestSharedEngineConditionalCreates(t *testing.T) {
	a, b := openShared(t)
	org, err := a.CreateOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	bk, err := a.CreateBucket(ctx, org.ID, "photos")
	if err != nil {
		t.Fatal(err)
	}
	for r := range sharedRounds {
		key := fmt.Sprint("k", r)
		var errA, errB error
		race(func() { _, errA = a.PutObject(ctx, bk, key, manifest("a", 1), Condition{IfNoneMatchAny: true}) },
			func() { _, errB = b.PutObject(ctx, bk, key, manifest("b", 2), Condition{IfNoneMatchAny: true}) })
		won := 0
		for _, err := range []error{errA, errB} {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, ErrPreconditionFailed):
				t.Fatalf("round %d: %v", r, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d conditional creates of one key succeeded (%v, %v)", r, won, errA, errB)
		}
	}
}
