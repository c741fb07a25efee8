package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"excloud.dev/buckets/catalog/kv"

	"excloud.dev/buckets/chunkstore"
)

// Object returns the manifest of key in the bucket (ErrNotFound).
func (db *DB) Object(ctx context.Context, bucketID uint64, key string) (*Manifest, error) {
	if err := db.enter(); err != nil {
		return nil, objectErr("", bucketID, key, err)
	}
	defer db.leave()
	v, err := db.read(ctx, objectKey(bucketID, key))
	if errors.Is(err, errMissing) {
		err = ErrNotFound
	}
	var m *Manifest
	if err == nil {
		m, err = decodeManifest(v)
	}
	if err != nil {
		return nil, objectErr("", bucketID, key, err)
	}
	return m, nil
}

func objectErr(op string, bucketID uint64, key string, err error) error {
	if op == "" {
		return fmt.Errorf("catalog: object %q in bucket %d: %w", key, bucketID, err)
	}
	return fmt.Errorf("catalog: %s object %q in bucket %d: %w", op, key, bucketID, err)
}

// getManifest returns the current manifest of key, or nil if there is none.
func getManifest(txn kv.Reader, bucketID uint64, key string) (*Manifest, error) {
	v, err := getValue(txn, objectKey(bucketID, key))
	if errors.Is(err, errMissing) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeManifest(v)
}

func (c Condition) isZero() bool { return c == Condition{} }

// checkCondition checks cond against cur, the key's current manifest (nil if
// absent).
func checkCondition(cond Condition, cur *Manifest) error {
	if cond.IfNoneMatchAny && cur != nil {
		return ErrPreconditionFailed
	}
	if cond.IfMatch != "" {
		if cur == nil {
			return ErrPreconditionFailed
		}
		if cond.IfMatch != "*" && quoteETag(cond.IfMatch) != quoteETag(cur.ETag) {
			return ErrPreconditionFailed
		}
	}
	return nil
}

// quoteETag puts an ETag in the quoted form S3 returns, so "abc" and abc
// compare equal.
func quoteETag(s string) string {
	if len(s) >= 2 && strings.HasPrefix(s, `"`) && strings.HasSuffix(s, `"`) {
		return s
	}
	return `"` + s + `"`
}

// PutObject stores m as the manifest of key in bucket b, in one transaction:
// the bucket must still exist (ErrNoSuchBucket), cond must hold against the
// current version (ErrPreconditionFailed), and the reference count of every
// distinct chunk of m goes up by one while the replaced manifest's go down.
// It returns the replaced manifest, nil if the key was new. The caller must
// have made m's chunks durable first: the commit makes m visible. An
// ObjectPut event is published before PutObject returns.
func (db *DB) PutObject(ctx context.Context, b Bucket, key string, m *Manifest, cond Condition) (old *Manifest, err error) {
	if m == nil {
		return nil, objectErr("put", b.ID, key, errors.New("nil manifest"))
	}
	if err := db.enter(); err != nil {
		return nil, objectErr("put", b.ID, key, err)
	}
	defer db.leave()
	bl := db.bucketLock(b.ID)
	bl.RLock()
	defer bl.RUnlock()
	kl := db.keyLock(b.ID, key)
	kl.Lock()
	defer kl.Unlock()

	val := encodeManifest(m)
	err = db.update(ctx, func(txn kv.Txn) error {
		if err := lockBucket(txn, kv.Shared, b); err != nil {
			return err
		}
		if !cond.isZero() {
			// The condition is decided under the key's lock, not on
			// a write conflict the engine may or may not detect first.
			if err := lock(txn, kv.Exclusive, objectKey(b.ID, key)); err != nil {
				return err
			}
		}
		if err := db.checkBucket(txn, b); err != nil {
			return err
		}
		cur, err := getManifest(txn, b.ID, key)
		if err != nil {
			return err
		}
		if err := checkCondition(cond, cur); err != nil {
			return err
		}
		if err := set(txn, objectKey(b.ID, key), val); err != nil {
			return err
		}
		if err := putBody(txn, m); err != nil {
			return err
		}
		refs := refDelta{}
		refs.add(m.Chunks(), +1)
		if cur != nil {
			refs.add(cur.Chunks(), -1)
		}
		old = cur
		note(txn, Event{Kind: ObjectPut, OrgID: b.OrgID, BucketID: b.ID, Bucket: b.Name, Key: key})
		return db.applyRefs(txn, refs)
	})
	if err != nil {
		return nil, objectErr("put", b.ID, key, err)
	}
	return old, nil
}

// DeleteObject removes key from bucket b (ErrNotFound if absent) and
// releases its chunk references, in one transaction, then publishes an
// ObjectDelete event. It returns the removed manifest.
func (db *DB) DeleteObject(ctx context.Context, b Bucket, key string) (old *Manifest, err error) {
	if err := db.enter(); err != nil {
		return nil, objectErr("delete", b.ID, key, err)
	}
	defer db.leave()
	bl := db.bucketLock(b.ID)
	bl.RLock()
	defer bl.RUnlock()
	kl := db.keyLock(b.ID, key)
	kl.Lock()
	defer kl.Unlock()

	err = db.updateFreeing(ctx, func(txn kv.Txn) error {
		if err := lockBucket(txn, kv.Shared, b); err != nil {
			return err
		}
		if err := db.checkBucket(txn, b); err != nil {
			return err
		}
		cur, err := getManifest(txn, b.ID, key)
		if err != nil {
			return err
		}
		if cur == nil {
			return ErrNotFound
		}
		if err := del(txn, objectKey(b.ID, key)); err != nil {
			return err
		}
		refs := refDelta{}
		refs.add(cur.Chunks(), -1)
		old = cur
		note(txn, Event{Kind: ObjectDelete, OrgID: b.OrgID, BucketID: b.ID, Bucket: b.Name, Key: key})
		return db.applyRefs(txn, refs)
	})
	if err != nil {
		return nil, objectErr("delete", b.ID, key, err)
	}
	return old, nil
}

// refDelta accumulates reference-count changes of one transaction, so a chunk
// that the old and the new version both use costs no write (and no conflict
// with other writers of that chunk).
type refDelta map[chunkstore.ID]int64

func (d refDelta) add(ids []chunkstore.ID, n int64) {
	for _, id := range ids {
		d[id] += n
	}
}
