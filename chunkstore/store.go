package chunkstore

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
)

// MaxChunkSize is the largest plaintext a chunk holds (docs/format.md,
// "Chunk ids"). Callers cut streams into chunks of at most this size; it
// bounds the memory one Put needs.
const MaxChunkSize = 4 << 20

// Store keeps chunks sealed on a Backend. It is safe for concurrent use.
type Store struct {
	b       Backend
	keys    Keys
	segSize int64    // SegmentSize except in tests
	macs    sync.Map // org id → *sync.Pool of HMACs under the org's id key
	stats   counters
	headers headerCache
}

// Stats are cumulative counters since New, for benchmarks and metrics.
type Stats struct {
	BytesReadFromBackend  int64 // chunk file bytes read, headers included
	BytesWrittenToBackend int64 // chunk file bytes handed to Backend.Put
	BytesDecrypted        int64 // plaintext bytes of segments opened
	BytesSealed           int64 // plaintext bytes sealed
	ChunksWritten         int64 // Puts that wrote a chunk file
	ChunksDeduped         int64 // Puts skipped because the chunk existed (ids are per org, so only ever the same org's)
	ChunksOpened          int64 // successful Opens
	CorruptReads          int64 // reads that failed with ErrCorrupt
}

type counters struct {
	readBackend, wroteBackend, decrypted, sealed atomic.Int64
	written, deduped, opened, corrupt            atomic.Int64
}

// New returns a Store that keeps chunks on b under keys k.
func New(b Backend, k Keys) (*Store, error) {
	if b == nil {
		return nil, errors.New("chunkstore: nil backend")
	}
	if k.ID == ([32]byte{}) || k.Seal == ([32]byte{}) {
		return nil, errors.New("chunkstore: zero keys (use DeriveKeys)")
	}
	return &Store{b: b, keys: k, segSize: SegmentSize}, nil
}

// Stats returns a snapshot of the counters.
func (s *Store) Stats() Stats {
	c := &s.stats
	return Stats{
		BytesReadFromBackend:  c.readBackend.Load(),
		BytesWrittenToBackend: c.wroteBackend.Load(),
		BytesDecrypted:        c.decrypted.Load(),
		BytesSealed:           c.sealed.Load(),
		ChunksWritten:         c.written.Load(),
		ChunksDeduped:         c.deduped.Load(),
		ChunksOpened:          c.opened.Load(),
		CorruptReads:          c.corrupt.Load(),
	}
}

// Sum returns the id of a chunk holding p written for org: HMAC-SHA-256 of
// p under the org's chunk-id key (docs/format.md, "Chunk ids"). Equal
// plaintext gets equal ids within an org only, so dedup never crosses
// tenants: no org can learn, from an upload's cost or a dedup counter,
// whether another stores a file.
func (s *Store) Sum(org string, p []byte) ID {
	pool := s.macPool(org)
	m := pool.Get().(hash.Hash)
	m.Reset()
	m.Write(p)
	var id ID
	m.Sum(id[:0])
	pool.Put(m)
	return id
}

func (s *Store) macPool(org string) *sync.Pool {
	if p, ok := s.macs.Load(org); ok {
		return p.(*sync.Pool)
	}
	key, err := orgIDKey(&s.keys.ID, org)
	if err != nil {
		// HKDF fails only for an output longer than 255 hash lengths.
		panic(err)
	}
	p, _ := s.macs.LoadOrStore(org, &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }})
	return p.(*sync.Pool)
}

