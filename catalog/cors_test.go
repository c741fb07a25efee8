package catalog

import (
	"errors"
	"reflect"
	"testing"
)

// CORS rules are part of the bucket record: they survive a reopen, go with
// the bucket when it is deleted, and a nil set removes them.
func TestBucketCORSStored(t *testing.T) {
	dir, key := t.TempDir(), testKey()
	db := openTest(t, dir, key)
	org, err := db.CreateOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateBucket(ctx, org.ID, "photos"); err != nil {
		t.Fatal(err)
	}
	age := 3000
	rules := []CORSRule{
		{ID: "uploads", AllowedOrigins: []string{"https://app.example.com"}, AllowedMethods: []string{"PUT", "POST"},
			AllowedHeaders: []string{"*"}, ExposeHeaders: []string{"ETag"}, MaxAgeSeconds: &age},
		{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}},
	}
	if err := db.SetBucketCORS(ctx, org.ID, "photos", rules); err != nil {
		t.Fatal(err)
	}
	if err := db.SetBucketCORS(ctx, org.ID, "nope", rules); !errors.Is(err, ErrNoSuchBucket) {
		t.Errorf("set on a missing bucket: %v", err)
	}
	db.Close()
	db = openTest(t, dir, key)
	defer db.Close()
	b, err := db.Bucket(ctx, org.ID, "photos")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b.CORS, rules) {
		t.Errorf("after reopen: %+v", b.CORS)
	}
	if err := db.SetBucketCORS(ctx, org.ID, "photos", nil); err != nil {
		t.Fatal(err)
	}
	if bs, err := db.ListBuckets(ctx, org.ID); err != nil || len(bs) != 1 || bs[0].CORS != nil {
		t.Errorf("after delete: %+v, %v", bs, err)
	}
}
