package objects

import (
	"context"
	"fmt"

	"excloud.dev/buckets/catalog"
)

// SetTags replaces the tag set of key (nil removes every tag), keeping its
// bytes, headers, metadata, ETag and ModTime, as S3's PutObjectTagging and
// DeleteObjectTagging do. Like SetMeta it commits only if the object is still
// the version it read, so a concurrent overwrite is never undone; a lost race
// is catalog.ErrPreconditionFailed.
func (l *Layer) SetTags(ctx context.Context, orgID, bucket, key string, tags map[string]string) (*catalog.Manifest, error) {
	done := l.pins.Lookup()
	defer done()
	b, err := l.meta.Bucket(ctx, orgID, bucket)
	if err != nil {
		return nil, err
	}
	cur, err := l.meta.Object(ctx, b.ID, key)
	if err != nil {
		return nil, err
	}
	m := *cur
	m.Tags = tags
	if _, err := l.meta.PutObject(ctx, b, key, &m, catalog.Condition{IfMatch: cur.ETag}); err != nil {
		return nil, fmt.Errorf("objects: set tags of %s/%s: %w", bucket, key, err)
	}
	return &m, nil
}
