package objects

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/chunkstore"
)

// ErrWriterClosed: a FileWriter was used after Close.
var ErrWriterClosed = errors.New("file writer closed")

// ErrFileTooLarge: a write or truncate would make a file larger than
// MaxFileSize (the mount answers EFBIG).
var ErrFileTooLarge = errors.New("file too large")

// MaxFileSize is the largest file a write session makes: 5 TiB, S3's limit
// on one object, so every file written through the mount can be read back
// and copied by any S3 client.
const MaxFileSize = 5 << 40

// A FileWriter is a write session on one key for a file system: random
// writes at any offset, truncation, reads of the uncommitted state, and
// commits (close, fsync) that each publish the current state as a new
// manifest in one catalog transaction.
//
// It is copy-on-write over extents. The file is a list of segments covering
// [0, size): slices of chunks (of the version it was opened on, or written
// by it) and holes. New bytes collect in one dirty buffer of at most one
// chunk (4 MiB); when a write does not continue or overlap it, or it is
// full, the buffer becomes a new chunk and its segment replaces whatever the
// list had there. A full buffer is written in the background while the next
// one fills: one chunk in flight per session, up to maxFlights while the
// process-wide budget (Layer.flightTokens) allows, so one file's chunk
// fsyncs overlap the hashing and sealing of the next ones. So a 4 KiB write
// into a 10 GiB file costs one small chunk and a manifest, and a sequential
// writer produces full 4 MiB chunks.
// Holes (a truncate that grows the file, a write past its end) cost one
// segment and are committed as one zero-run extent each, whatever their
// size: no chunk is written or read for them.
//
// Every chunk a session may reference (its base version's, its own) is
// leased from the collector until Close, so neither a concurrent S3
// overwrite of the key nor a GC can free bytes it still needs.
//
// ETag: if the bytes were written strictly in order from offset 0 on an
// empty file, the committed ETag is the quoted MD5 of the content, as a PUT
// would give. Otherwise it is the quoted hex MD5 of the manifest's extent
// list followed by "-1" — the multipart form, which S3 clients (aws s3 sync,
// rclone) know not to compare with an MD5 of the content.
//
// A FileWriter is safe for concurrent use. A failed chunk write is returned
// by the write (or commit) that triggered it and sticks: every later commit
// fails, so a partial state is never published; the previous version stays.
// A write cancelled through its context does not stick (nothing was lost).
type FileWriter struct {
	l      *Layer
	orgID  string
	bucket string
	key    string
	// fenced carries the node's fencing token as of OpenWriter: chunks
	// leased since then may only be committed by the same registration.
	fenced context.Context

	mu     sync.Mutex
	base   *catalog.Manifest // last committed (or opened) manifest; headers and metadata come from it
	segs   []seg             // cover [0, size) in order
	size   int64
	buf    []byte // dirty bytes at [bufOff, bufOff+len(buf))
	bufOff int64
	dirty  bool
	meta   map[string]string // metadata to commit; nil means base's
	leased []chunkstore.ID
	err    error // sticky chunk-write failure
	closed bool
	// carry is the follow-up the next commit carries (CarryOnCommit).
	carry func(ctx context.Context) (context.Context, func(committed bool))

	// fls are full buffers being written in the background while the
	// next one fills, oldest first; spares are landed buffers for reuse.
	fls    []*flight
	spares [][]byte

	// Sequential-MD5 tracking: valid while every byte so far was written
	// at seqPos in order. The MD5 is not computed as bytes are written but
	// per buffer, in the background as each full one is handed off (hashed
	// bytes so far; lastHash is the newest hashing, which the next one waits
	// for), so a writer's thread does not run it.
	seq      bool
	seqPos   int64
	md5      hash.Hash
	hashed   int64
	lastHash chan struct{}
}

// flight is a full buffer on its way to the chunk store: its id is
// computed, leased and the chunk written in the background (done), and, if
// the session is sequential, the buffer is added to the MD5 (hashedDone).
type flight struct {
	buf        []byte
	off        int64
	id         chunkstore.ID
	done       chan struct{}
	hashedDone chan struct{}
	err        error
	token      bool // holds one of Layer.flightTokens (every flight but a session's first)
}

