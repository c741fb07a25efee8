package catalog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"excloud.dev/buckets/catalog/kv"
)

var orgIDEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newOrgID returns "o" + 12 lowercase base32 characters (60 random bits).
func newOrgID() string {
	var b [8]byte
	rand.Read(b[:])
	return "o" + strings.ToLower(orgIDEncoding.EncodeToString(b[:]))[:12]
}

// ValidOrgID reports whether id has the shape CreateOrg gives ids: "o" and
// 12 lowercase base32 characters. Keys put an org id in front of names
// without a separator, so a malformed id must never reach them: it could
// match another org's keys as a prefix. Others use it to tell an id from a
// name (admin) or to find an org in a host name (public buckets).
func ValidOrgID(id string) bool {
	if len(id) != orgIDLen || id[0] != 'o' {
		return false
	}
	for i := 1; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// CreateOrg creates an org with a fresh random id. The name must be unused
// (ErrOrgExists); it is not otherwise validated here.
func (db *DB) CreateOrg(ctx context.Context, name string) (Org, error) {
	if err := db.enter(); err != nil {
		return Org{}, fmt.Errorf("catalog: create org %q: %w", name, err)
	}
	defer db.leave()
	if name == "" {
		return Org{}, fmt.Errorf("catalog: create org: empty name")
	}
	var org Org
	err := db.update(ctx, func(txn kv.Txn) error {
		// Exclusive on the default-org record: which org is the default
		// depends on whether any org exists (a range), so creations of
		// orgs are serialized; they are rare.
		if err := lock(txn, kv.Exclusive, keyDefaultOrg); err != nil {
			return err
		}
		taken, err := exists(txn, orgNameKey(name))
		if err != nil {
			return err
		}
		if taken {
			return ErrOrgExists
		}
		org = Org{ID: newOrgID(), Name: name, Created: time.Now().UTC()}
		if taken, err := exists(txn, orgKey(org.ID)); err != nil || taken {
			// 60 random bits: a collision is next to impossible, and a
			// conflict retry draws a new id.
			return cmpErr(err, fmt.Errorf("org id collision"))
		}
		if err := recordDefaultOrg(txn, org.ID); err != nil {
			return err
		}
		if err := set(txn, orgKey(org.ID), encodeOrg(org)); err != nil {
			return err
		}
		return set(txn, orgNameKey(name), []byte(org.ID))
	})
	if err != nil {
		return Org{}, fmt.Errorf("catalog: create org %q: %w", name, err)
	}
	return org, nil
}

// cmpErr returns err if non-nil, else alt.
func cmpErr(err, alt error) error {
	if err != nil {
		return err
	}
	return alt
}

// Org returns the org with this id or, failing that, this name.
func (db *DB) Org(ctx context.Context, idOrName string) (Org, error) {
	if err := db.enter(); err != nil {
		return Org{}, fmt.Errorf("catalog: org %q: %w", idOrName, err)
	}
	defer db.leave()
	var org Org
	err := db.view(ctx, func(txn kv.Reader) error {
		var err error
		org, err = getOrg(txn, idOrName)
		if !errors.Is(err, ErrNoSuchOrg) {
			return err
		}
		id, err := getValue(txn, orgNameKey(idOrName))
		if err != nil {
			return missingAs(err, ErrNoSuchOrg)
		}
		org, err = getOrg(txn, string(id))
		return err
	})
	if err != nil {
		return Org{}, fmt.Errorf("catalog: org %q: %w", idOrName, err)
	}
	return org, nil
}

// missingAs maps errMissing to sentinel and passes other errors through.
func missingAs(err, sentinel error) error {
	if errors.Is(err, errMissing) {
		return sentinel
	}
	return err
}

func getOrg(txn kv.Reader, id string) (Org, error) {
	if !ValidOrgID(id) {
		return Org{}, ErrNoSuchOrg
	}
	v, err := getValue(txn, orgKey(id))
	if err != nil {
		return Org{}, missingAs(err, ErrNoSuchOrg)
	}
	return decodeOrg(v)
}

// ListOrgs returns every org, ordered by name.
func (db *DB) ListOrgs(ctx context.Context) ([]Org, error) {
	if err := db.enter(); err != nil {
		return nil, fmt.Errorf("catalog: list orgs: %w", err)
	}
	defer db.leave()
	var orgs []Org
	err := db.view(ctx, func(txn kv.Reader) error {
		p := []byte{prefixOrgName}
		it := txn.Iterate(kv.IterOptions{Prefix: p, Prefetch: 100})
		defer it.Close()
		var ids []string
		for it.Seek(p); it.Valid(); it.Next() {
			v, err := it.Value()
			if err != nil {
				return storageErr(err)
			}
			ids = append(ids, string(v))
		}
		if err := it.Err(); err != nil {
			return storageErr(err)
		}
		for _, id := range ids {
			if err := ctx.Err(); err != nil {
				return err
			}
			o, err := getOrg(txn, id)
			if err != nil {
				return fmt.Errorf("org %s: %w", id, err)
			}
			orgs = append(orgs, o)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: list orgs: %w", err)
	}
	return orgs, nil
}

// DeleteOrg deletes an org that has no buckets (else ErrOrgNotEmpty), with
// all of its access keys.
func (db *DB) DeleteOrg(ctx context.Context, id string) error {
	if err := db.enter(); err != nil {
		return fmt.Errorf("catalog: delete org %s: %w", id, err)
	}
	defer db.leave()
	defer db.accessKeys.invalidateAll()
	err := db.updateFreeing(ctx, func(txn kv.Txn) error {
		// Exclusive on the org record: CreateBucket and CreateAccessKey
		// hold it shared, so none is in flight once it is granted, and
		// the bucket check and the key walk below see what they wrote.
		if ValidOrgID(id) {
			if err := lock(txn, kv.Exclusive, orgKey(id)); err != nil {
				return err
			}
		}
		org, err := getOrg(txn, id)
		if err != nil {
			return err
		}
		if found, err := hasPrefix(txn, catKey(prefixBucket, id)); err != nil || found {
			return cmpErr(err, ErrOrgNotEmpty)
		}
		// Deleting the default org leaves none (an empty record), rather
		// than letting another org inherit the role.
		if def, err := defaultOrgID(txn); err != nil {
			return err
		} else if def == id {
			if err := set(txn, keyDefaultOrg, nil); err != nil {
				return err
			}
		}
		p := catKey(prefixOrgKey, id)
		it := txn.Iterate(kv.IterOptions{Prefix: p, KeysOnly: true})
		var keys [][]byte
		for it.Seek(p); it.Valid(); it.Next() {
			keys = append(keys, bytes.Clone(it.Key()))
		}
		if err := it.Close(); err != nil {
			return storageErr(err)
		}
		for _, k := range keys {
			if err := del(txn, accessKeyKey(string(k[len(p):]))); err != nil {
				return err
			}
			if err := del(txn, k); err != nil {
				return err
			}
		}
		if err := del(txn, orgNameKey(org.Name)); err != nil {
			return err
		}
		return del(txn, orgKey(id))
	})
	if err != nil {
		return fmt.Errorf("catalog: delete org %s: %w", id, err)
	}
	return nil
}

// DefaultOrg returns the default org: the org that mounts without ORG=, a
// seeded root access key and exc without --org act on. It is the first org
// ever created in the catalog (the daemon's first start creates "default"),
// recorded under keyDefaultOrg in the transaction that creates it. No org
// created later takes its place, however it sorts; deleting it leaves the
// catalog without a default org (until every org is gone). A catalog from
// before the record resolves by docs/format.md, "Default org".
// ErrNoDefaultOrg when there is none.
func (db *DB) DefaultOrg(ctx context.Context) (Org, error) {
	if err := db.enter(); err != nil {
		return Org{}, fmt.Errorf("catalog: default org: %w", err)
	}
	defer db.leave()
	var org Org
	err := db.view(ctx, func(txn kv.Reader) error {
		id, err := defaultOrgID(txn)
		if err != nil {
			return err
		}
		if id == "" {
			return ErrNoDefaultOrg
		}
		org, err = getOrg(txn, id)
		if errors.Is(err, ErrNoSuchOrg) {
			return ErrNoDefaultOrg
		}
		return err
	})
	if err != nil {
		return Org{}, fmt.Errorf("catalog: default org: %w", err)
	}
	return org, nil
}

// defaultOrgID returns the default org's id, or "" when there is none. When
// the record is missing (a catalog written before it existed) the answer is
// the org named "default", which the first start of every earlier version
// created; never the first org by name, which any org created later could
// become.
func defaultOrgID(txn kv.Reader) (string, error) {
	v, err := getValue(txn, keyDefaultOrg)
	if err == nil {
		return string(v), nil
	}
	if !errors.Is(err, errMissing) {
		return "", err
	}
	id, err := getValue(txn, orgNameKey(legacyDefaultOrgName))
	if errors.Is(err, errMissing) {
		return "", nil
	}
	return string(id), err
}

// legacyDefaultOrgName is the name first start has always given the org it
// creates; catalogs without keyDefaultOrg take the org of that name.
const legacyDefaultOrgName = "default"

// recordDefaultOrg runs in the transaction that creates org newID. On a
// catalog with no org, the new org becomes the default. On a catalog without
// the record (but with orgs), it writes down what defaultOrgID resolves now,
// before the new org can change the answer (it might be named "default").
// CreateOrg holds the record's lock exclusively, so two concurrent first
// creations run one after the other and the second sees the first's org.
func recordDefaultOrg(txn kv.Txn, newID string) error {
	_, err := getValue(txn, keyDefaultOrg)
	if err != nil && !errors.Is(err, errMissing) {
		return err
	}
	if found, herr := hasPrefix(txn, []byte{prefixOrgName}); herr != nil {
		return herr
	} else if !found {
		return set(txn, keyDefaultOrg, []byte(newID))
	}
	if err == nil {
		return nil
	}
	id, err := defaultOrgID(txn)
	if err != nil {
		return err
	}
	return set(txn, keyDefaultOrg, []byte(id))
}
