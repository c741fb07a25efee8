package catalog

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"excloud.dev/buckets/catalog/kv"
)

// CreateBucket creates bucket name in the org (ErrNoSuchOrg, ErrBucketExists)
// with the next bucket id. Ids come from a counter in the catalog, advanced
// in the same transaction, so an id is never handed out twice, even after the
// bucket is deleted: stale references by id can never reach a new bucket.
func (db *DB) CreateBucket(ctx context.Context, orgID, name string) (Bucket, error) {
	if err := db.enter(); err != nil {
		return Bucket{}, bucketErr("create", orgID, name, err)
	}
	defer db.leave()
	if name == "" {
		return Bucket{}, fmt.Errorf("catalog: create bucket: empty name")
	}
	var b Bucket
	err := db.update(ctx, func(txn kv.Txn) error {
		// Shared on the org record: DeleteOrg holds it exclusively and
		// checks that the org has no bucket. Two creations of one name
		// both write its key: one conflicts and finds it taken.
		if ValidOrgID(orgID) {
			if err := lock(txn, kv.Shared, orgKey(orgID)); err != nil {
				return err
			}
		}
		if _, err := getOrg(txn, orgID); err != nil {
			return err
		}
		taken, err := exists(txn, bucketKey(orgID, name))
		if err != nil {
			return err
		}
		if taken {
			return ErrBucketExists
		}
		var last uint64
		v, err := getValue(txn, keyBucketSeq)
		switch {
		case err == nil && len(v) == 8:
			last = binary.BigEndian.Uint64(v)
		case err == nil:
			return fmt.Errorf("%w: bucket counter of %d bytes", errCorrupt, len(v))
		case err != errMissing:
			return err
		}
		b = Bucket{ID: last + 1, OrgID: orgID, Name: name, Created: time.Now().UTC()}
		if err := set(txn, keyBucketSeq, binary.BigEndian.AppendUint64(nil, b.ID)); err != nil {
			return err
		}
		note(txn, Event{Kind: BucketCreate, OrgID: orgID, BucketID: b.ID, Bucket: name})
		return set(txn, bucketKey(orgID, name), encodeBucket(b))
	})
	if err != nil {
		return Bucket{}, bucketErr("create", orgID, name, err)
	}
	return b, nil
}

func bucketErr(op, orgID, name string, err error) error {
	if op == "" {
		return fmt.Errorf("catalog: bucket %s in org %s: %w", name, orgID, err)
	}
	return fmt.Errorf("catalog: %s bucket %s in org %s: %w", op, name, orgID, err)
}

// getBucket reads bucket name of the org. Writers into the bucket lock its
// record (lockBucket) first, so a deletion cannot commit under them.
func getBucket(txn kv.Reader, orgID, name string) (Bucket, error) {
	v, err := bucketValue(txn, orgID, name)
	if err != nil {
		return Bucket{}, err
	}
	return decodeBucket(v)
}

// bucketValue reads the record of bucket name of the org, undecoded.
func bucketValue(txn kv.Reader, orgID, name string) ([]byte, error) {
	if !ValidOrgID(orgID) {
		return nil, ErrNoSuchBucket
	}
	v, err := getValue(txn, bucketKey(orgID, name))
	if err != nil {
		return nil, missingAs(err, ErrNoSuchBucket)
	}
	return v, nil
}

// lockBucket takes the engine lock on b's record: shared by writers of its
// objects and uploads, exclusive by its deletion (and by RenamePrefix,
// which must see every key under its prefix).
func lockBucket(txn kv.Txn, mode kv.LockMode, b Bucket) error {
	if !ValidOrgID(b.OrgID) {
		return nil // getBucket answers ErrNoSuchBucket
	}
	return lock(txn, mode, bucketKey(b.OrgID, b.Name))
}

// checkBucket verifies that b still exists as the same bucket (a bucket
// deleted and created again under its name has another id). Every write
// transaction runs it; the record's bytes are read each time (the read is
// what makes a concurrent deletion conflict), but decoding its JSON cost
// about a tenth of a mount rename's CPU, so the id is taken from
// db.bucketIDs when the bytes are ones already decoded.
func (db *DB) checkBucket(txn kv.Reader, b Bucket) error {
	v, err := bucketValue(txn, b.OrgID, b.Name)
	if err != nil {
		return err
	}
	id, ok := db.bucketIDs.get(v)
	if !ok {
		cur, err := decodeBucket(v)
		if err != nil {
			return err
		}
		id = cur.ID
		db.bucketIDs.put(v, id)
	}
	if id != b.ID {
		return ErrNoSuchBucket
	}
	return nil
}

// bucketIDMemo maps bucket records' bytes to their ids: a pure function of
// the bytes, so it needs no invalidation and holds on a shared engine too.
// A record's bytes change only with the record (CORS, public), so a few
// entries per bucket ever exist; the map starts over when full.
type bucketIDMemo struct {
	mu sync.Mutex
	m  map[string]uint64
}

// maxBucketIDs bounds bucketIDMemo.
const maxBucketIDs = 1024

func (c *bucketIDMemo) get(v []byte) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.m[string(v)]
	return id, ok
}

