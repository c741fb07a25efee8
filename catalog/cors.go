package catalog

import "context"

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
	return db.editBucket(ctx, orgID, name, "set CORS on", func(b *Bucket) bool {
		if len(rules) == 0 && len(b.CORS) == 0 {
			return false
		}
		b.CORS = rules
		return true
	})
}
