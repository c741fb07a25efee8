package objects

import (
	"context"
	"errors"

	"excloud.dev/buckets/catalog"
)

// ErrCORSUnsupported is returned by SetBucketCORS when the catalog cannot
// store CORS rules.
var ErrCORSUnsupported = errors.New("objects: the catalog does not store CORS rules")

// corsSetter is the catalog's optional CORS store; *catalog.DB implements
// it. Optional, as renamer is, so the Catalog interface does not change.
type corsSetter interface {
	SetBucketCORS(ctx context.Context, orgID, name string, rules []catalog.CORSRule) error
}

// SetBucketCORS replaces a bucket's CORS rules (nil removes them). The
// rules are read back with the bucket (catalog.Bucket.CORS).
func (l *Layer) SetBucketCORS(ctx context.Context, orgID, name string, rules []catalog.CORSRule) error {
	c, ok := l.meta.(corsSetter)
	if !ok {
		return ErrCORSUnsupported
	}
	return c.SetBucketCORS(ctx, orgID, name, rules)
}