func (c *bucketIDMemo) put(v []byte, id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxBucketIDs {
		c.m = make(map[string]uint64)
	}
	c.m[string(v)] = id
}

// Bucket returns bucket name of the org (ErrNoSuchBucket).
func (db *DB) Bucket(ctx context.Context, orgID, name string) (Bucket, error) {
	if err := db.enter(); err != nil {
		return Bucket{}, bucketErr("", orgID, name, err)
	}
	defer db.leave()
	b, gen, ok := db.buckets.get(bucketRef{orgID, name})
	if ok {
		return b, nil
	}
	err := func() error {
		if !ValidOrgID(orgID) {
			return ErrNoSuchBucket
		}
		v, err := db.read(ctx, bucketKey(orgID, name))
		if err != nil {
			return missingAs(err, ErrNoSuchBucket)
		}
		b, err = decodeBucket(v)
		return err
	}()
	if err != nil {
		return Bucket{}, bucketErr("", orgID, name, err)
	}
	db.buckets.store(bucketRef{orgID, name}, b, gen)
	db.hints.setBucket(bucketRef{orgID, name}, b.ID)
	return b, nil
}

// ListBuckets returns the org's buckets ordered by name (ErrNoSuchOrg).
func (db *DB) ListBuckets(ctx context.Context, orgID string) ([]Bucket, error) {
	if err := db.enter(); err != nil {
		return nil, fmt.Errorf("catalog: list buckets of org %s: %w", orgID, err)
	}
	defer db.leave()
	var bs []Bucket
	err := db.view(ctx, func(txn kv.Reader) error {
		if _, err := getOrg(txn, orgID); err != nil {
			return err
		}
		p := catKey(prefixBucket, orgID)
		it := txn.Iterate(kv.IterOptions{Prefix: p, Prefetch: 100})
		defer it.Close()
		for it.Seek(p); it.Valid(); it.Next() {
			if len(bs)%1024 == 1023 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			v, err := it.Value()
			if err != nil {
				return storageErr(err)
			}
			b, err := decodeBucket(v)
			if err != nil {
				return err
			}
			bs = append(bs, b)
		}
		return storageErr(it.Err())
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: list buckets of org %s: %w", orgID, err)
	}
	return bs, nil
}

// DeleteBucket deletes an empty bucket: one with neither objects nor
// multipart uploads (ErrBucketNotEmpty). Each check is a single seek.
func (db *DB) DeleteBucket(ctx context.Context, orgID, name string) error {
	if err := db.enter(); err != nil {
		return bucketErr("delete", orgID, name, err)
	}
	defer db.leave()
	// Look the id up first to pick the lock; the transaction checks it again.
	b, err := db.Bucket(ctx, orgID, name)
	if err != nil {
		return err
	}
	defer db.buckets.invalidate(bucketRef{orgID, name})
	err = db.updateFreeing(ctx, func(txn kv.Txn) error {
		// Exclusive on the bucket record: every writer of the bucket's
		// objects and uploads holds it shared, so once it is granted none
		// is in flight, and the emptiness checks below see what they
		// committed. Without it, snapshot isolation would let a PUT commit
		// into a bucket whose (empty-looking) deletion commits alongside.
		if err := lockBucket(txn, kv.Exclusive, b); err != nil {
			return err
		}
		if err := db.checkBucket(txn, b); err != nil {
			return err
		}
		for _, p := range []byte{prefixObject, prefixUpload} {
			if found, err := hasPrefix(txn, bucketPrefix(p, b.ID, 0)); err != nil || found {
				return cmpErr(err, ErrBucketNotEmpty)
			}
		}
		note(txn, Event{Kind: BucketDelete, OrgID: orgID, BucketID: b.ID, Bucket: name})
		return del(txn, bucketKey(orgID, name))
	})
	if err != nil {
		return bucketErr("delete", orgID, name, err)
	}
	return nil
}

// SetBucketPublic sets whether anonymous reads of the bucket are allowed.
func (db *DB) SetBucketPublic(ctx context.Context, orgID, name string, public bool) error {
	return db.editBucket(ctx, orgID, name, "set public on", func(b *Bucket) bool {
		if b.Public == public {
			return false
		}
		b.Public = public
		return true
	})
}

// editBucket changes the bucket record of name in one transaction: edit
// changes b and says whether it changed anything (nothing is written if
// not). The cached record is dropped either way. Errors are wrapped with op,
// as bucketErr does.
func (db *DB) editBucket(ctx context.Context, orgID, name, op string, edit func(b *Bucket) bool) error {
	if err := db.enter(); err != nil {
		return bucketErr(op, orgID, name, err)
	}
	defer db.leave()
	defer db.buckets.invalidate(bucketRef{orgID, name})
	err := db.update(ctx, func(txn kv.Txn) error {
		b, err := getBucket(txn, orgID, name)
		if err != nil {
			return err
		}
		if !edit(&b) {
			return nil
		}
		return set(txn, bucketKey(orgID, name), encodeBucket(b))
	})
	if err != nil {
		return bucketErr(op, orgID, name, err)
	}
	return nil
}
