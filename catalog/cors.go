package catalog

import (
	"context"

	"github.com/dgraph-io/badger/v4"
)

// CORSRule is one rule of a bucket's CORS configuration, as S3's
// PutBucketCors defines it. The gateway validates rules before storing them;
// the catalog keeps them as given.
type CORSRule struct {
	ID             string
	AllowedOrigins []string // each may hold one "*" wildcard
	AllowedMethods []string // GET, PUT, POST, DELETE, HEAD
	AllowedHeaders []string // each may hold one "*" wildcard
	ExposeHeaders  []string
	MaxAgeSeconds  *int // nil: not given, no Access-Control-Max-Age
}

// SetBucketCORS replaces the bucket's CORS rules; nil or empty removes them
// (DeleteBucketCors). The rules live in the bucket record, so they go with
// the bucket: deleting the bucket deletes them, and a bucket created again
// under the name starts with none.
func (db *DB) SetBucketCORS(ctx context.Context, orgID, name string, rules []CORSRule) error {
	if err := db.enter(); err != nil {
		return bucketErr("set CORS on", orgID, name, err)
	}
	defer db.leave()
	defer db.buckets.invalidate(bucketRef{orgID, name})
	err := db.update(ctx, func(txn *badger.Txn) error {
		b, err := getBucket(txn, orgID, name)
		if err != nil {
			return err
		}
		if len(rules) == 0 && len(b.CORS) == 0 {
			return nil
		}
		b.CORS = rules
		return set(txn, bucketKey(orgID, name), encodeBucket(b))
	})
	if err != nil {
		return bucketErr("set CORS on", orgID, name, err)
	}
	return nil
}
