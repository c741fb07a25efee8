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