// wait blocks until the flight's chunk write and hashing are over.
func (f *flight) wait() {
	<-f.done
	if f.hashedDone != nil {
		<-f.hashedDone
	}
}

// maxFlights bounds one session's chunks in flight; with the buffer filling
// that is 16 MiB for a file written sequentially.
const maxFlights = 3

// seg is a run of the file: length bytes of chunk at off, or zeros if hole.
type seg struct {
	length int64
	chunk  chunkstore.ID
	off    int64
	hole   bool
}

// OpenWriter starts a write session on key. With truncate, or if the key
// does not exist, the session starts empty; otherwise it starts from the
// current version (inline content is loaded into the dirty buffer). It never
// commits anything by itself.
func (l *Layer) OpenWriter(ctx context.Context, orgID, bucket, key string, truncate bool) (*FileWriter, error) {
	w := &FileWriter{l: l, orgID: orgID, bucket: bucket, key: key, md5: md5.New(), fenced: l.fence(context.Background())}
	// Lease the base's chunks before the lookup ends: the collector then
	// cannot free them, even if the key is replaced before this session
	// commits (see GC).
	done := l.pins.Lookup()
	defer done()
	b, err := l.meta.Bucket(ctx, orgID, bucket)
	if err != nil {
		return nil, err
	}
	m, err := l.objectData(ctx, b.ID, key) // with the bytes the catalog keeps
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		m = nil
	case err != nil:
		return nil, err
	}
	w.base = m
	if m == nil || truncate {
		w.seq = true
		w.dirty = m != nil // truncating existing content is a change
		return w, nil
	}
	w.size = m.Size
	if m.Inline != nil || len(m.Extents) == 0 {
		w.buf = append(make([]byte, 0, len(m.Inline)), m.Inline...)
		w.base = bodyless(m) // Base() is kept by the mount: the bytes are in buf
		if m.Size > 0 {
			w.segs = []seg{{length: m.Size, hole: true}} // covered by buf
		}
		return w, nil
	}
	for _, id := range m.Chunks() {
		w.leaseLocked(id)
	}
	for _, e := range m.Extents {
		if e.IsZeroRun() {
			w.segs = append(w.segs, seg{length: e.Length, hole: true})
			continue
		}
		w.segs = append(w.segs, seg{length: e.Length, chunk: e.Chunk, off: e.Offset})
	}
	w.segs = merge(w.segs)
	return w, nil
}

func (w *FileWriter) leaseLocked(id chunkstore.ID) {
	w.l.pins.Pin(id)
	w.leased = append(w.leased, id)
}

// Size is the current length of the file, committed or not.
func (w *FileWriter) Size() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size
}

// Dirty reports whether there is anything to commit.
func (w *FileWriter) Dirty() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dirty
}

// Failed reports whether a chunk write failed: the session can no longer
// commit, and the file's state is its last commit (Base).
func (w *FileWriter) Failed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err != nil
}

// Base is the manifest the session last committed or started from (nil for
// a new key).
func (w *FileWriter) Base() *catalog.Manifest {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.base
}

// SetMeta replaces the user metadata the next commit stores, and marks the
// session dirty.
func (w *FileWriter) SetMeta(meta map[string]string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.meta = meta
	w.dirty = true
}

// WriteAt writes p at off, growing the file (with a hole) if off is past
// the end. It may write a chunk; an error from that is returned and sticks.
// As write(2) at a file size limit, a write that would cross MaxFileSize
// writes what fits, and one at or past it fails with ErrFileTooLarge.
func (w *FileWriter) WriteAt(ctx context.Context, p []byte, off int64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, ErrWriterClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	if off < 0 {
		return 0, fmt.Errorf("objects: write at %d: negative offset", off)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off >= MaxFileSize {
		return 0, fmt.Errorf("objects: write %s/%s at %d: %w (limit %d)", w.bucket, w.key, off, ErrFileTooLarge, int64(MaxFileSize))
	}
	if int64(len(p)) > MaxFileSize-off {
		p = p[:MaxFileSize-off]
	}
	if w.seq && off == w.seqPos && off >= w.size {
		w.seqPos += int64(len(p))
	} else {
		w.seq = false
	}
	w.dirty = true
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		end := w.bufOff + int64(len(w.buf))
		if len(w.buf) > 0 && (pos < w.bufOff || pos > end) && w.rebaseLocked(pos+int64(len(p)-n)) {
			end = w.bufOff + int64(len(w.buf))
		}
		if len(w.buf) == 0 || pos < w.bufOff || pos > end || pos == w.bufOff+chunkSize {
			if err := w.flushAsyncLocked(ctx); err != nil {
				return n, err
			}
			w.bufOff = pos
		}
		room := int(w.bufOff + chunkSize - pos) // how far the buffer may reach from pos
		k := min(len(p)-n, room)
		i := int(pos - w.bufOff)
		if need := i + k; need > len(w.buf) {
			w.growBuf(need)
		}
		copy(w.buf[i:], p[n:n+k])
		n += k
		if newEnd := pos + int64(k); newEnd > w.size {
			w.extendLocked(newEnd)
		}
	}
	return n, nil
}