// Put stores p as chunk id; the caller guarantees id == s.Sum(org, p) for
// the org whose object will reference it. When Put returns nil the chunk is
// durable, so a manifest may now reference it (docs/format.md, "Ordering").
// A chunk that already exists with the expected size is not written again. Sealing streams segment by segment into
// the backend, so Put needs O(SegmentSize) memory beyond p.
func (s *Store) Put(ctx context.Context, id ID, p []byte) error {
	if len(p) > MaxChunkSize {
		return fmt.Errorf("chunkstore: put chunk %v: %d bytes exceeds MaxChunkSize %d", id, len(p), MaxChunkSize)
	}
	name := id.String()
	h := header{segSize: s.segSize, plen: int64(len(p))}
	switch size, err := s.b.Stat(ctx, name); {
	case err == nil && size == h.sealedSize():
		s.stats.deduped.Add(1)
		return nil
	case err == nil:
		// A file of the wrong size can never authenticate; backends may keep
		// an existing name on Put, so remove it first.
		if err := s.b.Delete(ctx, name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("chunkstore: put chunk %v: replace damaged file: %w", id, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("chunkstore: put chunk %v: %w", id, err)
	}
	if _, err := rand.Read(h.salt[:]); err != nil {
		return fmt.Errorf("chunkstore: put chunk %v: %w", id, err)
	}
	raw := h.marshal()
	c, err := newSegmentCipher(&s.keys.Seal, id, &h, raw[:])
	if err != nil {
		return fmt.Errorf("chunkstore: put chunk %v: %w", id, err)
	}
	r := &sealReader{c: c, h: &h, p: p, all: p, pending: raw[:], n: h.segments()}
	if err := s.b.Put(ctx, name, r); err != nil {
		return fmt.Errorf("chunkstore: put chunk %v: %w", id, err)
	}
	s.stats.written.Add(1)
	s.stats.sealed.Add(int64(len(p)))
	s.stats.wroteBackend.Add(h.sealedSize())
	return nil
}

// segPool recycles segment buffers: a 4 KiB random read would otherwise
// allocate (and the GC clear) a 64 KiB buffer per Open.
var segPool = sync.Pool{New: func() any { return new([SegmentSize + SegmentOverhead]byte) }}

// getSegmentBuffer returns a buffer of n bytes, pooled if n fits a default
// segment, and the pool entry to give back (nil if not pooled).
func getSegmentBuffer(n int64) ([]byte, *[SegmentSize + SegmentOverhead]byte) {
	if n > SegmentSize+SegmentOverhead {
		return make([]byte, n), nil
	}
	p := segPool.Get().(*[SegmentSize + SegmentOverhead]byte)
	return p[:n], p
}

// sealReader yields a chunk file, sealing one segment at a time, so that the
// sealed copy never exists in memory as a whole.
type sealReader struct {
	c       *segmentCipher
	h       *header
	p       []byte // plaintext not yet sealed
	all     []byte // the whole plaintext, for Seek
	pending []byte // sealed bytes not yet read
	buf     []byte
	pooled  *[SegmentSize + SegmentOverhead]byte
	i, n    int64 // next segment, number of segments
}

// Read fills b across segments, so a large buffer means few write calls.
func (r *sealReader) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		if len(r.pending) == 0 {
			if r.i == r.n {
				if r.pooled != nil {
					segPool.Put(r.pooled)
					r.pooled, r.buf = nil, nil
				}
				if n == 0 {
					return 0, io.EOF
				}
				return n, nil
			}
			k := r.h.plainLen(r.i)
			if r.buf == nil {
				r.buf, r.pooled = getSegmentBuffer(min(r.h.segSize, r.h.plen) + SegmentOverhead)
			}
			r.pending = r.c.seal(r.buf[:0], r.p[:k], r.i, r.i == r.n-1)
			r.p = r.p[k:]
			r.i++
		}
		m := copy(b[n:], r.pending)
		r.pending = r.pending[m:]
		n += m
	}
	return n, nil
}

// Has reports whether chunk id is stored.
func (s *Store) Has(ctx context.Context, id ID) (bool, error) {
	_, err := s.b.Stat(ctx, id.String())
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("chunkstore: stat chunk %v: %w", id, err)
	}
	return true, nil
}

// Delete removes chunk id. A missing chunk is an fs.ErrNotExist error.
func (s *Store) Delete(ctx context.Context, id ID) error {
	s.headers.drop(id)
	if err := s.b.Delete(ctx, id.String()); err != nil {
		return fmt.Errorf("chunkstore: delete chunk %v: %w", id, err)
	}
	return nil
}

// List calls fn for every stored chunk with the size of its file (not of its
// plaintext). Backend names that are not chunk ids are skipped.
func (s *Store) List(ctx context.Context, fn func(id ID, size int64) error) error {
	return s.b.List(ctx, "", func(name string, size int64) error {
		id, err := ParseID(name)
		if err != nil || id.String() != name {
			return nil
		}
		return fn(id, size)
	})
}

