// Package objects is the one object layer both front doors use. It turns
// "put this stream under this key" into chunk writes plus one catalog
// transaction, serves ranged reads from manifests, and makes copy metadata
// only. It also owns the garbage collector, since only it sees both the
// catalog's reference counts and the uploads and reads in flight.
//
// Crash safety rests on one ordering (docs/format.md, "Ordering"): every
// chunk a manifest references is durable before the catalog transaction that
// commits the manifest, and the commit is the moment of visibility.
package objects

import (
	"context"
	"errors"
	"io"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/chunkstore"
)

// Errors of the object layer itself; catalog and chunkstore sentinels
// (catalog.ErrNotFound, catalog.ErrNoSuchBucket, chunkstore.ErrCorrupt, …)
// pass through wrapped.
var (
	// ErrBadDigest: the body does not match the Content-MD5 the client sent.
	ErrBadDigest = errors.New("content-md5 does not match body")
	// ErrIncompleteBody: the body ended before the declared size, or ran past it.
	ErrIncompleteBody = errors.New("body length differs from declared size")
	// ErrInvalidRange: the requested range lies outside the object.
	ErrInvalidRange = errors.New("range not satisfiable")
	// ErrInvalidPart: a part named in a completion was not uploaded, or its
	// ETag differs.
	ErrInvalidPart = errors.New("invalid part")
	// ErrInvalidPartOrder: completion parts are not in ascending order.
	ErrInvalidPartOrder = errors.New("parts not in ascending order")
	// ErrEntityTooSmall: a part other than the last is under MinPartSize.
	ErrEntityTooSmall = errors.New("part smaller than the minimum")
	// ErrInvalidPartNumber: a part number outside 1..MaxParts.
	ErrInvalidPartNumber = errors.New("part number out of range")
)

// Catalog is what the layer needs of the metadata store; *catalog.DB
// implements it. A distributed key-value catalog would implement the same.
type Catalog interface {
	CreateBucket(ctx context.Context, orgID, name string) (catalog.Bucket, error)
	Bucket(ctx context.Context, orgID, name string) (catalog.Bucket, error)
	ListBuckets(ctx context.Context, orgID string) ([]catalog.Bucket, error)
	DeleteBucket(ctx context.Context, orgID, name string) error

	Object(ctx context.Context, bucketID uint64, key string) (*catalog.Manifest, error)
	Names(ctx context.Context, bucketID uint64, keys ...string) ([]catalog.Name, error)
	PutObject(ctx context.Context, b catalog.Bucket, key string, m *catalog.Manifest, cond catalog.Condition) (*catalog.Manifest, error)
	DeleteObject(ctx context.Context, b catalog.Bucket, key string) (*catalog.Manifest, error)
	List(ctx context.Context, bucketID uint64, o catalog.ListOptions) (catalog.ListResult, error)

	CreateUpload(ctx context.Context, b catalog.Bucket, key string, tmpl catalog.Manifest) (catalog.Upload, error)
	Upload(ctx context.Context, bucketID uint64, uploadID string) (catalog.Upload, error)
	PutPart(ctx context.Context, b catalog.Bucket, uploadID string, p catalog.UploadPart) (*catalog.UploadPart, error)
	ListParts(ctx context.Context, bucketID uint64, uploadID string, afterPart, maxParts int) ([]catalog.UploadPart, bool, error)
	CompleteUpload(ctx context.Context, b catalog.Bucket, uploadID string, m *catalog.Manifest, cond catalog.Condition) (*catalog.Manifest, error)
	AbortUpload(ctx context.Context, b catalog.Bucket, uploadID string) error
	ListUploads(ctx context.Context, bucketID uint64, prefix, keyMarker, uploadIDMarker string, maxUploads int) ([]catalog.Upload, bool, error)

	RefCount(ctx context.Context, id chunkstore.ID) (int64, error)
	// Sync makes every commit made so far durable, including those made
	// with catalog.WithoutSync.
	Sync(ctx context.Context) error
}

// Chunks is what the layer needs of the chunk store; *chunkstore.Store
// implements it.
type Chunks interface {
	// Sum is keyed per org: chunks dedup inside an org, never across.
	Sum(orgID string, p []byte) chunkstore.ID
	Put(ctx context.Context, id chunkstore.ID, p []byte) error
	Open(ctx context.Context, id chunkstore.ID, off, length int64) (io.ReadCloser, error)
	Delete(ctx context.Context, id chunkstore.ID) error
	List(ctx context.Context, fn func(id chunkstore.ID, size int64) error) error
}

// PutOptions describe a PutObject beyond its body.
type PutOptions struct {
	// Size is the exact body length, or -1 if unknown. A body that ends
	// early or runs on fails with ErrIncompleteBody and stores nothing.
	Size int64
	// ContentMD5 is the raw 16-byte digest from Content-MD5, if sent.
	ContentMD5 []byte
	// Meta carries the standard headers, user metadata, checksums and tags
	// to store; Size, ETag, ModTime, Inline, Extents and Parts are ignored.
	Meta catalog.Manifest
	// Cond makes the commit conditional (If-None-Match: *, If-Match).
	Cond catalog.Condition
	// Verify, if set, runs after the body has been read to its end and
	// before the commit, with the manifest about to be committed (it may
	// add checksums to it); an error from it aborts the put and is returned.
	// The S3 layer uses it for trailing checksums.
	Verify func(m *catalog.Manifest) error
}

// CopyOptions describe a CopyObject.
type CopyOptions struct {
	// ReplaceMeta replaces the headers and metadata with Meta
	// (x-amz-metadata-directive: REPLACE); otherwise the source's are kept.
	ReplaceMeta bool
	Meta        catalog.Manifest
	// ReplaceTags sets the copy's tags to Meta.Tags
	// (x-amz-tagging-directive: REPLACE); otherwise the source's are kept.
	ReplaceTags bool
	// Check, if set, is called with the source manifest before the copy
	// commits; an error from it aborts the copy (copy-source preconditions).
	Check func(src *catalog.Manifest) error
	Cond  catalog.Condition
}