// rebaseLocked handles an out-of-order write to a file that has no chunk
// yet and would stay within one chunk (up to end): instead of writing the
// buffer out, it widens it to the whole file [0, size), so small files
// written in any order still end up inline or as one chunk.
func (w *FileWriter) rebaseLocked(end int64) bool {
	if max(end, w.size) > chunkSize || len(w.fls) > 0 {
		return false
	}
	for _, s := range w.segs {
		if !s.hole {
			return false
		}
	}
	nb := make([]byte, w.size, max(w.size, 64<<10))
	copy(nb[w.bufOff:], w.buf)
	w.buf, w.bufOff = nb, 0
	return true
}

// growBuf extends buf to n bytes, keeping its content; capacity grows by
// doubling up to one chunk, so small files cost small buffers.
func (w *FileWriter) growBuf(n int) {
	if n <= cap(w.buf) {
		w.buf = w.buf[:n]
		return
	}
	c := max(2*cap(w.buf), 64<<10, n)
	c = min(c, chunkSize)
	nb := make([]byte, n, c)
	copy(nb, w.buf)
	w.buf = nb
}

// extendLocked grows the file to size with a hole: one segment, merged
// with a hole that already ends the file.
func (w *FileWriter) extendLocked(size int64) {
	if size <= w.size {
		return
	}
	if k := len(w.segs); k > 0 && w.segs[k-1].hole {
		w.segs[k-1].length += size - w.size
	} else {
		w.segs = append(w.segs, seg{length: size - w.size, hole: true})
	}
	w.size = size
}

// Truncate sets the file's length; growing adds a hole. Beyond MaxFileSize
// it fails with ErrFileTooLarge and changes nothing.
func (w *FileWriter) Truncate(ctx context.Context, size int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrWriterClosed
	}
	if w.err != nil {
		return w.err
	}
	if size < 0 {
		return fmt.Errorf("objects: truncate to %d: negative size", size)
	}
	if size > MaxFileSize {
		return fmt.Errorf("objects: truncate %s/%s to %d: %w (limit %d)", w.bucket, w.key, size, ErrFileTooLarge, int64(MaxFileSize))
	}
	if err := w.landLocked(); err != nil {
		return err
	}
	if size == w.size {
		return nil
	}
	w.dirty = true
	if w.seq {
		if size == 0 {
			w.md5.Reset()
			w.seqPos, w.hashed = 0, 0
		} else {
			w.seq = false
		}
	}
	if size > w.size {
		w.extendLocked(size)
		return nil
	}
	w.segs = cut(w.segs, 0, size)
	w.size = size
	if end := w.bufOff + int64(len(w.buf)); end > size {
		if w.bufOff >= size {
			w.buf = w.buf[:0]
		} else {
			w.buf = w.buf[:size-w.bufOff]
		}
	}
	return nil
}

// Grow extends the file to size with a hole if it is shorter (fallocate);
// a longer file is left as it is. Beyond MaxFileSize it fails with
// ErrFileTooLarge.
func (w *FileWriter) Grow(size int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrWriterClosed
	}
	if w.err != nil {
		return w.err
	}
	if size > MaxFileSize {
		return fmt.Errorf("objects: grow %s/%s to %d: %w (limit %d)", w.bucket, w.key, size, ErrFileTooLarge, int64(MaxFileSize))
	}
	if size <= w.size {
		return nil
	}
	w.dirty = true
	w.extendLocked(size)
	return nil
}

