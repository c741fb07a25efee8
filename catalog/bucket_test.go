package catalog

import (
	"errors"
	"reflect"
	"regexp"
	"testing"
)

func TestOrgs(t *testing.T) {
	db := newTestDB(t)
	zeta, err := db.CreateOrg(ctx, "zeta")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^o[a-z2-7]{12}$`).MatchString(zeta.ID) {
		t.Fatalf("org id %q", zeta.ID)
	}
	alpha, _ := db.CreateOrg(ctx, "alpha")
	if _, err := db.CreateOrg(ctx, "zeta"); !errors.Is(err, ErrOrgExists) {
		t.Fatalf("duplicate org: %v", err)
	}
	for _, q := range []string{zeta.ID, "zeta"} {
		if got, err := db.Org(ctx, q); err != nil || !reflect.DeepEqual(got, zeta) {
			t.Fatalf("Org(%q) = %+v %v", q, got, err)
		}
	}
	if _, err := db.Org(ctx, "nope"); !errors.Is(err, ErrNoSuchOrg) {
		t.Fatalf("missing org: %v", err)
	}
	orgs, err := db.ListOrgs(ctx)
	if err != nil || len(orgs) != 2 || orgs[0].Name != "alpha" || orgs[1].Name != "zeta" {
		t.Fatalf("ListOrgs = %+v %v", orgs, err)
	}

	// Access keys.
	k, err := db.CreateAccessKey(ctx, AccessKey{OrgID: zeta.ID, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^EXC[A-Z0-9]{17}$`).MatchString(k.ID) || !regexp.MustCompile(`^[A-Za-z0-9+/]{40}$`).MatchString(k.Secret) {
		t.Fatalf("generated key %q secret %q", k.ID, k.Secret)
	}
	seeded, err := db.CreateAccessKey(ctx, AccessKey{ID: "EXCSEEDED", Secret: "s3cr3t", OrgID: zeta.ID})
	if err != nil || seeded.ID != "EXCSEEDED" || seeded.Secret != "s3cr3t" {
		t.Fatalf("seeded key: %+v %v", seeded, err)
	}
	if _, err := db.CreateAccessKey(ctx, AccessKey{ID: "EXCSEEDED", OrgID: alpha.ID}); !errors.Is(err, ErrAccessKeyExists) {
		t.Fatalf("duplicate key id: %v", err)
	}
	if _, err := db.CreateAccessKey(ctx, AccessKey{OrgID: "onosuchorgxxx"}); !errors.Is(err, ErrNoSuchOrg) {
		t.Fatalf("key for a missing org: %v", err)
	}
	if got, err := db.AccessKey(ctx, k.ID); err != nil || !reflect.DeepEqual(got, k) {
		t.Fatalf("AccessKey = %+v %v", got, err)
	}
	if _, err := db.AccessKey(ctx, "EXCNOPE"); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("missing key: %v", err)
	}
	alphaKey, _ := db.CreateAccessKey(ctx, AccessKey{OrgID: alpha.ID})
	keys, err := db.ListAccessKeys(ctx, zeta.ID)
	if err != nil || len(keys) != 2 {
		t.Fatalf("ListAccessKeys = %+v %v", keys, err)
	}
	if err := db.DeleteAccessKey(ctx, seeded.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteAccessKey(ctx, seeded.ID); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("second delete: %v", err)
	}

	// DeleteOrg: refused while it has a bucket, then takes its keys along.
	if _, err := db.CreateBucket(ctx, zeta.ID, "b"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteOrg(ctx, zeta.ID); !errors.Is(err, ErrOrgNotEmpty) {
		t.Fatalf("delete of an org with a bucket: %v", err)
	}
	if err := db.DeleteBucket(ctx, zeta.ID, "b"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteOrg(ctx, zeta.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AccessKey(ctx, k.ID); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("key of a deleted org: %v", err)
	}
	if _, err := db.AccessKey(ctx, alphaKey.ID); err != nil {
		t.Fatalf("other org's key: %v", err)
	}
	if _, err := db.Org(ctx, "zeta"); !errors.Is(err, ErrNoSuchOrg) {
		t.Fatalf("deleted org by name: %v", err)
	}
	if _, err := db.CreateOrg(ctx, "zeta"); err != nil {
		t.Fatalf("name of a deleted org: %v", err)
	}
}

func TestBucketNotEmpty(t *testing.T) {
	db, b := newTestBucket(t)
	mustPut(t, db, b, "k", manifest("x", 1))
	if err := db.DeleteBucket(ctx, b.OrgID, b.Name); !errors.Is(err, ErrBucketNotEmpty) {
		t.Fatalf("delete with an object: %v", err)
	}
	mustDelete(t, db, b, "k")
	u, err := db.CreateUpload(ctx, b, "big", Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteBucket(ctx, b.OrgID, b.Name); !errors.Is(err, ErrBucketNotEmpty) {
		t.Fatalf("delete with an upload: %v", err)
	}
	if err := db.AbortUpload(ctx, b, u.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteBucket(ctx, b.OrgID, b.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Bucket(ctx, b.OrgID, b.Name); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("deleted bucket: %v", err)
	}
	if err := db.DeleteBucket(ctx, b.OrgID, b.Name); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestBuckets(t *testing.T) {
	db := newTestDB(t)
	a, _ := db.CreateOrg(ctx, "a")
	c, _ := db.CreateOrg(ctx, "c")
	if _, err := db.CreateBucket(ctx, "onosuchorgxxx", "x"); !errors.Is(err, ErrNoSuchOrg) {
		t.Fatalf("bucket in a missing org: %v", err)
	}
	ab, err := db.CreateBucket(ctx, a.ID, "shared")
	if err != nil {
		t.Fatal(err)
	}
	cb, err := db.CreateBucket(ctx, c.ID, "shared")
	if err != nil {
		t.Fatal(err)
	}
	if ab.ID == cb.ID {
		t.Fatal("same id for buckets of two orgs")
	}
	if _, err := db.CreateBucket(ctx, a.ID, "shared"); !errors.Is(err, ErrBucketExists) {
		t.Fatalf("duplicate bucket: %v", err)
	}
	db.CreateBucket(ctx, a.ID, "alpha")
	mustPut(t, db, ab, "only-in-a", manifest("x"))
	mustPut(t, db, cb, "only-in-c", manifest("y"))

	as, _ := db.ListBuckets(ctx, a.ID)
	cs, _ := db.ListBuckets(ctx, c.ID)
	if len(as) != 2 || as[0].Name != "alpha" || as[1].Name != "shared" || len(cs) != 1 || cs[0].ID != cb.ID {
		t.Fatalf("ListBuckets: %+v / %+v", as, cs)
	}
	la, _ := db.List(ctx, ab.ID, ListOptions{})
	lc, _ := db.List(ctx, cb.ID, ListOptions{})
	if len(la.Objects) != 1 || la.Objects[0].Key != "only-in-a" || len(lc.Objects) != 1 || lc.Objects[0].Key != "only-in-c" {
		t.Fatalf("listings not disjoint: %+v / %+v", la, lc)
	}
	if _, err := db.ListBuckets(ctx, "onosuchorgxxx"); !errors.Is(err, ErrNoSuchOrg) {
		t.Fatalf("ListBuckets of a missing org: %v", err)
	}
	if err := db.SetBucketPublic(ctx, a.ID, "shared", true); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Bucket(ctx, a.ID, "shared"); !got.Public {
		t.Fatal("not public")
	}
	if got, _ := db.Bucket(ctx, c.ID, "shared"); got.Public {
		t.Fatal("other org's bucket became public")
	}

	st, err := db.Stats(ctx)
	if err != nil || st.Orgs[a.ID].Objects != 1 || st.Orgs[a.ID].Buckets != 2 || st.Orgs[c.ID].Objects != 1 || st.Orgs[a.ID].Name != "a" {
		t.Fatalf("Stats = %+v %v", st, err)
	}
}
