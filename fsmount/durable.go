package fsmount

import (
	"context"
	"io"
	"syscall"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/objects"
)

// lazyObjects makes every change the mount commits visible at once but
// durable only at the next fsync, as on a local filesystem: a create,
// rename, unlink, chmod or close does not wait for the catalog's fsync.
// fsync(2) on any file or directory of the mount waits for one that covers
// every change made before it; the catalog's background sync bounds the
// rest (see the package doc, "Durability"). S3 requests are unaffected:
// they are acknowledged only once durable.
type lazyObjects struct{ Objects }

func lazy(ctx context.Context) context.Context { return catalog.WithoutSync(ctx) }

func (o lazyObjects) CreateBucket(ctx context.Context, orgID, name string) (catalog.Bucket, error) {
	return o.Objects.CreateBucket(lazy(ctx), orgID, name)
}

func (o lazyObjects) DeleteBucket(ctx context.Context, orgID, name string) error {
	return o.Objects.DeleteBucket(lazy(ctx), orgID, name)
}

func (o lazyObjects) Put(ctx context.Context, orgID, bucket, key string, body io.Reader, opts objects.PutOptions) (*catalog.Manifest, error) {
	return o.Objects.Put(lazy(ctx), orgID, bucket, key, body, opts)
}

func (o lazyObjects) Delete(ctx context.Context, orgID, bucket, key string) error {
	return o.Objects.Delete(lazy(ctx), orgID, bucket, key)
}

func (o lazyObjects) Rename(ctx context.Context, orgID, bucket, from, to string) error {
	return o.Objects.Rename(lazy(ctx), orgID, bucket, from, to)
}

func (o lazyObjects) RenamePrefix(ctx context.Context, orgID, bucket, fromPrefix, toPrefix string, limit int) (int, error) {
	return o.Objects.RenamePrefix(lazy(ctx), orgID, bucket, fromPrefix, toPrefix, limit)
}

func (o lazyObjects) SetMeta(ctx context.Context, orgID, bucket, key string, meta map[string]string) (*catalog.Manifest, error) {
	return o.Objects.SetMeta(lazy(ctx), orgID, bucket, key, meta)
}

func (o lazyObjects) UpdateMeta(ctx context.Context, orgID, bucket, key string, set map[string]string) (*catalog.Manifest, error) {
	return o.Objects.UpdateMeta(lazy(ctx), orgID, bucket, key, set)
}

// sync is fsync and fsyncdir: every change made so far through the mount
// becomes durable. The kernel's cancellation of the request does not stop
// it, as it would not stop a disk.
func (f *fsys) sync(ctx context.Context) syscall.Errno {
	return toErrno(f.objs.Sync(context.WithoutCancel(ctx)))
}
