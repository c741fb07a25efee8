package objects

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"excloud.dev/buckets/catalog"
)

// ErrRenameUnsupported: the catalog behind the layer cannot rename.
var ErrRenameUnsupported = errors.New("catalog cannot rename")

// renamer is the optional part of Catalog that renames keys in place;
// *catalog.DB implements it. It is optional so the Catalog interface (and any
// other implementation of it) does not change.
type renamer interface {
	RenameObject(ctx context.Context, b catalog.Bucket, from, to string) error
	RenamePrefix(ctx context.Context, b catalog.Bucket, fromPrefix, toPrefix string, limit int) (int, error)
}

func (l *Layer) renamer() (renamer, error) {
	r, ok := l.meta.(renamer)
	if !ok {
		return nil, ErrRenameUnsupported
	}
	return r, nil
}

// Rename moves key from to key to within one bucket, replacing to if it
// exists, in one catalog transaction. It is metadata only: the manifest,
// its chunks, ETag and ModTime are unchanged.
func (l *Layer) Rename(ctx context.Context, orgID, bucket, from, to string) error {
	r, err := l.renamer()
	if err != nil {
		return err
	}
	b, err := l.meta.Bucket(ctx, orgID, bucket)
	if err != nil {
		return err
	}
	if err := r.RenameObject(ctx, b, from, to); err != nil {
		return fmt.Errorf("objects: %w", err)
	}
	return nil
}

// RenamePrefix moves every key under fromPrefix to toPrefix in one catalog
// transaction (see catalog.DB.RenamePrefix for the bound, limit 0 meaning
// catalog.DefaultRenameLimit; beyond it, catalog.ErrRenameTooLarge and
// nothing moves). It returns how many keys moved.
func (l *Layer) RenamePrefix(ctx context.Context, orgID, bucket, fromPrefix, toPrefix string, limit int) (int, error) {
	r, err := l.renamer()
	if err != nil {
		return 0, err
	}
	b, err := l.meta.Bucket(ctx, orgID, bucket)
	if err != nil {
		return 0, err
	}
	n, err := r.RenamePrefix(ctx, b, fromPrefix, toPrefix, limit)
	if err != nil {
		return n, fmt.Errorf("objects: %w", err)
	}
	return n, nil
}

// SetMeta replaces the user metadata of key, keeping its bytes, headers and
// checksums and ModTime, in one catalog transaction (metadata only, like a
// self-copy with REPLACE). It is conditional on the version it read, so a
// concurrent overwrite is not undone (catalog.ErrPreconditionFailed).
func (l *Layer) SetMeta(ctx context.Context, orgID, bucket, key string, meta map[string]string) (*catalog.Manifest, error) {
	return l.editObject(ctx, orgID, bucket, key, "set metadata", func(m *catalog.Manifest) error {
		if err := CheckUserMetaEdit(m.Meta, meta); err != nil {
			return err
		}
		m.Meta = meta
		return nil
	})
}

// UpdateMeta sets the metadata keys in set on key, keeping every other key,
// its bytes and its ModTime: SetMeta merged with the stored metadata in one
// read, for changes that touch a few keys of an object the caller has not
// read (the FUSE mount's ctime on rename, a directory marker's times).
func (l *Layer) UpdateMeta(ctx context.Context, orgID, bucket, key string, set map[string]string) (*catalog.Manifest, error) {
	return l.editObject(ctx, orgID, bucket, key, "update metadata", func(m *catalog.Manifest) error {
		merged := make(map[string]string, len(m.Meta)+len(set))
		maps.Copy(merged, m.Meta)
		maps.Copy(merged, set)
		if err := CheckUserMetaEdit(m.Meta, merged); err != nil {
			return err
		}
		m.Meta = merged
		return nil
	})
}

// editObject is the read-modify-write behind SetMeta, UpdateMeta and
// SetTags: edit changes a copy of key's stored manifest, which is committed
// only if the object is still the version read (IfMatch on its ETag), so a
// concurrent overwrite is never undone. An error from edit or the commit is
// wrapped as "objects: <what> of bucket/key"; a missing bucket or key is
// returned as the catalog gave it. edit must not keep m or change the maps it
// shares with the stored manifest in place: replace them.
func (l *Layer) editObject(ctx context.Context, orgID, bucket, key, what string, edit func(m *catalog.Manifest) error) (*catalog.Manifest, error) {
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
	if err := edit(&m); err != nil {
		return nil, fmt.Errorf("objects: %s of %s/%s: %w", what, bucket, key, err)
	}
	if _, err := l.meta.PutObject(ctx, b, key, &m, catalog.Condition{IfMatch: cur.ETag}); err != nil {
		return nil, fmt.Errorf("objects: %s of %s/%s: %w", what, bucket, key, err)
	}
	return &m, nil
}

// Sync makes every change committed so far durable: the FUSE mount's fsync.
// Chunks are always durable before a commit references them, so only the
// catalog needs syncing.
func (l *Layer) Sync(ctx context.Context) error {
	if err := l.meta.Sync(ctx); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return nil
}