// Open returns the plaintext bytes [off, off+length) of chunk id; length < 0
// reads to the end. It reads the header and then only the segments that
// overlap the range, in one backend read, and verifies each segment before
// handing out any byte of it; the first segment is verified before Open
// returns. A missing chunk is an fs.ErrNotExist error, a range outside the
// plaintext is ErrRange, and a damaged chunk is ErrCorrupt, from Open or Read.
func (s *Store) Open(ctx context.Context, id ID, off, length int64) (io.ReadCloser, error) {
	r, err := s.open(ctx, id, off, length)
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			s.stats.corrupt.Add(1)
		}
		return nil, fmt.Errorf("chunkstore: chunk %v: %w", id, err)
	}
	s.stats.opened.Add(1)
	return r, nil
}

func (s *Store) open(ctx context.Context, id ID, off, length int64) (*chunkReader, error) {
	r, err := s.openOnce(ctx, id, off, length)
	if err != nil && errors.Is(err, ErrCorrupt) && s.invalidate(id) {
		// The damaged bytes came from a copy: read the chunk again.
		r, err = s.openOnce(ctx, id, off, length)
	}
	return r, err
}

// invalidate drops what the store and its backend cache of chunk id, and
// reports whether the backend had a copy to drop.
func (s *Store) invalidate(id ID) bool {
	s.headers.drop(id)
	inv, ok := s.b.(Invalidator)
	if ok {
		inv.Invalidate(id.String())
	}
	return ok
}

func (s *Store) openOnce(ctx context.Context, id ID, off, length int64) (*chunkReader, error) {
	if raw, ok := s.headers.get(id); ok {
		r, err := s.openWithHeader(ctx, id, raw, off, length)
		if err == nil || !errors.Is(err, ErrCorrupt) {
			return r, err
		}
		// A stale header (the chunk was stored again with a new salt):
		// read it again rather than report damage.
		s.headers.drop(id)
	}
	hr, err := s.b.Open(ctx, id.String(), 0, int64(HeaderSize))
	if err != nil {
		return nil, err
	}
	var raw [HeaderSize]byte
	n, err := io.ReadFull(hr, raw[:])
	hr.Close()
	s.stats.readBackend.Add(int64(n))
	if err != nil {
		return nil, truncated("header", err)
	}
	r, err := s.openWithHeader(ctx, id, raw, off, length)
	if err == nil || errors.Is(err, ErrRange) {
		// A segment has authenticated the header.
		s.headers.put(id, raw)
	}
	return r, err
}

func (s *Store) openWithHeader(ctx context.Context, id ID, raw [HeaderSize]byte, off, length int64) (*chunkReader, error) {
	name := id.String()
	h, err := parseHeader(raw[:])
	if err != nil {
		return nil, err
	}
	c, err := newSegmentCipher(&s.keys.Seal, id, &h, raw[:])
	if err != nil {
		return nil, err
	}
	if off < 0 || off > h.plen || (length >= 0 && length > h.plen-off) {
		// The length came from a header not yet authenticated: a damaged
		// chunk must be reported as such, not as a client's bad range.
		r, err := s.openRange(ctx, name, c, h, h.plen, 0)
		if err != nil {
			return nil, err
		}
		r.Close()
		return nil, fmt.Errorf("range [%d, +%d) of %d bytes: %w", off, length, h.plen, ErrRange)
	}
	if length < 0 {
		length = h.plen - off
	}
	return s.openRange(ctx, name, c, h, off, length)
}

