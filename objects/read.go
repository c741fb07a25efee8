package objects

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"sync"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/chunkstore"
)

// Object is an open object version. Its manifest does not change under it
// (a later PUT commits a new manifest), and its chunks are pinned against
// the garbage collector until Close, so a long read of a replaced or
// deleted object still returns the old bytes in full. The pins hold those
// chunks only: a reader open for hours holds back no other collection.
type Object struct {
	// Manifest is the version's manifest. For an object whose bytes are a
	// catalog body its Inline is nil: the bytes live in the Object only,
	// so a caller that keeps the manifest (the mount's inodes) does not
	// keep them.
	Manifest *catalog.Manifest

	data   []byte // the bytes of an object kept in the catalog (inline or body)
	l      *Layer
	starts []int64 // starts[i] is the object offset where Extents[i] begins
	done   func()
}

// Open looks up a key for reading. The caller must Close the object.
func (l *Layer) Open(ctx context.Context, orgID, bucket, key string) (*Object, error) {
	end := l.pins.Lookup()
	defer end()
	b, err := l.meta.Bucket(ctx, orgID, bucket)
	if err != nil {
		return nil, err
	}
	m, err := l.objectData(ctx, b.ID, key)
	if err != nil {
		return nil, err
	}
	return l.openManifest(m), nil
}

// dataCatalog is a catalog that keeps object bytes apart from manifests
// (catalog.Manifest.BodyID); *catalog.DB is one.
type dataCatalog interface {
	ObjectData(ctx context.Context, bucketID uint64, key string) (*catalog.Manifest, error)
}

// objectData returns key's manifest with the bytes the catalog keeps for
// it in Inline, so a reader never meets a manifest whose body is elsewhere.
func (l *Layer) objectData(ctx context.Context, bucketID uint64, key string) (*catalog.Manifest, error) {
	if dc, ok := l.meta.(dataCatalog); ok {
		return dc.ObjectData(ctx, bucketID, key)
	}
	return l.meta.Object(ctx, bucketID, key)
}

// openManifest pins m's chunks; the caller is inside a Lookup that found m.
func (l *Layer) openManifest(m *catalog.Manifest) *Object {
	starts := make([]int64, len(m.Extents))
	var pos int64
	for i, e := range m.Extents {
		starts[i] = pos
		pos += e.Length
	}
	ids := m.Chunks()
	for _, id := range ids {
		l.pins.Pin(id)
	}
	var once sync.Once
	done := func() { once.Do(func() { l.pins.Unpin(ids...) }) }
	o := &Object{Manifest: m, data: m.Inline, l: l, starts: starts, done: done}
	if !m.BodyID.IsZero() {
		o.Manifest = bodyless(m)
	}
	return o
}

// bodyless is m without the bytes of its body (m itself when it has none
// loaded): manifests handed out and kept are small, whatever the object.
func bodyless(m *catalog.Manifest) *catalog.Manifest {
	if m.BodyID.IsZero() || m.Inline == nil {
		return m
	}
	c := *m
	c.Inline = nil
	return &c
}

// Close releases the object; readers made from it must be closed first.
func (o *Object) Close() error {
	o.done()
	return nil
}

// NewReader streams length bytes from off (length < 0: to the end). The
// range must lie within the object (the caller resolves Range headers);
// otherwise ErrInvalidRange. Only the chunk segments that overlap the range
// are read and decrypted.
func (o *Object) NewReader(ctx context.Context, off, length int64) (io.ReadCloser, error) {
	size := o.Manifest.Size
	if length < 0 {
		length = size - off
	}
	if off < 0 || length < 0 || off+length > size {
		return nil, fmt.Errorf("objects: range %d+%d of %d bytes: %w", off, length, size, ErrInvalidRange)
	}
	if len(o.Manifest.Extents) == 0 {
		if int64(len(o.data)) != size {
			// A manifest whose body was not loaded (catalog.ObjectData):
			// a bug, not a reason to serve zeros or panic.
			return nil, fmt.Errorf("objects: object of %d bytes opened without its %d bytes of data", size, len(o.data))
		}
		return io.NopCloser(bytes.NewReader(o.data[off : off+length])), nil
	}
	if length >= aheadMin {
		return newAheadReader(ctx, o, off, off+length), nil
	}
	return &extentReader{ctx: ctx, o: o, pos: off, end: off + length}, nil
}

// extentReader walks the extents that cover [pos, end), opening one chunk
// range at a time.
type extentReader struct {
	ctx      context.Context
	o        *Object
	pos, end int64
	cur      io.ReadCloser
	left     int64 // bytes still expected from cur
}

func (r *extentReader) Read(p []byte) (int, error) {
	for {
		if r.pos >= r.end {
			return 0, io.EOF
		}
		if r.cur == nil {
			if err := r.next(); err != nil {
				return 0, err
			}
		}
		if int64(len(p)) > r.left {
			p = p[:r.left]
		}
		n, err := r.cur.Read(p)
		r.pos += int64(n)
		r.left -= int64(n)
		if r.left == 0 {
			r.cur.Close()
			r.cur = nil
			if err == io.EOF {
				err = nil
			}
		} else if err == io.EOF {
			// A chunk shorter than the extent that names it is damage, as
			// a missing one is (openChunk): 500 or EIO, never the client's
			// short body.
			err = fmt.Errorf("objects: chunk ended %d bytes early: %w: %w", r.left, chunkstore.ErrCorrupt, io.ErrUnexpectedEOF)
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

// openChunk opens n bytes at off of a chunk that a manifest references.
// Such a chunk being gone means the object is damaged (the S3 layer answers
// 500, FUSE EIO), not absent (404, ENOENT): every read of an object's or a
// file's content opens chunks here. Scrub and GC, which look for missing
// chunks, open them from the store directly.
func (l *Layer) openChunk(ctx context.Context, id chunkstore.ID, off, n int64) (io.ReadCloser, error) {
	rc, err := l.chunks.Open(ctx, id, off, n)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("objects: read chunk %s: chunk file missing: %w", id, chunkstore.ErrCorrupt)
	}
	if err != nil {
		return nil, fmt.Errorf("objects: read chunk %s: %w", id, err)
	}
	return rc, nil
}

func (r *extentReader) next() error {
	m := r.o.Manifest
	i := sort.Search(len(r.o.starts), func(i int) bool { return r.o.starts[i] > r.pos }) - 1
	e := m.Extents[i]
	inner := r.pos - r.o.starts[i]
	n := min(e.Length-inner, r.end-r.pos)
	if e.IsZeroRun() {
		r.cur, r.left = zeros{}, n
		return nil
	}
	rc, err := r.o.l.openChunk(r.ctx, e.Chunk, e.Offset+inner, n)
	if err != nil {
		return err
	}
	r.cur, r.left = rc, n
	return nil
}

func (r *extentReader) Close() error {
	if r.cur != nil {
		err := r.cur.Close()
		r.cur = nil
		return err
	}
	return nil
}

// zeros reads as an endless run of zero bytes; extentReader bounds it to a
// zero run's length.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
func (zeros) Close() error               { return nil }
