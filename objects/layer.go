package objects

import (
	"context"
	"errors"
	"io"

	"excloud.dev/buckets/catalog"
)

var errTODO = errors.New("objects: not implemented yet")

// Layer is the object layer. It is safe for concurrent use.
type Layer struct{}

func (l *Layer) CreateBucket(ctx context.Context, orgID, name string) (catalog.Bucket, error) {
	return catalog.Bucket{}, errTODO
}
func (l *Layer) DeleteBucket(ctx context.Context, orgID, name string) error { return errTODO }
func (l *Layer) Bucket(ctx context.Context, orgID, name string) (catalog.Bucket, error) {
	return catalog.Bucket{}, errTODO
}
func (l *Layer) ListBuckets(ctx context.Context, orgID string) ([]catalog.Bucket, error) {
	return nil, errTODO
}
func (l *Layer) Put(ctx context.Context, orgID, bucket, key string, body io.Reader, opts PutOptions) (*catalog.Manifest, error) {
	return nil, errTODO
}
func (l *Layer) Head(ctx context.Context, orgID, bucket, key string) (*catalog.Manifest, error) {
	return nil, errTODO
}
func (l *Layer) Open(ctx context.Context, orgID, bucket, key string) (*Object, error) {
	return nil, errTODO
}
func (l *Layer) Delete(ctx context.Context, orgID, bucket, key string) error { return errTODO }
func (l *Layer) Copy(ctx context.Context, orgID, srcBucket, srcKey, dstBucket, dstKey string, opts CopyOptions) (*catalog.Manifest, error) {
	return nil, errTODO
}
func (l *Layer) List(ctx context.Context, orgID, bucket string, opts catalog.ListOptions) (catalog.ListResult, error) {
	return catalog.ListResult{}, errTODO
}

// Object is an open object version. Its manifest does not change; its chunks
// are kept from the garbage collector until Close.
type Object struct {
	Manifest *catalog.Manifest
}

// NewReader streams length bytes from off (length < 0: to the end). The
// range must lie within the object (the caller resolves Range headers).
func (o *Object) NewReader(ctx context.Context, off, length int64) (io.ReadCloser, error) {
	return nil, errTODO
}

// Close releases the object.
func (o *Object) Close() error { return nil }