// cut returns the segments covering [from, to) of segs.
func cut(segs []seg, from, to int64) []seg {
	var out []seg
	var pos int64
	for _, s := range segs {
		s0, s1 := pos, pos+s.length
		pos = s1
		if s1 <= from || s0 >= to {
			continue
		}
		a, b := max(s0, from), min(s1, to)
		t := s
		t.length = b - a
		if !t.hole {
			t.off += a - s0
		}
		out = append(out, t)
	}
	return out
}

// splice replaces [off, off+n.length) of segs with n; the range lies within
// [0, size of segs].
func splice(segs []seg, off int64, n seg) []seg {
	var total int64
	for _, s := range segs {
		total += s.length
	}
	out := cut(segs, 0, off)
	out = append(out, n)
	out = append(out, cut(segs, off+n.length, total)...)
	return merge(out)
}

// merge joins neighbouring segments that continue each other, so rewriting
// a file in place does not grow its manifest without bound.
func merge(segs []seg) []seg {
	out := segs[:0]
	for _, s := range segs {
		if s.length == 0 {
			continue
		}
		if k := len(out); k > 0 {
			p := &out[k-1]
			if p.hole && s.hole || !p.hole && !s.hole && p.chunk == s.chunk && p.off+p.length == s.off {
				p.length += s.length
				continue
			}
		}
		out = append(out, s)
	}
	return out
}

// landLocked waits for every chunk in flight and splices them in, in the
// order they were handed off (a later one may overwrite part of an
// earlier one).
func (w *FileWriter) landLocked() error {
	for len(w.fls) > 0 {
		if err := w.landOldestLocked(); err != nil {
			return err
		}
	}
	return nil
}

// retireLocked waits for flight f and takes back what it holds: its chunk's
// lease joins the session's (it must outlive the write), its token goes
// back to the layer.
func (w *FileWriter) retireLocked(f *flight) {
	f.wait()
	w.leased = append(w.leased, f.id)
	if f.token {
		<-w.l.flightTokens
	}
}

func (w *FileWriter) landOldestLocked() error {
	f := w.fls[0]
	w.retireLocked(f)
	w.fls[0] = nil
	w.fls = w.fls[1:]
	if f.err != nil {
		// A failed background write sticks, even a cancelled one: unlike a
		// write on the caller's own context (fail), its buffer is gone
		// from the file's state and cannot be retried.
		w.err = fmt.Errorf("objects: write %s/%s: %w", w.bucket, w.key, f.err)
		return w.err
	}
	w.segs = splice(w.segs, f.off, seg{length: int64(len(f.buf)), chunk: f.id})
	if len(w.spares) < 2 {
		w.spares = append(w.spares, f.buf[:0])
	}
	return nil
}

// flushAsyncLocked hands the full dirty buffer to a background chunk write
// and starts a fresh buffer, so filling the next chunk overlaps sealing and
// syncing this one. A session keeps one flight of its own and takes more
// (up to maxFlights) only from the process-wide budget; otherwise it first
// lands the oldest.
func (w *FileWriter) flushAsyncLocked(ctx context.Context) error {
	if len(w.buf) < chunkSize {
		return w.flushLocked(ctx)
	}
	token := false
	for len(w.fls) > 0 && !token {
		if len(w.fls) < maxFlights {
			select {
			case w.l.flightTokens <- struct{}{}:
				token = true
				continue
			default:
			}
		}
		if err := w.landOldestLocked(); err != nil {
			return err
		}
	}
	f := &flight{buf: w.buf, off: w.bufOff, done: make(chan struct{}), token: token}
	if w.seq && w.bufOff == w.hashed {
		prev, done := w.lastHash, make(chan struct{})
		f.hashedDone, w.lastHash = done, done
		w.hashed += int64(len(w.buf))
		go func() {
			defer close(done)
			if prev != nil {
				<-prev // MD5 is sequential: buffers in hand-off order
			}
			w.md5.Write(f.buf)
		}()
	}
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer close(f.done)
		// The lease comes before the write, which may find the chunk
		// already stored (see GC).
		f.id = w.l.chunks.Sum(w.orgID, f.buf)
		w.l.pins.Pin(f.id)
		f.err = w.l.chunks.Put(ctx, f.id, f.buf)
	}()
	w.fls = append(w.fls, f)
	w.buf = nil
	if n := len(w.spares); n > 0 {
		w.buf, w.spares = w.spares[n-1], w.spares[:n-1]
	}
	return nil
}

