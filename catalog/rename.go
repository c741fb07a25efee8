package catalog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"excloud.dev/buckets/catalog/kv"
)

// ErrRenameTooLarge: RenamePrefix found more keys under the prefix than its
// limit, or more than one Badger transaction can hold. Nothing was renamed.
// The FUSE mount answers EXDEV, which makes mv(1) fall back to copy and
// delete, key by key.
var ErrRenameTooLarge = errors.New("rename too large for one transaction")

// DefaultRenameLimit bounds RenamePrefix when its limit is 0: 10 000 keys
// (20 000 writes plus their manifests) fit comfortably in one Badger
// transaction and hold the bucket's write lock for tens of milliseconds.
const DefaultRenameLimit = 10000

// RenameObject moves the manifest of from to to in bucket b, in one
// transaction: the manifest (and so its ETag and ModTime) is unchanged, no
// chunk reference count moves except those of a replaced target, which go
// down as if it had been deleted. A missing source is ErrNotFound. Events:
// ObjectDelete of from, then ObjectPut of to, both before it returns. from ==
// to is a no-op that still checks that the key exists.
func (db *DB) RenameObject(ctx context.Context, b Bucket, from, to string) error {
	if err := db.enter(); err != nil {
		return objectErr("rename", b.ID, from, err)
	}
	defer db.leave()
	bl := db.bucketLock(b.ID)
	bl.RLock()
	defer bl.RUnlock()
	unlock := db.lockKeys(b.ID, from, to)
	defer unlock()

	err := db.update(ctx, func(txn kv.Txn) error {
		if err := lockBucket(txn, kv.Shared, b); err != nil {
			return err
		}
		if err := db.checkBucket(txn, b); err != nil {
			return err
		}
		v, err := getValue(txn, objectKey(b.ID, from))
		if errors.Is(err, errMissing) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if from == to {
			return nil
		}
		refs := refDelta{}
		cur, err := getManifest(txn, b.ID, to)
		if err != nil {
			return err
		}
		if cur != nil {
			refs.add(cur.Chunks(), -1)
		}
		// The mount's follow-up of a rename (the entry's new ctime) goes
		// into the manifest written here.
		if v, err = touchOf(ctx).foldInto(b, to, v); err != nil {
			return err
		}
		if err := set(txn, objectKey(b.ID, to), v); err != nil {
			return err
		}
		if err := del(txn, objectKey(b.ID, from)); err != nil {
			return err
		}
		note(txn, Event{Kind: ObjectDelete, OrgID: b.OrgID, BucketID: b.ID, Bucket: b.Name, Key: from},
			Event{Kind: ObjectPut, OrgID: b.OrgID, BucketID: b.ID, Bucket: b.Name, Key: to})
		return db.applyRefs(txn, refs)
	})
	if err != nil {
		return fmt.Errorf("catalog: rename %q to %q in bucket %d: %w", from, to, b.ID, err)
	}
	return nil
}

// lockKeys takes the stripe locks of two keys in a fixed order (once if they
// share a stripe), so two renames in opposite directions cannot deadlock.
func (db *DB) lockKeys(bucketID uint64, a, b string) (unlock func()) {
	la, lb := db.keyLock(bucketID, a), db.keyLock(bucketID, b)
	if la == lb {
		la.Lock()
		return la.Unlock
	}
	if stripeIndex(db, la) > stripeIndex(db, lb) {
		la, lb = lb, la
	}
	la.Lock()
	lb.Lock()
	return func() { lb.Unlock(); la.Unlock() }
}

func stripeIndex(db *DB, m *sync.Mutex) int {
	for i := range db.keyLocks {
		if &db.keyLocks[i] == m {
			return i
		}
	}
	return -1
}

