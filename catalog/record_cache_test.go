package catalog

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// Bucket answers from a cache; every change to a bucket record must show
// in the next lookup, including a delete and re-create under the same name
// (a new id), and lookups racing the changes must not leave a stale entry.
func TestBucketLookupSeesChanges(t *testing.T) {
	db, b := newTestBucket(t)
	ctx := context.Background()
	if got, err := db.Bucket(ctx, b.OrgID, b.Name); err != nil || got.ID != b.ID {
		t.Fatalf("Bucket = %+v, %v", got, err)
	}
	if err := db.SetBucketPublic(ctx, b.OrgID, b.Name, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Bucket(ctx, b.OrgID, b.Name); !got.Public {
		t.Fatal("SetBucketPublic not seen by Bucket")
	}
	if err := db.DeleteBucket(ctx, b.OrgID, b.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Bucket(ctx, b.OrgID, b.Name); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("Bucket after delete = %v, want ErrNoSuchBucket", err)
	}
	nb, err := db.CreateBucket(ctx, b.OrgID, b.Name)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := db.Bucket(ctx, b.OrgID, b.Name); err != nil || got.ID != nb.ID || got.ID == b.ID || got.Public {
		t.Fatalf("Bucket after re-create = %+v, %v; want id %d, private", got, err, nb.ID)
	}

	// Lookups racing deletes and re-creates: once the writers stop, the
	// answer is the final state.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					db.Bucket(ctx, b.OrgID, b.Name)
				}
			}
		}()
	}
	var last Bucket
	for range 50 {
		if err := db.DeleteBucket(ctx, b.OrgID, b.Name); err != nil {
			t.Fatal(err)
		}
		if last, err = db.CreateBucket(ctx, b.OrgID, b.Name); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if got, err := db.Bucket(ctx, b.OrgID, b.Name); err != nil || got.ID != last.ID {
		t.Fatalf("after racing lookups Bucket = %+v, %v; want id %d", got, err, last.ID)
	}
}

// AccessKey answers from a cache too; a deleted key must stop
// authenticating the moment DeleteAccessKey or DeleteOrg returns, and a key
// re-created under the same id must be seen with its new secret.
func TestAccessKeyLookupSeesChanges(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	org, err := db.CreateOrg(ctx, "keys")
	if err != nil {
		t.Fatal(err)
	}
	const id = "EXCCACHE000000000001"
	k, err := db.CreateAccessKey(ctx, AccessKey{ID: id, OrgID: org.ID})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second lookup is the cached one
		if got, err := db.AccessKey(ctx, id); err != nil || got.Secret != k.Secret {
			t.Fatalf("AccessKey = %+v, %v", got, err)
		}
	}
	if err := db.DeleteAccessKey(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AccessKey(ctx, id); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("AccessKey after delete = %v, want ErrNoSuchKey", err)
	}
	k2, err := db.CreateAccessKey(ctx, AccessKey{ID: id, OrgID: org.ID, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if k2.Secret == k.Secret {
		t.Fatal("re-created key has the old secret")
	}
	if got, err := db.AccessKey(ctx, id); err != nil || got.Secret != k2.Secret || !got.ReadOnly {
		t.Fatalf("AccessKey after re-create = %+v, %v; want the new secret, read-only", got, err)
	}
	if err := db.DeleteOrg(ctx, org.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AccessKey(ctx, id); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("AccessKey after its org's deletion = %v, want ErrNoSuchKey", err)
	}
}