// flushLocked turns the dirty buffer into a durable chunk and splices it in.
func (w *FileWriter) flushLocked(ctx context.Context) error {
	if err := w.landLocked(); err != nil {
		return err
	}
	if len(w.buf) == 0 {
		return nil
	}
	id := w.l.chunks.Sum(w.orgID, w.buf)
	w.leaseLocked(id)
	if err := w.l.chunks.Put(ctx, id, w.buf); err != nil {
		return w.fail(err) // a cancelled write keeps buf, unhashed, for a retry
	}
	if w.seq && w.bufOff == w.hashed {
		w.md5.Write(w.buf)
		w.hashed += int64(len(w.buf))
	}
	w.segs = splice(w.segs, w.bufOff, seg{length: int64(len(w.buf)), chunk: id})
	w.buf = w.buf[:0]
	return nil
}

// fail records a chunk-write failure. It sticks, unless the write was only
// cancelled: the dirty buffer is still intact then, and a later call can
// retry it.
func (w *FileWriter) fail(err error) error {
	err = fmt.Errorf("objects: write %s/%s: %w", w.bucket, w.key, err)
	if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		w.err = err
	}
	return err
}

// ReadAt reads the current state, committed or not, like io.ReaderAt.
func (w *FileWriter) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, ErrWriterClosed
	}
	if err := w.landLocked(); err != nil {
		return 0, err
	}
	return w.readLocked(ctx, p, off)
}

