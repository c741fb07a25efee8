package catalog

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"time"

	"excloud.dev/buckets/catalog/kv"
)

const (
	keyIDAlphabet  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

// randString returns n characters drawn uniformly from alphabet (at most 256
// characters) with crypto/rand, by rejection sampling so no character is
// more likely than another.
func randString(alphabet string, n int) string {
	limit := 256 - 256%len(alphabet) // bytes ≥ limit would bias the modulo
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		rand.Read(buf[:])
		for _, c := range buf {
			if int(c) < limit && len(out) < n {
				out = append(out, alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// ValidAccessKeyID reports whether id has the shape CreateAccessKey gives
// ids: "EXC" and 17 uppercase letters or digits.
func ValidAccessKeyID(id string) bool {
	return len(id) == 20 && strings.HasPrefix(id, "EXC") && onlyFrom(id[3:], keyIDAlphabet)
}

// ValidSecret reports whether s has the shape CreateAccessKey gives
// secrets: 40 characters of A-Z, a-z, 0-9, '+' and '/'.
func ValidSecret(s string) bool { return len(s) == 40 && onlyFrom(s, secretAlphabet) }

func onlyFrom(s, alphabet string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(alphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

// CreateAccessKey stores k for org k.OrgID (which must exist, ErrNoSuchOrg).
// An empty k.ID gets "EXC" + 17 random characters of [A-Z0-9], an empty
// k.Secret 40 random characters of [A-Za-z0-9+/], a zero k.Created the
// current time. An id already in use fails with ErrAccessKeyExists.
func (db *DB) CreateAccessKey(ctx context.Context, k AccessKey) (AccessKey, error) {
	if err := db.enter(); err != nil {
		return AccessKey{}, fmt.Errorf("catalog: create access key: %w", err)
	}
	defer db.leave()
	generated := k.ID == ""
	if k.Secret == "" {
		k.Secret = randString(secretAlphabet, 40)
	}
	if k.Created.IsZero() {
		k.Created = time.Now().UTC()
	}
	k.Buckets = slices.Clone(k.Buckets)
	err := db.update(ctx, func(txn kv.Txn) error {
		// Shared on the org record: DeleteOrg holds it exclusively, so a
		// key is never created into an org whose deletion commits.
		if ValidOrgID(k.OrgID) {
			if err := lock(txn, kv.Shared, orgKey(k.OrgID)); err != nil {
				return err
			}
		}
		if _, err := getOrg(txn, k.OrgID); err != nil {
			return err
		}
		if generated {
			k.ID = "EXC" + randString(keyIDAlphabet, 17)
		}
		taken, err := exists(txn, accessKeyKey(k.ID))
		if err != nil {
			return err
		}
		if taken {
			return ErrAccessKeyExists
		}
		if err := set(txn, accessKeyKey(k.ID), encodeAccessKey(k)); err != nil {
			return err
		}
		return set(txn, orgKeyIndex(k.OrgID, k.ID), nil)
	})
	if err != nil {
		return AccessKey{}, fmt.Errorf("catalog: create access key %s in org %s: %w", k.ID, k.OrgID, err)
	}
	return k, nil
}

// AccessKey returns the access key with this id (ErrNoSuchKey). It is on the
// path of every S3 request, so it answers from a cache (recordCache).
func (db *DB) AccessKey(ctx context.Context, id string) (AccessKey, error) {
	if err := db.enter(); err != nil {
		return AccessKey{}, fmt.Errorf("catalog: access key %s: %w", id, err)
	}
	defer db.leave()
	k, gen, ok := db.accessKeys.get(id)
	if ok {
		return k.clone(), nil
	}
	err := func() error {
		if id == "" {
			return ErrNoSuchKey
		}
		v, err := db.read(ctx, accessKeyKey(id))
		if err != nil {
			return missingAs(err, ErrNoSuchKey)
		}
		k, err = decodeAccessKey(v)
		return err
	}()
	if err != nil {
		return AccessKey{}, fmt.Errorf("catalog: access key %s: %w", id, err)
	}
	db.accessKeys.store(id, k, gen)
	db.hints.setOrg(id, k.OrgID)
	return k.clone(), nil
}

// clone copies the Buckets slice: a cached record is shared, and a caller
// that changed the slice would change the key's scope for everyone.
func (k AccessKey) clone() AccessKey {
	k.Buckets = slices.Clone(k.Buckets)
	return k
}

// ListAccessKeys returns the org's access keys ordered by id (ErrNoSuchOrg if
// the org does not exist).
func (db *DB) ListAccessKeys(ctx context.Context, orgID string) ([]AccessKey, error) {
	if err := db.enter(); err != nil {
		return nil, fmt.Errorf("catalog: list access keys of org %s: %w", orgID, err)
	}
	defer db.leave()
	var keys []AccessKey
	err := db.view(ctx, func(txn kv.Reader) error {
		if _, err := getOrg(txn, orgID); err != nil {
			return err
		}
		p := catKey(prefixOrgKey, orgID)
		it := txn.Iterate(kv.IterOptions{Prefix: p, KeysOnly: true})
		var ids []string
		for it.Seek(p); it.Valid(); it.Next() {
			ids = append(ids, string(it.Key()[len(p):]))
		}
		if err := it.Close(); err != nil {
			return storageErr(err)
		}
		for _, id := range ids {
			if err := ctx.Err(); err != nil {
				return err
			}
			v, err := getValue(txn, accessKeyKey(id))
			if err != nil {
				return fmt.Errorf("access key %s in index: %w", id, missingAs(err, ErrNoSuchKey))
			}
			k, err := decodeAccessKey(v)
			if err != nil {
				return err
			}
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: list access keys of org %s: %w", orgID, err)
	}
	return keys, nil
}

// DeleteAccessKey deletes the access key (ErrNoSuchKey if absent).
func (db *DB) DeleteAccessKey(ctx context.Context, id string) error {
	if err := db.enter(); err != nil {
		return fmt.Errorf("catalog: delete access key %s: %w", id, err)
	}
	defer db.leave()
	defer db.accessKeys.invalidate(id)
	err := db.updateFreeing(ctx, func(txn kv.Txn) error {
		if id == "" {
			return ErrNoSuchKey
		}
		v, err := getValue(txn, accessKeyKey(id))
		if err != nil {
			return missingAs(err, ErrNoSuchKey)
		}
		k, err := decodeAccessKey(v)
		if err != nil {
			return err
		}
		if err := del(txn, orgKeyIndex(k.OrgID, id)); err != nil {
			return err
		}
		return del(txn, accessKeyKey(id))
	})
	if err != nil {
		return fmt.Errorf("catalog: delete access key %s: %w", id, err)
	}
	return nil
}
