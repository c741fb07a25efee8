package catalog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"excloud.dev/buckets/catalog/kv"
)

// newUploadID returns 32 lowercase hex digits: 8 bytes of big-endian
// initiation time in nanoseconds, then 8 random bytes. The time prefix makes
// bytewise id order initiation order, which ListUploads needs for a key's
// uploads, and keeps the upload-id marker stateless; the 64 random bits make
// ids unguessable enough and collision-free in practice (checked anyway).
func newUploadID(t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixNano()))
	rand.Read(b[8:])
	return hex.EncodeToString(b[:])
}

func validUploadID(id string) bool {
	if len(id) != uploadIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func uploadErr(op string, bucketID uint64, uploadID string, err error) error {
	return fmt.Errorf("catalog: %s upload %s in bucket %d: %w", op, uploadID, bucketID, err)
}

// CreateUpload starts a multipart upload of key in bucket b (ErrNoSuchBucket)
// and returns it with its new id. tmpl carries the headers and metadata the
// completed object will get.
func (db *DB) CreateUpload(ctx context.Context, b Bucket, key string, tmpl Manifest) (Upload, error) {
	if err := db.enter(); err != nil {
		return Upload{}, objectErr("create upload for", b.ID, key, err)
	}
	defer db.leave()
	tmpl.Size, tmpl.ETag, tmpl.Inline, tmpl.Extents, tmpl.Parts = 0, "", nil, nil, nil
	tmpl.BodyID = [32]byte{} // a template names no bytes
	var u Upload
	err := db.update(ctx, func(txn kv.Txn) error {
		if err := lockBucket(txn, kv.Shared, b); err != nil {
			return err
		}
		if err := db.checkBucket(txn, b); err != nil {
			return err
		}
		now := time.Now().UTC()
		u = Upload{ID: newUploadID(now), BucketID: b.ID, Key: key, Initiated: now, Template: tmpl}
		if taken, err := exists(txn, uploadKey(b.ID, u.ID)); err != nil || taken {
			return cmpErr(err, errors.New("upload id collision"))
		}
		if err := set(txn, uploadKey(b.ID, u.ID), encodeUpload(&u)); err != nil {
			return err
		}
		return set(txn, uploadIndexKey(b.ID, key, u.ID), nil)
	})
	if err != nil {
		return Upload{}, objectErr("create upload for", b.ID, key, err)
	}
	return u, nil
}

// lockUpload takes the engine locks of a write to an upload: its bucket's
// record shared (the bucket cannot be deleted under it), then the upload's
// record in mode: shared by PutPart, exclusive by Complete and Abort.
func lockUpload(txn kv.Txn, mode kv.LockMode, b Bucket, uploadID string) error {
	if err := lockBucket(txn, kv.Shared, b); err != nil {
		return err
	}
	return lock(txn, mode, uploadKey(b.ID, uploadID))
}

func getUpload(txn kv.Reader, bucketID uint64, uploadID string) (Upload, error) {
	if !validUploadID(uploadID) {
		return Upload{}, ErrNoSuchUpload
	}
	v, err := getValue(txn, uploadKey(bucketID, uploadID))
	if err != nil {
		return Upload{}, missingAs(err, ErrNoSuchUpload)
	}
	return decodeUpload(v)
}

// Upload returns the upload (ErrNoSuchUpload, also once completed or
// aborted).
func (db *DB) Upload(ctx context.Context, bucketID uint64, uploadID string) (Upload, error) {
	if err := db.enter(); err != nil {
		return Upload{}, uploadErr("get", bucketID, uploadID, err)
	}
	defer db.leave()
	var u Upload
	err := db.view(ctx, func(txn kv.Reader) error {
		var err error
		u, err = getUpload(txn, bucketID, uploadID)
		return err
	})
	if err != nil {
		return Upload{}, uploadErr("get", bucketID, uploadID, err)
	}
	return u, nil
}

// PutPart stores part p.Number (≥ 1) of the upload (ErrNoSuchUpload),
// replacing any part with that number: p's chunks gain a reference, the
// replaced part's lose one. It returns the replaced part, nil if none. Parts
// of one upload may be put concurrently.
func (db *DB) PutPart(ctx context.Context, b Bucket, uploadID string, p UploadPart) (old *UploadPart, err error) {
	if p.Number < 1 || p.Number > maxPartNumber {
		return nil, uploadErr("put part of", b.ID, uploadID, fmt.Errorf("part number %d out of range", p.Number))
	}
	if err := db.enter(); err != nil {
		return nil, uploadErr("put part of", b.ID, uploadID, err)
	}
	defer db.leave()
	val := encodePart(&p)
	err = db.update(ctx, func(txn kv.Txn) error {
		// Shared on the upload record: Complete and Abort hold it
		// exclusively, so no part slips in after they read the parts.
		if err := lockUpload(txn, kv.Shared, b, uploadID); err != nil {
			return err
		}
		if _, err := getUpload(txn, b.ID, uploadID); err != nil {
			return err
		}
		pk := partKey(b.ID, uploadID, p.Number)
		var cur *UploadPart
		v, err := getValue(txn, pk)
		switch {
		case err == nil:
			if cur, err = decodePart(v); err != nil {
				return err
			}
		case err != errMissing:
			return err
		}
		if err := set(txn, pk, val); err != nil {
			return err
		}
		refs := refDelta{}
		refs.add(partChunks(&p), +1)
		if cur != nil {
			refs.add(partChunks(cur), -1)
		}
		old = cur
		return db.applyRefs(txn, refs)
	})
	if err != nil {
		return nil, uploadErr(fmt.Sprintf("put part %d of", p.Number), b.ID, uploadID, err)
	}
	return old, nil
}

// ListParts returns up to maxParts (0 means 1000) parts of the upload numbered
// above afterPart, in number order, and whether more follow.
func (db *DB) ListParts(ctx context.Context, bucketID uint64, uploadID string, afterPart, maxParts int) (parts []UploadPart, truncated bool, err error) {
	if err := db.enter(); err != nil {
		return nil, false, uploadErr("list parts of", bucketID, uploadID, err)
	}
	defer db.leave()
	if maxParts <= 0 {
		maxParts = DefaultMaxKeys
	}
	afterPart = min(maxPartNumber, max(0, afterPart))
	err = db.view(ctx, func(txn kv.Reader) error {
		if _, err := getUpload(txn, bucketID, uploadID); err != nil {
			return err
		}
		p := partPrefix(bucketID, uploadID)
		it := txn.Iterate(kv.IterOptions{Prefix: p, Prefetch: 16})
		defer it.Close()
		for it.Seek(partKey(bucketID, uploadID, afterPart+1)); it.Valid(); it.Next() {
			if len(parts) == maxParts {
				truncated = true
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			v, err := it.Value()
			if err != nil {
				return storageErr(err)
			}
			part, err := decodePart(v)
			if err != nil {
				return err
			}
			parts = append(parts, *part)
		}
		return storageErr(it.Err())
	})
	if err != nil {
		return nil, false, uploadErr("list parts of", bucketID, uploadID, err)
	}
	return parts, truncated, nil
}

// releaseUpload deletes every part of the upload, and the upload, inside txn,
// adding -1 per distinct chunk of each part to refs.
func releaseUpload(txn kv.Txn, u Upload, refs refDelta) error {
	p := partPrefix(u.BucketID, u.ID)
	it := txn.Iterate(kv.IterOptions{Prefix: p, Prefetch: 16})
	var keys [][]byte
	for it.Seek(p); it.Valid(); it.Next() {
		v, err := it.Value()
		if err != nil {
			it.Close()
			return storageErr(err)
		}
		part, err := decodePart(v)
		if err != nil {
			it.Close()
			return err
		}
		refs.add(partChunks(part), -1)
		keys = append(keys, bytes.Clone(it.Key()))
	}
	if err := it.Close(); err != nil {
		return storageErr(err)
	}
	for _, k := range keys {
		if err := del(txn, k); err != nil {
			return err
		}
	}
	if err := del(txn, uploadIndexKey(u.BucketID, u.Key, u.ID)); err != nil {
		return err
	}
	return del(txn, uploadKey(u.BucketID, u.ID))
}

// CompleteUpload commits m (built by the object layer from the chosen parts)
// as the object of the upload's key, in one transaction: cond must hold
// against the key's current version (ErrPreconditionFailed), m's chunks gain
// a reference, every part of the upload and the replaced manifest lose
// theirs, and the upload and its parts are deleted. Chunks that m shares
// with the parts therefore keep their count. It returns the replaced
// manifest and publishes an ObjectPut event.
func (db *DB) CompleteUpload(ctx context.Context, b Bucket, uploadID string, m *Manifest, cond Condition) (old *Manifest, err error) {
	if m == nil {
		return nil, uploadErr("complete", b.ID, uploadID, errors.New("nil manifest"))
	}
	if err := db.enter(); err != nil {
		return nil, uploadErr("complete", b.ID, uploadID, err)
	}
	defer db.leave()
	bl := db.bucketLock(b.ID)
	bl.RLock()
	defer bl.RUnlock()
	// The key lock needs the key, which only the upload knows; an upload's
	// key never changes, so reading it before the transaction is safe.
	u, err := db.Upload(ctx, b.ID, uploadID)
	if err != nil {
		return nil, err
	}
	kl := db.keyLock(b.ID, u.Key)
	kl.Lock()
	defer kl.Unlock()

	val := encodeManifest(m)
	err = db.update(ctx, func(txn kv.Txn) error {
		if err := lockUpload(txn, kv.Exclusive, b, uploadID); err != nil {
			return err
		}
		if !cond.isZero() {
			if err := lock(txn, kv.Exclusive, objectKey(b.ID, u.Key)); err != nil {
				return err
			}
		}
		if err := db.checkBucket(txn, b); err != nil {
			return err
		}
		u, err := getUpload(txn, b.ID, uploadID)
		if err != nil {
			return err
		}
		cur, err := getManifest(txn, b.ID, u.Key)
		if err != nil {
			return err
		}
		if err := checkCondition(cond, cur); err != nil {
			return err
		}
		refs := refDelta{}
		if err := releaseUpload(txn, u, refs); err != nil {
			return err
		}
		if err := set(txn, objectKey(b.ID, u.Key), val); err != nil {
			return err
		}
		refs.add(m.Chunks(), +1)
		if cur != nil {
			refs.add(cur.Chunks(), -1)
		}
		old = cur
		note(txn, Event{Kind: ObjectPut, OrgID: b.OrgID, BucketID: b.ID, Bucket: b.Name, Key: u.Key})
		return db.applyRefs(txn, refs)
	})
	if err != nil {
		return nil, uploadErr("complete", b.ID, uploadID, err)
	}
	return old, nil
}

// AbortUpload deletes the upload and its parts and releases the parts'
// chunk references (ErrNoSuchUpload).
func (db *DB) AbortUpload(ctx context.Context, b Bucket, uploadID string) error {
	if err := db.enter(); err != nil {
		return uploadErr("abort", b.ID, uploadID, err)
	}
	defer db.leave()
	err := db.updateFreeing(ctx, func(txn kv.Txn) error {
		if err := lockUpload(txn, kv.Exclusive, b, uploadID); err != nil {
			return err
		}
		u, err := getUpload(txn, b.ID, uploadID)
		if err != nil {
			return err
		}
		refs := refDelta{}
		if err := releaseUpload(txn, u, refs); err != nil {
			return err
		}
		return db.applyRefs(txn, refs)
	})
	if err != nil {
		return uploadErr("abort", b.ID, uploadID, err)
	}
	return nil
}

// ListUploads returns up to maxUploads (0 means 1000) uploads in progress in the
// bucket whose key has prefix, ordered by key and then by initiation (upload
// ids sort by initiation time), and whether more follow. As in S3, with
// keyMarker alone the listing starts after every upload of keyMarker; with
// both markers, after that upload of keyMarker.
func (db *DB) ListUploads(ctx context.Context, bucketID uint64, prefix, keyMarker, uploadIDMarker string, maxUploads int) (ups []Upload, truncated bool, err error) {
	if err := db.enter(); err != nil {
		return nil, false, fmt.Errorf("catalog: list uploads in bucket %d: %w", bucketID, err)
	}
	defer db.leave()
	if maxUploads <= 0 {
		maxUploads = DefaultMaxKeys
	}
	bp := bucketPrefix(prefixUploadByKey, bucketID, 0)
	scan := appendEscaped(bp[:len(bp):len(bp)], prefix)
	seek := scan
	if keyMarker != "" {
		m := appendEscaped(bp[:len(bp):len(bp)], keyMarker)
		if uploadIDMarker != "" {
			m = append(m, 0x00, 0x01)
			m = append(m, uploadIDMarker...)
			m = append(m, 0x00) // just after that upload
		} else {
			m = append(m, 0x00, 0x02) // after every upload of keyMarker
		}
		if string(m) > string(seek) {
			seek = m
		}
	}
	err = db.view(ctx, func(txn kv.Reader) error {
		it := txn.Iterate(kv.IterOptions{Prefix: scan, KeysOnly: true})
		defer it.Close()
		for it.Seek(seek); it.Valid(); it.Next() {
			if len(ups) == maxUploads {
				truncated = true
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			k := it.Key()
			_, id, ok := splitEscaped(k[len(bp):])
			if !ok || len(id) != uploadIDLen {
				return fmt.Errorf("%w: upload index key", errCorrupt)
			}
			u, err := getUpload(txn, bucketID, string(id))
			if err != nil {
				return fmt.Errorf("upload %s in index: %w", id, err)
			}
			ups = append(ups, u)
		}
		return storageErr(it.Err())
	})
	if err != nil {
		return nil, false, fmt.Errorf("catalog: list uploads in bucket %d: %w", bucketID, err)
	}
	return ups, truncated, nil
}