// openRange opens a valid plaintext range, verifying its first segment.
func (s *Store) openRange(ctx context.Context, name string, c *segmentCipher, h header, off, length int64) (*chunkReader, error) {
	nseg := h.segments()
	// An empty range still opens one segment: that authenticates the header,
	// so a forged length cannot turn a corrupt chunk into a clean empty read.
	first := min(off/h.segSize, nseg-1)
	last := first
	if length > 0 {
		last = (off + length - 1) / h.segSize
	}
	start := h.segmentOffset(first)
	span := h.segmentOffset(last+1) - start
	if last == nseg-1 {
		// Read to the end so that bytes after the final segment are seen.
		span = -1
	}
	src, err := s.b.Open(ctx, name, start, span)
	if err != nil {
		return nil, err
	}
	r := &chunkReader{
		s: s, c: c, h: h, src: src,
		i: first, nseg: nseg,
		skip: off - first*h.segSize, remain: length,
		ctx: ctx, name: name, last: last,
	}
	r.buf, r.pooled = getSegmentBuffer(h.plainLen(first) + SegmentOverhead)
	if err := r.next(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// truncated turns a short read into ErrCorrupt: the header promised more.
func truncated(what string, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%s: truncated: %w", what, ErrCorrupt)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// chunkReader streams verified plaintext of a range of one chunk.
type chunkReader struct {
	s      *Store
	c      *segmentCipher
	h      header
	src    io.ReadCloser
	i      int64 // next segment to read
	nseg   int64
	skip   int64 // plaintext bytes before the range in segment i
	remain int64 // plaintext bytes of the range not yet returned
	buf    []byte
	pooled *[SegmentSize + SegmentOverhead]byte
	out    []byte // verified plaintext not yet returned
	err    error
	// For rereading the rest of the range once when a backend's copy
	// (a read cache) turns out damaged.
	ctx     context.Context
	name    string
	last    int64
	retried bool
}

// next reads and verifies segment r.i into r.out.
func (r *chunkReader) next() error {
	p, err := r.readSegment(nil)
	if err != nil {
		return err
	}
	p = p[r.skip:]
	r.skip = 0
	r.out = p[:min(int64(len(p)), r.remain)]
	return nil
}

// readSegment reads segment r.i and decrypts it into dst[:0] or, if dst is
// nil, in place in r.buf. Only verified plaintext is returned; on failure
// dst may have been scribbled on.
func (r *chunkReader) readSegment(dst []byte) ([]byte, error) {
	i := r.i
	final := i == r.nseg-1
	sealed := r.buf[:r.h.plainLen(i)+SegmentOverhead]
	n, err := io.ReadFull(r.src, sealed)
	r.s.stats.readBackend.Add(int64(n))
	if err != nil {
		return nil, truncated(fmt.Sprintf("segment %d", i), err)
	}
	if dst == nil {
		dst = sealed
	}
	p, err := r.c.open(dst[:0], sealed, i, final)
	if err != nil {
		return nil, err
	}
	if final {
		var one [1]byte
		n, err := io.ReadAtLeast(r.src, one[:], 1)
		r.s.stats.readBackend.Add(int64(n))
		if n > 0 {
			return nil, fmt.Errorf("data after final segment %d: %w", i, ErrCorrupt)
		}
		if err != io.EOF {
			return nil, fmt.Errorf("segment %d: %w", i, err)
		}
	}
	r.s.stats.decrypted.Add(int64(len(p)))
	r.i++
	return p, nil
}

func (r *chunkReader) Read(b []byte) (int, error) {
	for len(r.out) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.remain == 0 {
			return 0, io.EOF
		}
		// A whole segment that fits the caller's buffer is decrypted
		// straight into it (Read may use all of b as scratch space), which
		// saves a copy of every byte on sequential reads.
		var err error
		if k := r.h.plainLen(r.i); r.skip == 0 && k > 0 && k <= r.remain && int64(len(b)) >= k {
			var p []byte
			if p, err = r.readSegment(b); err == nil {
				r.remain -= int64(len(p))
				return len(p), nil
			}
		} else {
			err = r.next()
		}
		if err != nil {
			if errors.Is(err, ErrCorrupt) && !r.retried && r.s.invalidate(ID(r.c.aad[:IDSize])) {
				// The damaged bytes came from the backend's copy, which
				// is dropped now: read the rest of the range again.
				r.retried = true
				if err = r.reopen(); err == nil {
					continue
				}
			}
			if errors.Is(err, ErrCorrupt) {
				r.s.stats.corrupt.Add(1)
				r.s.invalidate(ID(r.c.aad[:IDSize]))
			}
			r.err = fmt.Errorf("chunkstore: chunk %x: %w", r.c.aad[:IDSize], err)
			return 0, r.err
		}
	}
	n := copy(b, r.out)
	r.out = r.out[n:]
	r.remain -= int64(n)
	return n, nil
}

// reopen replaces src with a new backend read from segment r.i to the end
// of the range.
func (r *chunkReader) reopen() error {
	r.src.Close()
	r.src = io.NopCloser(strings.NewReader(""))
	start := r.h.segmentOffset(r.i)
	span := r.h.segmentOffset(r.last+1) - start
	if r.last == r.nseg-1 {
		span = -1
	}
	src, err := r.s.b.Open(r.ctx, r.name, start, span)
	if err != nil {
		return err
	}
	r.src = src
	return nil
}

func (r *chunkReader) Close() error {
	if r.src == nil {
		return nil
	}
	r.err = errors.New("chunkstore: read after close")
	r.out, r.buf = nil, nil
	if r.pooled != nil {
		segPool.Put(r.pooled)
		r.pooled = nil
	}
	err := r.src.Close()
	r.src = nil
	return err
}
