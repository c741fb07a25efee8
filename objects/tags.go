package objects

import (
	"context"

	"excloud.dev/buckets/catalog"
)

// SetTags replaces the tag set of key (nil removes every tag), keeping its
// bytes, headers, metadata, ETag and ModTime, as S3's PutObjectTagging and
// DeleteObjectTagging do. Like SetMeta it commits only if the object is still
// the version it read, so a concurrent overwrite is never undone; a lost race
// is catalog.ErrPreconditionFailed.
func (l *Layer) SetTags(ctx context.Context, orgID, bucket, key string, tags map[string]string) (*catalog.Manifest, error) {
	return l.editObject(ctx, orgID, bucket, key, "set tags", func(m *catalog.Manifest) error {
		m.Tags = tags
		return nil
	})
}