// RenamePrefix moves every key that starts with fromPrefix to toPrefix +
// the rest of the key, in one transaction, so readers see either all the old
// names or all the new ones. Manifests move unchanged; targets that already
// exist are replaced (their chunk references released); the prefixes must
// not overlap. At most limit keys
// (0: DefaultRenameLimit) are moved; more is ErrRenameTooLarge and nothing
// changes. It returns how many keys moved; none is not an error.
//
// It holds the bucket's write lock for the transaction and the publishing
// of its events (an ObjectDelete and an ObjectPut per key), so no other write
// to the bucket interleaves with them and per-key event order holds.
func (db *DB) RenamePrefix(ctx context.Context, b Bucket, fromPrefix, toPrefix string, limit int) (int, error) {
	if limit <= 0 {
		limit = DefaultRenameLimit
	}
	wrap := func(err error) error {
		return fmt.Errorf("catalog: rename prefix %q to %q in bucket %d: %w", fromPrefix, toPrefix, b.ID, err)
	}
	if fromPrefix == "" || toPrefix == "" ||
		strings.HasPrefix(toPrefix, fromPrefix) || strings.HasPrefix(fromPrefix, toPrefix) {
		// Overlapping prefixes would make a moved key land on another
		// source key; the mount never asks (the target must be empty).
		return 0, wrap(errors.New("source and target prefixes overlap"))
	}
	if err := db.enter(); err != nil {
		return 0, wrap(err)
	}
	defer db.leave()
	bl := db.bucketLock(b.ID)
	bl.Lock()
	defer bl.Unlock()

	if t := touchOf(ctx); t != nil {
		t.bucketHeld = true // its keys need no stripe of their own (touch.go)
	}
	var moved []string
	err := db.update(ctx, func(txn kv.Txn) error {
		moved = moved[:0]
		// Exclusive on the bucket record, like a deletion: every writer
		// into the bucket holds it shared, so none commits a key under the
		// prefix between this scan and this commit, on any node.
		if err := lockBucket(txn, kv.Exclusive, b); err != nil {
			return err
		}
		if err := db.checkBucket(txn, b); err != nil {
			return err
		}
		scan := objectKey(b.ID, fromPrefix)
		n := len(bucketPrefix(prefixObject, b.ID, 0))
		type item struct {
			key string
			val []byte
		}
		var items []item
		it := txn.Iterate(kv.IterOptions{Prefix: scan, Prefetch: 100})
		for it.Seek(scan); it.Valid(); it.Next() {
			if len(items) == limit {
				it.Close()
				return fmt.Errorf("more than %d keys: %w", limit, ErrRenameTooLarge)
			}
			if len(items)%1024 == 1023 {
				if err := ctx.Err(); err != nil {
					it.Close()
					return err
				}
			}
			v, err := it.Value()
			if err != nil {
				it.Close()
				return storageErr(err)
			}
			items = append(items, item{string(it.Key()[n:]), bytes.Clone(v)})
		}
		if err := it.Close(); err != nil {
			return storageErr(err)
		}
		refs := refDelta{}
		for _, x := range items {
			to := toPrefix + x.key[len(fromPrefix):]
			cur, err := getManifest(txn, b.ID, to)
			if err != nil {
				return err
			}
			if cur != nil {
				refs.add(cur.Chunks(), -1)
			}
			if err := txnSet(txn, objectKey(b.ID, to), x.val); err != nil {
				return err
			}
			if err := txnDelete(txn, objectKey(b.ID, x.key)); err != nil {
				return err
			}
			moved = append(moved, x.key)
			note(txn, Event{Kind: ObjectDelete, OrgID: b.OrgID, BucketID: b.ID, Bucket: b.Name, Key: x.key},
				Event{Kind: ObjectPut, OrgID: b.OrgID, BucketID: b.ID, Bucket: b.Name, Key: to})
		}
		return db.applyRefs(txn, refs)
	})
	if err != nil {
		return 0, wrap(err)
	}
	return len(moved), nil
}

// txnSet and txnDelete are set and del that report a transaction grown past
// the engine's limit as ErrRenameTooLarge rather than a storage failure.
func txnSet(txn kv.Txn, k, v []byte) error {
	if err := txn.Set(k, v); errors.Is(err, kv.ErrTooBig) {
		return ErrRenameTooLarge
	} else if err != nil {
		return storageErr(err)
	}
	return nil
}

func txnDelete(txn kv.Txn, k []byte) error {
	if err := txn.Delete(k); errors.Is(err, kv.ErrTooBig) {
		return ErrRenameTooLarge
	} else if err != nil {
		return storageErr(err)
	}
	return nil
}
