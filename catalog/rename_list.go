package catalog

import (
	"context"
	"fmt"

	"excloud.dev/buckets/catalog/kv"
)

// ListManifests is List that also returns the full manifest of every object
// on the page, read in the same transaction (one snapshot): the FUSE mount
// answers a directory listing and the attribute lookups that follow it
// (ls -l, READDIRPLUS) from one catalog call per page instead of a lookup
// per entry. Manifests are keyed by object key and carry no object bytes
// (Inline is nil, as in the manifests the object layer hands out for
// bodies): they describe; reading goes through ObjectData. It lives beside
// the rename methods because the mount is their only user.
func (db *DB) ListManifests(ctx context.Context, bucketID uint64, o ListOptions) (ListResult, map[string]*Manifest, error) {
	if err := db.enter(); err != nil {
		return ListResult{}, nil, fmt.Errorf("catalog: list bucket %d: %w", bucketID, err)
	}
	defer db.leave()
	var (
		res ListResult
		ms  map[string]*Manifest
	)
	err := db.view(ctx, func(txn kv.Reader) error {
		// Decoded from the values the listing reads: a second read of each
		// key was most of what a listing cost the mount.
		ms = make(map[string]*Manifest)
		var err error
		res, err = listEach(ctx, txn, bucketID, o, func(key string, v []byte) error {
			m, err := decodeManifestNoData(v)
			if err != nil {
				return err
			}
			ms[key] = m
			return nil
		})
		return err
	})
	if err != nil {
		return ListResult{}, nil, fmt.Errorf("catalog: list bucket %d prefix %q: %w", bucketID, o.Prefix, err)
	}
	return res, ms, nil
}
