package catalog

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// prereadSetup: two nodes on one PostgreSQL database, an org with an access
// key, a bucket and an object, and node b's hints warmed by one request's
// reads (so Preread reads all three records at once).
func prereadSetup(t *testing.T) (a, b *DB, key AccessKey, bk Bucket) {
	t.Helper()
	a, b = pgNodes(t)
	org, err := a.CreateOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if key, err = a.CreateAccessKey(ctx, AccessKey{OrgID: org.ID}); err != nil {
		t.Fatal(err)
	}
	if bk, err = a.CreateBucket(ctx, org.ID, "photos"); err != nil {
		t.Fatal(err)
	}
	mustPut(t, a, bk, "k", manifest("v1", 1))
	request(t, b, key.ID, "photos", "k")
	return a, b, key, bk
}

// request reads what an S3 GET does, through Preread, and returns the
// object's ETag ("" when the key, bucket or object is missing).
func request(t *testing.T, db *DB, keyID, bucket, key string) string {
	t.Helper()
	rctx := db.Preread(ctx, keyID, bucket, key)
	k, err := db.AccessKey(rctx, keyID)
	if errors.Is(err, ErrNoSuchKey) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	bk, err := db.Bucket(rctx, k.OrgID, bucket)
	if errors.Is(err, ErrNoSuchBucket) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	m, err := db.Object(rctx, bk.ID, key)
	if errors.Is(err, ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Trim(m.ETag, `"`)
}

// What node a changed before a request began is what node b's request
// reads, whatever b's hints still say: a new version, a revoked key, a
// bucket deleted and made again (another id).
func TestPrereadSeesOtherNodesChanges(t *testing.T) {
	a, b, key, bk := prereadSetup(t)
	if got := request(t, b, key.ID, "photos", "k"); got != "v1" {
		t.Fatalf("first read: %q, want v1", got)
	}
	mustPut(t, a, bk, "k", manifest("v2", 2))
	if got := request(t, b, key.ID, "photos", "k"); got != "v2" {
		t.Fatalf("after node a's overwrite: %q, want v2", got)
	}
	if _, err := a.DeleteObject(ctx, bk, "k"); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteBucket(ctx, key.OrgID, "photos"); err != nil {
		t.Fatal(err)
	}
	if got := request(t, b, key.ID, "photos", "k"); got != "" {
		t.Fatalf("bucket deleted on node a: node b read %q", got)
	}
	bk2, err := a.CreateBucket(ctx, key.OrgID, "photos")
	if err != nil {
		t.Fatal(err)
	}
	if bk2.ID == bk.ID {
		t.Fatal("the bucket made again kept its id")
	}
	mustPut(t, a, bk2, "k", manifest("v3", 3))
	// b's hint names the old id: its guess is of no use, never wrong.
	if got := request(t, b, key.ID, "photos", "k"); got != "v3" {
		t.Fatalf("bucket made again on node a: node b read %q, want v3", got)
	}
	if got := request(t, b, key.ID, "photos", "k"); got != "v3" {
		t.Fatalf("again, hints updated: %q, want v3", got)
	}
	if err := a.DeleteAccessKey(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AccessKey(b.Preread(ctx, key.ID, "photos", "k"), key.ID); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("key revoked on node a: node b's lookup: %v, want ErrNoSuchKey", err)
	}
}

// A request's reads come from one snapshot taken as it began (an object
// written meanwhile by another node is the next request's), each record
// once; and after the request writes through the catalog its reads see
// the write, not the snapshot.
func TestPrereadSnapshotAndOwnWrites(t *testing.T) {
	a, b, key, bk := prereadSetup(t)
	rctx := b.Preread(ctx, key.ID, "photos", "k")
	mustPut(t, a, bk, "k", manifest("v2", 2))
	if m, err := b.Object(rctx, bk.ID, "k"); err != nil || m.ETag != `"v1"` {
		t.Fatalf("read of the request's snapshot: %v %v, want v1 (read as the request began)", m, err)
	}
	if m, err := b.Object(rctx, bk.ID, "k"); err != nil || m.ETag != `"v2"` {
		t.Fatalf("second read in the request: %v %v, want v2 (a record is served once)", m, err)
	}

	rctx = b.Preread(ctx, key.ID, "photos", "k")
	wctx, cancel := context.WithCancel(rctx) // a context derived from the request's
	defer cancel()
	if _, err := b.PutObject(wctx, bk, "k", manifest("v3", 3), Condition{}); err != nil {
		t.Fatal(err)
	}
	if m, err := b.Object(rctx, bk.ID, "k"); err != nil || m.ETag != `"v3"` {
		t.Fatalf("read after the request's own write: %v %v, want v3", m, err)
	}

	// Another catalog's snapshot is not this one's.
	rctx = a.Preread(ctx, key.ID, "photos", "k")
	mustPut(t, a, bk, "k", manifest("v4", 4))
	if m, err := b.Object(rctx, bk.ID, "k"); err != nil || m.ETag != `"v4"` {
		t.Fatalf("node b read node a's request snapshot: %v %v, want v4", m, err)
	}
}
