package objects

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"golang.org/x/sync/semaphore"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/chunkstore"
)

// InlineMax is the largest object kept inside its manifest instead of in a
// chunk: a small PUT then costs one catalog commit and no chunk file, and
// Badger encrypts it like every other value.
const InlineMax = 8 << 10

// BodyMax is the largest object kept in the catalog rather than in a chunk
// file: above InlineMax, its bytes sit under a catalog key of their own
// (catalog.Manifest.BodyID), written in the commit's transaction, so the
// PUT costs one catalog commit (shared by concurrent commits) instead of a
// chunk file's write, fsync and directory fsync, while listings, which
// decode manifests only, never read the bytes. Above it, a chunk file's
// fixed cost is small next to the data, and chunks dedup. docs/design.md,
// "Medium objects in the catalog".
const BodyMax = 128 << 10

// chunkSize is how a stream is cut into chunks. Fixed-size cutting keeps
// dedup of whole files and of aligned multipart parts, and bounds the memory
// of one chunk in flight.
const chunkSize = chunkstore.MaxChunkSize

// maxBuffers bounds the chunk buffers in flight across all puts, so memory
// stays flat however many clients upload at once.
const maxBuffers = 16

// Layer is the object layer. It is safe for concurrent use.
type Layer struct {
	meta   Catalog
	chunks Chunks
	log    *slog.Logger
	now    func() time.Time

	workers int           // chunk workers per put
	bufs    chan []byte   // free chunk buffers; also the global bound
	sem     chan struct{} // tokens for allocating a buffer

	// flightTokens bound the extra chunks FileWriters write in the
	// background beyond one per session (see maxFlights).
	flightTokens chan struct{}

	pins Pins // chunks leased by writes and pinned by readers; see GC

	bodyMem *semaphore.Weighted // bodyBudget, in bytes (put.go)

	// beforeCommit, when set by tests, runs after all chunks of a put are
	// durable and before the catalog commit.
	beforeCommit func()
}

// New returns a layer over a catalog and a chunk store.
func New(meta Catalog, chunks Chunks, log *slog.Logger) *Layer {
	if log == nil {
		log = slog.Default()
	}
	// Chunk workers spend much of their time waiting for fsync, not on a
	// core, so there are more of them than cores; the buffer bound below,
	// not the worker count, is what limits memory.
	w := min(max(2*runtime.GOMAXPROCS(0), 4), 8)
	l := &Layer{
		meta:    meta,
		chunks:  chunks,
		log:     log,
		now:     time.Now,
		workers: w,
		bufs:    make(chan []byte, maxBuffers),
		// 8 extra 4 MiB buffers: enough for two files written at full
		// speed, and a bound however many files are open.
		flightTokens: make(chan struct{}, 8),
		sem:          make(chan struct{}, maxBuffers),
		bodyMem:      semaphore.NewWeighted(bodyBudget),
	}
	l.pins = newMemPins()
	if fc := l.fleet(); fc != nil {
		fc.SetGCScanner(l.pins.Scan)
	}
	return l
}

// CreateBucket creates a bucket in an org.
func (l *Layer) CreateBucket(ctx context.Context, orgID, name string) (catalog.Bucket, error) {
	return l.meta.CreateBucket(ctx, orgID, name)
}

// DeleteBucket removes an empty bucket.
func (l *Layer) DeleteBucket(ctx context.Context, orgID, name string) error {
	return l.meta.DeleteBucket(ctx, orgID, name)
}

// Bucket returns a bucket of an org.
func (l *Layer) Bucket(ctx context.Context, orgID, name string) (catalog.Bucket, error) {
	return l.meta.Bucket(ctx, orgID, name)
}

// ListBuckets returns an org's buckets by name.
func (l *Layer) ListBuckets(ctx context.Context, orgID string) ([]catalog.Bucket, error) {
	return l.meta.ListBuckets(ctx, orgID)
}

