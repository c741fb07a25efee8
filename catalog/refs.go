package catalog

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"excloud.dev/buckets/catalog/kv"

	"excloud.dev/buckets/chunkstore"
)

// Reference counts: docs/format.md, "Chunk reference counts".
//
// 'r' || chunkID holds how many (manifest, chunk) and (upload part, chunk)
// pairs reference the chunk: a manifest or part that uses a chunk in several
// extents counts once. The count changes in the same transaction as the
// manifest or part, so it is never out of step with them; a count that
// reaches zero deletes the key, so "no key" means "unreferenced".

// applyRefs adds d to the stored counts inside txn. Each changed count is
// written (or deleted), so two writers sharing a chunk conflict (write-write,
// which every engine detects) and the later one retries with the new count.
func (db *DB) applyRefs(txn kv.Txn, d refDelta) error {
	ids := make([]chunkstore.ID, 0, len(d))
	for id, n := range d {
		if n != 0 {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b chunkstore.ID) int { return bytes.Compare(a[:], b[:]) })
	fenced := false
	for _, id := range ids {
		k := refKey(id)
		var cur int64
		v, err := getValue(txn, k)
		switch {
		case err == nil:
			var m *GCMark
			if cur, m, err = decodeRef(id, v); err != nil {
				return fmt.Errorf("chunk %s: %w", id, err)
			}
			if m != nil && d[id] > 0 && m.State != MarkCondemned {
				// The collector is deleting (or deleted) the chunk this
				// write found in the store: gcstate.go.
				return fmt.Errorf("chunk %s: %w", id, ErrChunkGone)
			}
			if m != nil {
				// Referenced again: the condemnation ends with it.
				if err := del(txn, gcMarkKey(id)); err != nil {
					return err
				}
			}
		case err != errMissing:
			return err
		}
		body := IsBodyID(id)
		if body && cur == 0 && d[id] > 0 {
			// A body comes into use: its value must be there
			// (written by this transaction, or a copy's source).
			if err := checkBody(txn, id); err != nil {
				return err
			}
		}
		if cur == 0 && d[id] > 0 && !fenced && !body {
			// The first reference to a chunk nothing referenced: only a
			// node whose registration stands may add it.
			if err := db.checkFence(txn, fenceOf(txn)); err != nil {
				return err
			}
			fenced = true
		}
		n := cur + d[id]
		if n < 0 {
			// Only a bug can get here. Failing the write would make the
			// object undeletable; clamp and say so instead.
			db.log.Error("catalog: chunk reference count below zero; clamped to 0",
				"chunk", id.String(), "count", cur, "delta", d[id])
			n = 0
		}
		if n == 0 {
			err = del(txn, k)
			if err == nil && body {
				// The last manifest naming the body is gone.
				err = del(txn, bodyKey(id))
			}
		} else {
			err = set(txn, k, encodeCount(n))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// fenceOf is the fencing token of the write txn belongs to.
func fenceOf(txn kv.Txn) uint64 {
	if nt, ok := txn.(*noteTxn); ok {
		return nt.fence
	}
	return 0
}

// RefCount returns how many manifests and upload parts reference the chunk; 0
// when none do.
func (db *DB) RefCount(ctx context.Context, id chunkstore.ID) (int64, error) {
	if err := db.enter(); err != nil {
		return 0, fmt.Errorf("catalog: reference count of chunk %s: %w", id, err)
	}
	defer db.leave()
	var n int64
	err := db.view(ctx, func(txn kv.Reader) error {
		v, err := getValue(txn, refKey(id))
		if err == errMissing {
			return nil
		}
		if err != nil {
			return err
		}
		n, _, err = decodeRef(id, v)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("catalog: reference count of chunk %s: %w", id, err)
	}
	return n, nil
}

// refBatch is how many counts ForEachRef reads per transaction. fn runs
// outside any transaction, so a slow fn (the garbage collector deleting
// files) does not pin an old Badger snapshot.
const refBatch = 1024

// ForEachRef calls fn for every referenced chunk, in chunk id order, with its
// count (always > 0). It stops at the first error from fn or ctx and returns
// it. Counts changed during the walk may or may not be seen.
func (db *DB) ForEachRef(ctx context.Context, fn func(id chunkstore.ID, n int64) error) error {
	if err := db.enter(); err != nil {
		return fmt.Errorf("catalog: for each reference: %w", err)
	}
	defer db.leave()
	type ref struct {
		id chunkstore.ID
		n  int64
	}
	p := []byte{prefixRef}
	seek := p
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := make([]ref, 0, refBatch)
		err := db.view(ctx, func(txn kv.Reader) error {
			it := txn.Iterate(kv.IterOptions{Prefix: p, Prefetch: 256})
			defer it.Close()
			for it.Seek(seek); it.Valid() && len(batch) < refBatch; it.Next() {
				k := it.Key()
				var r ref
				if copy(r.id[:], k[1:]) != len(r.id) || len(k) != 1+len(r.id) {
					return fmt.Errorf("%w: reference key of %d bytes", errCorrupt, len(k))
				}
				v, err := it.Value()
				if err != nil {
					return storageErr(err)
				}
				if r.n, _, err = decodeRef(r.id, v); err != nil {
					return fmt.Errorf("chunk %s: %w", r.id, err)
				}
				if r.n == 0 {
					continue // a collector's mark (gcstate.go)
				}
				batch = append(batch, r)
			}
			return storageErr(it.Err())
		})
		if err != nil {
			return fmt.Errorf("catalog: for each reference: %w", err)
		}
		for _, r := range batch {
			if err := fn(r.id, r.n); err != nil {
				return err
			}
		}
		if len(batch) < refBatch {
			return nil
		}
		last := batch[len(batch)-1].id
		seek = append(refKey(last), 0) // just after the last key seen
	}
}
