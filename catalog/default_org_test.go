package catalog

import (
	"errors"
	"testing"

	"excloud.dev/buckets/catalog/kv"
)

func defaultOrgName(t *testing.T, db *DB) string {
	t.Helper()
	o, err := db.DefaultOrg(ctx)
	if errors.Is(err, ErrNoDefaultOrg) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return o.Name
}

func createOrgs(t *testing.T, db *DB, names ...string) map[string]Org {
	t.Helper()
	orgs := map[string]Org{}
	for _, n := range names {
		o, err := db.CreateOrg(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		orgs[n] = o
	}
	return orgs
}

// The default org is the first org created, whatever orgs created later
// are called; it survives a reopen, and deleting it leaves none rather than
// promoting another org.
func TestDefaultOrgIsTheFirstCreated(t *testing.T) {
	dir, key := t.TempDir(), testKey()
	db := openTest(t, dir, key)
	if _, err := db.DefaultOrg(ctx); !errors.Is(err, ErrNoDefaultOrg) {
		t.Fatalf("empty catalog: DefaultOrg = %v, want ErrNoDefaultOrg", err)
	}
	orgs := createOrgs(t, db, "mid", "acme", "zeta", "default")
	if got := defaultOrgName(t, db); got != "mid" {
		t.Fatalf("default org %q, want mid (the first created)", got)
	}
	db.Close()
	db = openTest(t, dir, key)
	defer db.Close()
	if got := defaultOrgName(t, db); got != "mid" {
		t.Fatalf("after reopen: default org %q, want mid", got)
	}
	if err := db.DeleteOrg(ctx, orgs["mid"].ID); err != nil {
		t.Fatal(err)
	}
	if got := defaultOrgName(t, db); got != "" {
		t.Fatalf("default org deleted: DefaultOrg is %q, want none", got)
	}
	createOrgs(t, db, "aaa")
	if got := defaultOrgName(t, db); got != "" {
		t.Fatalf("org created after the default was deleted became the default: %q", got)
	}
	for _, n := range []string{"acme", "zeta", "default", "aaa"} {
		o, err := db.Org(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteOrg(ctx, o.ID); err != nil {
			t.Fatal(err)
		}
	}
	// No org left: the next one is a first org again.
	createOrgs(t, db, "zz")
	if got := defaultOrgName(t, db); got != "zz" {
		t.Fatalf("first org of an emptied catalog: default %q, want zz", got)
	}
}

// dropDefaultRecord turns db into a catalog written before the default-org
// record existed.
func dropDefaultRecord(t *testing.T, db *DB) {
	t.Helper()
	if err := db.eng.Update(ctx, kv.WriteOptions{}, func(txn kv.Txn) error { return txn.Delete(keyDefaultOrg) }); err != nil {
		t.Fatal(err)
	}
}

// A catalog from before the record: the org named "default" (what every
// earlier first start created) is the default, never the first by name, and
// the first org created afterwards writes that answer down. Without such an
// org there is no default, and creating one called "default" later does not
// make it one.
func TestDefaultOrgOfOlderCatalogs(t *testing.T) {
	t.Run("with an org named default", func(t *testing.T) {
		db := newTestDB(t)
		orgs := createOrgs(t, db, "default", "acme")
		dropDefaultRecord(t, db)
		if got := defaultOrgName(t, db); got != "default" {
			t.Fatalf("legacy catalog: default org %q, want default", got)
		}
		createOrgs(t, db, "aaa")
		if got := defaultOrgName(t, db); got != "default" {
			t.Fatalf("after creating aaa: default org %q, want default", got)
		}
		var id []byte
		err := db.view(ctx, func(txn kv.Reader) error {
			var err error
			id, err = getValue(txn, keyDefaultOrg)
			return err
		})
		if err != nil || string(id) != orgs["default"].ID {
			t.Fatalf("record after CreateOrg: %q, %v; want %s", id, err, orgs["default"].ID)
		}
	})
	t.Run("without one", func(t *testing.T) {
		db := newTestDB(t)
		createOrgs(t, db, "zeta", "acme")
		dropDefaultRecord(t, db)
		if got := defaultOrgName(t, db); got != "" {
			t.Fatalf("legacy catalog without an org named default: default org %q, want none", got)
		}
		createOrgs(t, db, "default")
		if got := defaultOrgName(t, db); got != "" {
			t.Fatalf("an org named default created later became the default")
		}
	})
}