func (w *FileWriter) readLocked(ctx context.Context, p []byte, off int64) (int, error) {
	if off >= w.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), w.size-off))
	p = p[:n]
	clear(p)
	var pos int64
	for _, s := range w.segs {
		s0, s1 := pos, pos+s.length
		pos = s1
		if s1 <= off || s0 >= off+int64(n) {
			continue
		}
		if s.hole {
			continue
		}
		a, b := max(s0, off), min(s1, off+int64(n))
		rc, err := w.l.openChunk(ctx, s.chunk, s.off+(a-s0), b-a)
		if err != nil {
			return 0, fmt.Errorf("objects: read %s/%s: %w", w.bucket, w.key, err)
		}
		_, err = io.ReadFull(rc, p[a-off:b-off])
		rc.Close()
		if err != nil {
			return 0, fmt.Errorf("objects: read %s/%s: %w", w.bucket, w.key, err)
		}
	}
	// The dirty buffer overlays the segments.
	if bEnd := w.bufOff + int64(len(w.buf)); len(w.buf) > 0 && bEnd > off && w.bufOff < off+int64(n) {
		a, b := max(w.bufOff, off), min(bEnd, off+int64(n))
		copy(p[a-off:b-off], w.buf[a-w.bufOff:b-w.bufOff])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Commit publishes the current state as the key's new version in one
// catalog transaction, if anything changed since the last commit, and
// returns the committed manifest (nil if nothing was to commit). Every chunk
// is durable before the transaction. The session stays open.
func (w *FileWriter) Commit(ctx context.Context) (*catalog.Manifest, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, ErrWriterClosed
	}
	if w.err != nil {
		return nil, w.err
	}
	if !w.dirty {
		return nil, nil
	}
	if err := w.landLocked(); err != nil {
		return nil, err
	}
	b, err := w.l.meta.Bucket(ctx, w.orgID, w.bucket)
	if err != nil {
		return nil, err
	}
	m := &catalog.Manifest{Size: w.size}
	if w.base != nil {
		setMeta(m, w.base)
		// Editing a file through the mount keeps its S3 tags, as it keeps
		// its user metadata; an S3 PUT replaces both.
		m.Tags = w.base.Tags
	}
	if w.meta != nil {
		m.Meta = w.meta
	}
	sequential := w.seq && w.seqPos == w.size
	if w.size <= BodyMax {
		// Small files live in the catalog, as a small PUT's bytes do
		// (catalogManifest): in the manifest, or as a body of their own.
		p := make([]byte, w.size)
		if w.size > 0 {
			if _, err := w.readLocked(ctx, p, 0); err != nil && err != io.EOF {
				return nil, err
			}
		}
		sum := md5.Sum(p)
		cm := catalogManifest(p, etag(sum[:]))
		m.Inline, m.BodyID, m.ETag = cm.Inline, cm.BodyID, cm.ETag
	} else {
		if err := w.flushLocked(ctx); err != nil {
			return nil, err
		}
		m.Extents = w.extentsLocked()
	}
	switch {
	case w.size <= BodyMax:
		// ETag set above: the MD5 of the whole content, sequentially
		// written or not.
	case sequential:
		// The buffers handed off so far were hashed in the background and
		// landed above; flushLocked hashed the last one. Sum leaves the
		// state as it is for writes after this commit.
		m.ETag = etag(w.md5.Sum(nil))
	default:
		m.ETag = extentsETag(m.Extents)
	}
	m.ModTime = w.l.now().UTC()
	end, err := w.l.commitGuard(m.Chunks())
	if err != nil {
		return nil, fmt.Errorf("objects: commit %s/%s: %w", w.bucket, w.key, err)
	}
	defer end()
	ctx = catalog.WithFenceOf(ctx, w.fenced)
	var carried func(bool)
	if w.carry != nil {
		ctx, carried = w.carry(ctx)
	}
	_, err = w.l.meta.PutObject(ctx, b, w.key, m, catalog.Condition{})
	if carried != nil {
		carried(err == nil)
		if err == nil {
			w.carry = nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("objects: commit %s/%s: %w", w.bucket, w.key, err)
	}
	m = bodyless(m) // the bytes stay in the session's buffer, not in what callers keep
	w.base = m
	w.dirty = false
	return m, nil
}

// extentsLocked turns the segments into manifest extents: a hole is one
// zero run.
func (w *FileWriter) extentsLocked() []catalog.Extent {
	exts := make([]catalog.Extent, 0, len(w.segs))
	for _, s := range w.segs {
		if s.hole {
			exts = append(exts, catalog.ZeroRun(s.length))
			continue
		}
		exts = append(exts, catalog.Extent{Chunk: s.chunk, Offset: s.off, Length: s.length})
	}
	return exts
}

// extentsETag is the ETag of a file not written in order: a digest of its
// extent list in the multipart form "<hex>-1", so that no client takes it
// for the MD5 of the content.
func extentsETag(exts []catalog.Extent) string {
	h := md5.New()
	var b [8]byte
	for _, e := range exts {
		h.Write(e.Chunk[:])
		binary.BigEndian.PutUint64(b[:], uint64(e.Offset))
		h.Write(b[:])
		binary.BigEndian.PutUint64(b[:], uint64(e.Length))
		h.Write(b[:])
	}
	return fmt.Sprintf(`"%x-1"`, h.Sum(nil))
}

// Close ends the session without committing and releases its leases.
func (w *FileWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	for _, f := range w.fls {
		w.retireLocked(f)
	}
	w.fls = nil
	w.spares = nil
	w.l.pins.Unpin(w.leased...)
	w.leased = nil
	w.buf = nil
	w.segs = nil
	return nil
}

// Meta returns the user metadata the next commit would store.
func (w *FileWriter) Meta() map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.meta != nil {
		return w.meta
	}
	if w.base != nil {
		return w.base.Meta
	}
	return nil
}

// CarryOnCommit attaches a follow-up to the next commit that reaches the
// catalog: wrap gives the context of that commit's transaction (a
// catalog.Touch carried in it changes other keys in the same transaction:
// the file system's directory times for a file it created) and the function
// to call once the commit is over, with whether it committed. After a
// commit it is spent; a session closed before any commit drops it.
func (w *FileWriter) CarryOnCommit(wrap func(ctx context.Context) (context.Context, func(committed bool))) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.carry = wrap
}

// SetKey changes the key the next commit writes to: the file system moves
// open files with rename, and a session follows its file.
func (w *FileWriter) SetKey(bucket, key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.bucket, w.key = bucket, key
}