// Head returns the manifest of a key.
func (l *Layer) Head(ctx context.Context, orgID, bucket, key string) (*catalog.Manifest, error) {
	b, err := l.meta.Bucket(ctx, orgID, bucket)
	if err != nil {
		return nil, err
	}
	return l.meta.Object(ctx, b.ID, key)
}

// Names tells, for each key, the object under it and whether it is a
// directory (keys under key+"/"), from one catalog snapshot; see
// catalog.Name.
func (l *Layer) Names(ctx context.Context, orgID, bucket string, keys ...string) ([]catalog.Name, error) {
	b, err := l.meta.Bucket(ctx, orgID, bucket)
	if err != nil {
		return nil, err
	}
	return l.meta.Names(ctx, b.ID, keys...)
}

// Delete removes a key. A missing key is catalog.ErrNotFound; the S3 layer
// turns that into success, FUSE into ENOENT. The chunks it referenced are left
// to the garbage collector, which keeps them while a reader still has them open.
func (l *Layer) Delete(ctx context.Context, orgID, bucket, key string) error {
	b, err := l.meta.Bucket(ctx, orgID, bucket)
	if err != nil {
		return err
	}
	_, err = l.meta.DeleteObject(ctx, b, key)
	return err
}

// List returns one page of a bucket's keys.
func (l *Layer) List(ctx context.Context, orgID, bucket string, opts catalog.ListOptions) (catalog.ListResult, error) {
	b, err := l.meta.Bucket(ctx, orgID, bucket)
	if err != nil {
		return catalog.ListResult{}, err
	}
	return l.meta.List(ctx, b.ID, opts)
}

// Copy makes dst a new object with src's bytes. It is metadata only: the new
// manifest references the same chunks (or the same inline bytes), so the cost
// does not depend on the object's size.
func (l *Layer) Copy(ctx context.Context, orgID, srcBucket, srcKey, dstBucket, dstKey string, opts CopyOptions) (*catalog.Manifest, error) {
	if opts.ReplaceMeta {
		if err := CheckMeta(&opts.Meta); err != nil {
			return nil, fmt.Errorf("objects: copy %s/%s to %s/%s: %w", srcBucket, srcKey, dstBucket, dstKey, err)
		}
	}
	// A lookup that lasts until the destination's commit has counted the
	// source's chunks keeps them from the collector without pinning each.
	done := l.pins.Lookup()
	defer done()

	sb, err := l.meta.Bucket(ctx, orgID, srcBucket)
	if err != nil {
		return nil, err
	}
	db := sb
	if dstBucket != srcBucket {
		if db, err = l.meta.Bucket(ctx, orgID, dstBucket); err != nil {
			return nil, err
		}
	}
	src, err := l.meta.Object(ctx, sb.ID, srcKey)
	if err != nil {
		return nil, err
	}
	if opts.Check != nil {
		if err := opts.Check(src); err != nil {
			return nil, err
		}
	}
	m := *src
	if opts.ReplaceMeta {
		setMeta(&m, &opts.Meta)
		m.Checksums = src.Checksums
	}
	if opts.ReplaceTags {
		m.Tags = opts.Meta.Tags
	}
	m.ModTime = l.now().UTC()
	if _, err := l.meta.PutObject(ctx, db, dstKey, &m, opts.Cond); err != nil {
		return nil, fmt.Errorf("objects: copy %s/%s to %s/%s: %w", srcBucket, srcKey, dstBucket, dstKey, err)
	}
	return &m, nil
}

// setMeta copies the caller-settable fields (standard headers, user
// metadata) from src into m.
func setMeta(m, src *catalog.Manifest) {
	m.ContentType = src.ContentType
	m.ContentEncoding = src.ContentEncoding
	m.ContentDisposition = src.ContentDisposition
	m.ContentLanguage = src.ContentLanguage
	m.CacheControl = src.CacheControl
	m.Expires = src.Expires
	m.Meta = src.Meta
}
