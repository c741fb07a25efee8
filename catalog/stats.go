package catalog

import (
	"context"
	"encoding/binary"
	"fmt"

	"excloud.dev/buckets/catalog/kv"
	"excloud.dev/buckets/chunkstore"
)

// Stats is a point-in-time summary of the catalog, for the admin API.
type Stats struct {
	// Orgs maps every org id to its usage.
	Orgs map[string]OrgStats
	// Chunks is the number of referenced chunks.
	Chunks int64
}

// OrgStats is one org's usage.
type OrgStats struct {
	Name    string
	Buckets int
	Objects int64
	Bytes   int64 // logical: the sum of object sizes, before dedup
	Uploads int64 // multipart uploads in progress
}

// Stats scans the whole catalog in one read transaction: its cost grows with
// the number of objects, which is acceptable for an admin command.
func (db *DB) Stats(ctx context.Context) (Stats, error) {
	if err := db.enter(); err != nil {
		return Stats{}, fmt.Errorf("catalog: stats: %w", err)
	}
	defer db.leave()
	st := Stats{Orgs: map[string]OrgStats{}}
	err := db.view(ctx, func(txn kv.Reader) error {
		orgOf := map[uint64]string{}
		err := scan(ctx, txn, []byte{prefixOrg}, true, func(k, v []byte) error {
			o, err := decodeOrg(v)
			if err != nil {
				return err
			}
			st.Orgs[o.ID] = OrgStats{Name: o.Name}
			return nil
		})
		if err != nil {
			return err
		}
		err = scan(ctx, txn, []byte{prefixBucket}, true, func(k, v []byte) error {
			b, err := decodeBucket(v)
			if err != nil {
				return err
			}
			orgOf[b.ID] = b.OrgID
			s := st.Orgs[b.OrgID]
			s.Buckets++
			st.Orgs[b.OrgID] = s
			return nil
		})
		if err != nil {
			return err
		}
		err = scan(ctx, txn, []byte{prefixObject}, true, func(k, v []byte) error {
			m, err := decodeManifestHead(v)
			if err != nil {
				return err
			}
			org := orgOf[binary.BigEndian.Uint64(k[1:9])]
			s := st.Orgs[org]
			s.Objects++
			s.Bytes += m.Size
			st.Orgs[org] = s
			return nil
		})
		if err != nil {
			return err
		}
		err = scan(ctx, txn, []byte{prefixUpload}, false, func(k, _ []byte) error {
			org := orgOf[binary.BigEndian.Uint64(k[1:9])]
			s := st.Orgs[org]
			s.Uploads++
			st.Orgs[org] = s
			return nil
		})
		if err != nil {
			return err
		}
		return scan(ctx, txn, []byte{prefixRef}, false, func(k, _ []byte) error {
			var id chunkstore.ID
			if copy(id[:], k[1:]) == len(id) && IsBodyID(id) {
				return nil // an object body's count, not a chunk's
			}
			st.Chunks++
			return nil
		})
	})
	if err != nil {
		return Stats{}, fmt.Errorf("catalog: stats: %w", err)
	}
	return st, nil
}

// scan calls fn for every key with prefix p (and its value if values is set;
// otherwise the scan reads keys only). k and v are valid only during fn.
func scan(ctx context.Context, txn kv.Reader, p []byte, values bool, fn func(k, v []byte) error) error {
	o := kv.IterOptions{Prefix: p, KeysOnly: !values}
	if values {
		o.Prefetch = 100
	}
	it := txn.Iterate(o)
	defer it.Close()
	n := 0
	for it.Seek(p); it.Valid(); it.Next() {
		if n++; n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if !values {
			if err := fn(it.Key(), nil); err != nil {
				return err
			}
			continue
		}
		v, err := it.Value()
		if err != nil {
			return storageErr(err)
		}
		if err := fn(it.Key(), v); err != nil {
			return err
		}
	}
	return storageErr(it.Err())
}
