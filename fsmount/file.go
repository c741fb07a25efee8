package fsmount

import (
	"context"
	"errors"
	"io"
	"maps"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/objects"
)

// fileNode is an object: a regular file or a symlink. Its key follows from
// its place in the tree. While any handle has it open for writing, all its
// handles share one write session (objects.FileWriter), so every reader in
// this mount sees the writes before they are committed.
type fileNode struct {
	fs.Inode
	fsys *fsys
	typ  uint32 // S_IFREG or S_IFLNK
	// gen is the parent directory's changes count from before this mount
	// last learned from the catalog that the name is this file (or made
	// it): while the directory's count is still gen, it is (dirNode.current).
	gen atomic.Uint64

	mu       sync.Mutex
	m        *catalog.Manifest // last committed version seen
	w        *objects.FileWriter
	wrefs    int       // handles sharing w
	wmtime   time.Time // time of the last uncommitted write
	cacheTag string    // ETag of the version the kernel's page cache may hold
	unlinked time.Time // when this mount unlinked it (its ctime while open)
}

var (
	_ fs.NodeOpener        = (*fileNode)(nil)
	_ fs.NodeReader        = (*fileNode)(nil)
	_ fs.NodeWriter        = (*fileNode)(nil)
	_ fs.NodeFlusher       = (*fileNode)(nil)
	_ fs.NodeFsyncer       = (*fileNode)(nil)
	_ fs.NodeReleaser      = (*fileNode)(nil)
	_ fs.NodeGetattrer     = (*fileNode)(nil)
	_ fs.NodeSetattrer     = (*fileNode)(nil)
	_ fs.NodeReadlinker    = (*fileNode)(nil)
	_ fs.NodeGetxattrer    = (*fileNode)(nil)
	_ fs.NodeSetxattrer    = (*fileNode)(nil)
	_ fs.NodeRemovexattrer = (*fileNode)(nil)
	_ fs.NodeListxattrer   = (*fileNode)(nil)
	_ fs.NodeStatfser      = (*fileNode)(nil)
)

// handle is one open file description. A handle opened while the node has
// a write session holds a reference to that session (w), writable or not,
// so the session outlives every handle that reads or writes through it.
type handle struct {
	write bool
	w     *objects.FileWriter

	mu    sync.Mutex
	obj   *objects.Object // the version opened for reading (close-to-open)
	rd    io.ReadCloser   // sequential reader positioned at rdPos
	rdPos int64
	// back holds the bytes at backOff that rd passed over to serve a
	// request that came ahead of an earlier one. The kernel keeps several
	// read-ahead requests of a file in flight and go-fuse serves each on
	// its own goroutine, so they reach the handle out of order; without
	// back each one out of order restarted rd, throwing away what its
	// read-ahead had decrypted, and was read on its own.
	back    []byte
	backOff int64
	ctx     context.Context // outlives single requests: rd reads with it
	cancel  context.CancelFunc
}

func (h *handle) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rd != nil {
		h.rd.Close()
		h.rd = nil
	}
	if h.obj != nil {
		h.obj.Close()
		h.obj = nil
	}
	h.back = nil
	if h.cancel != nil {
		h.cancel()
	}
}

func (n *fileNode) writing() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.w != nil
}

func (n *fileNode) neverCommitted() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.m == nil && (n.w == nil || n.w.Base() == nil)
}

// unlink records that the file lost its name while it may still be open.
func (n *fileNode) unlink() {
	n.mu.Lock()
	n.unlinked = time.Now()
	n.mu.Unlock()
}

// gone makes a the attributes of a file that has no name any more (unlinked
// or replaced while open): no links, and the ctime of its unlink.
func (n *fileNode) gone(a *attrs) {
	a.nlink = 0
	n.mu.Lock()
	if n.unlinked.After(a.ctime) {
		a.ctime = n.unlinked
	}
	n.mu.Unlock()
}

func (n *fileNode) setManifest(m *catalog.Manifest) {
	n.mu.Lock()
	n.m = m
	n.mu.Unlock()
}

func (n *fileNode) dropCacheTag() {
	n.mu.Lock()
	n.cacheTag = ""
	n.mu.Unlock()
}

func (n *fileNode) attrsLocked() attrs {
	if n.w != nil {
		base := n.w.Base()
		if base == nil {
			base = n.m
		}
		var m catalog.Manifest
		if base != nil {
			m = *base
		} else {
			m.ModTime = time.Now()
		}
		m.Meta = n.w.Meta()
		a := n.fsys.attrsOf(&m, n.typ)
		if n.w.Failed() {
			// A failed session commits nothing more: the file is what
			// was last committed, whatever the failed writes did.
			return a
		}
		a.size = n.w.Size()
		if n.w.Dirty() && !n.wmtime.IsZero() {
			if _, set := m.Meta[metaMtime]; !set {
				a.mtime = n.wmtime
			}
			if n.wmtime.After(a.ctime) {
				a.ctime = n.wmtime
			}
		}
		return a
	}
	return n.fsys.attrsOf(n.m, n.typ)
}

func (n *fileNode) fillEntry(out *fuse.EntryOut) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.attrsLocked().fill(&out.Attr)
}

func (n *fileNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return statfs(n.fsys, out)
}

// hasManifest reports whether the node has known a stored version.
func (n *fileNode) hasManifest() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.m != nil
}

// Getattr reports the write session's state while one is open, and the
// current committed version otherwise.
func (n *fileNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.mu.Lock()
	writing := n.w != nil
	n.mu.Unlock()
	if h, ok := fh.(*handle); ok && !writing {
		// The kernel asks with the handle when it reads: a handle's reads
		// are bounded by the size of the version it opened, so it can read
		// that version to its end even after a replacement (close-to-open).
		h.mu.Lock()
		obj := h.obj
		h.mu.Unlock()
		if obj != nil {
			a := n.fsys.attrsOf(obj.Manifest, n.typ)
			if _, _, ok := pathOf(&n.Inode); !ok {
				n.gone(&a)
			}
			a.fill(&out.Attr)
			return 0
		}
	}
	bucket, key, named := pathOf(&n.Inode)
	if !writing {
		if named {
			m, err := n.fsys.objs.Head(ctx, n.fsys.orgID, bucket, key)
			switch {
			case err == nil:
				n.setManifest(m)
			case errors.Is(err, catalog.ErrNotFound) && n.hasManifest():
				// Deleted underneath an open file: keep its last state.
			default:
				return toErrno(err)
			}
		}
	}
	n.mu.Lock()
	a := n.attrsLocked()
	n.mu.Unlock()
	if !named {
		n.gone(&a)
	}
	a.fill(&out.Attr)
	return 0
}

// joinLocked returns a handle holding a reference to the node's session,
// which must exist; n.mu is held.
func (n *fileNode) joinLocked(write bool) *handle {
	n.wrefs++
	ctx, cancel := context.WithCancel(context.Background())
	return &handle{write: write, w: n.w, ctx: ctx, cancel: cancel}
}

// startLocked opens the node's write session; n.mu is held, and n.w is nil.
func (n *fileNode) startLocked(ctx context.Context, bucket, key string, trunc bool) error {
	w, err := n.fsys.objs.OpenWriter(ctx, n.fsys.orgID, bucket, key, trunc)
	if err != nil {
		return err
	}
	n.adoptLocked(w)
	return nil
}

// adoptLocked makes w the node's session; n.mu is held, and n.w is nil.
func (n *fileNode) adoptLocked(w *objects.FileWriter) {
	n.w = w
	n.fsys.wmu.Lock()
	n.fsys.writers[n] = struct{}{}
	n.fsys.wmu.Unlock()
}

// created makes w, the session of a file just created, the session of the
// new node n, and returns the creating handle.
func (n *fileNode) created(w *objects.FileWriter) *handle {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.adoptLocked(w)
	return n.joinLocked(true)
}

// endLocked ends the node's write session once no handle holds it; n.mu
// is held.
func (n *fileNode) endLocked() {
	n.w.Close()
	n.w = nil
	n.fsys.wmu.Lock()
	delete(n.fsys.writers, n)
	n.fsys.wmu.Unlock()
}

// Open opens for reading the current version (a read-only handle keeps
// reading that version even if it is replaced: close-to-open), or joins or
// starts the node's write session.
//
// Finding the session and joining it, or starting one, is one step under
// n.mu. Two writers that each open, write and close would otherwise lose
// records: an open that found a session could join it after its last
// RELEASE had closed it (every write then EIO, for as long as opens kept
// joining the closed session), and one that found none could read its base
// version before another session's close committed, and join after that
// session ended, so its own commit dropped the other's writes (NUL bytes,
// or a short file with O_APPEND). A session ends under n.mu after its last
// commit (Release), so a session started under n.mu starts from every
// commit made through this mount.
func (n *fileNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	bucket, key, ok := pathOf(&n.Inode)
	if !ok {
		return nil, 0, syscall.ENOENT
	}
	acc := flags & syscall.O_ACCMODE
	trunc := flags&syscall.O_TRUNC != 0
	if acc == syscall.O_WRONLY || acc == syscall.O_RDWR || trunc {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.w == nil {
			if err := n.startLocked(ctx, bucket, key, trunc); err != nil {
				return nil, 0, toErrno(err)
			}
			return n.joinLocked(true), 0, 0
		}
		if trunc {
			if err := n.w.Truncate(ctx, 0); err != nil {
				return nil, 0, toErrno(err)
			}
		}
		return n.joinLocked(true), fuse.FOPEN_KEEP_CACHE, 0
	}
	n.mu.Lock()
	// A failed session no longer is the file: read the last commit.
	if n.w != nil && !n.w.Failed() {
		defer n.mu.Unlock()
		return n.joinLocked(false), fuse.FOPEN_KEEP_CACHE, 0
	}
	n.mu.Unlock()
	obj, err := n.fsys.objs.Open(ctx, n.fsys.orgID, bucket, key)
	if err != nil {
		return nil, 0, toErrno(err)
	}
	hctx, cancel := context.WithCancel(context.Background())
	h := &handle{ctx: hctx, cancel: cancel, obj: obj}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.m = obj.Manifest
	// Keep the kernel's pages only if they are of this very version.
	var fl uint32
	if n.cacheTag == obj.Manifest.ETag && n.cacheTag != "" {
		fl = fuse.FOPEN_KEEP_CACHE
	}
	n.cacheTag = obj.Manifest.ETag
	return h, fl, 0
}

func (n *fileNode) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h, _ := fh.(*handle)
	if h == nil {
		return nil, syscall.EBADF
	}
	if h.w != nil || h.obj == nil {
		if h.w == nil {
			return nil, syscall.EBADF
		}
		k, err := h.w.ReadAt(ctx, dest, off)
		if err != nil && err != io.EOF {
			return nil, toErrno(err)
		}
		return fuse.ReadResultData(dest[:k]), 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	size := h.obj.Manifest.Size
	if off >= size {
		return fuse.ReadResultData(nil), 0
	}
	want := int(min(int64(len(dest)), size-off))
	if h.fromBack(dest[:want], off) {
		return fuse.ReadResultData(dest[:want]), 0
	}
	if h.rd != nil && off > h.rdPos && off-h.rdPos <= maxBack {
		h.skipTo(off)
	}
	if h.rd == nil || h.rdPos != off {
		if h.rd != nil {
			h.rd.Close()
			h.rd = nil
		}
		if off != 0 && off != h.rdPos {
			// A jump (a database page, a seek): read just this request.
			// A reader to the end of the object would start a read-ahead
			// of megabytes that the next jump throws away. Reading on from
			// here opens the streaming reader.
			return h.readAt(dest[:want], off)
		}
		rd, err := h.obj.NewReader(h.ctx, off, -1)
		if err != nil {
			return nil, toErrno(err)
		}
		h.rd, h.rdPos = rd, off
	}
	k, err := io.ReadFull(h.rd, dest[:want])
	h.rdPos += int64(k)
	if err != nil {
		h.rd.Close()
		h.rd = nil
		if k == 0 {
			return nil, toErrno(err)
		}
	}
	return fuse.ReadResultData(dest[:k]), 0
}

// maxBack bounds handle.back: a few of the kernel's read-ahead requests
// (1 MiB each, readAheadKB) in flight at once.
const maxBack = 4 << 20

// fromBack copies [off, off+len(dest)) from back, if back holds it all.
// Served from back's front, those bytes are dropped from it: the kernel
// asks for each range once.
func (h *handle) fromBack(dest []byte, off int64) bool {
	end := h.backOff + int64(len(h.back))
	if len(h.back) == 0 || off < h.backOff || off+int64(len(dest)) > end {
		return false
	}
	copy(dest, h.back[off-h.backOff:])
	if off == h.backOff {
		h.back = h.back[len(dest):]
		h.backOff += int64(len(dest))
	}
	if len(h.back) == 0 {
		h.back = nil
	}
	return true
}

// skipTo moves rd on to off, keeping the bytes it passes in back (after
// what back holds, if contiguous; back keeps its newest maxBack bytes).
func (h *handle) skipTo(off int64) {
	if h.backOff+int64(len(h.back)) != h.rdPos {
		h.back, h.backOff = nil, h.rdPos
	}
	n := int(off - h.rdPos)
	start := len(h.back)
	h.back = append(h.back, make([]byte, n)...)
	k, err := io.ReadFull(h.rd, h.back[start:])
	h.back = h.back[:start+k]
	h.rdPos += int64(k)
	if err != nil {
		h.rd.Close()
		h.rd = nil
	}
	if drop := len(h.back) - maxBack; drop > 0 {
		h.back = h.back[drop:]
		h.backOff += int64(drop)
	}
}

// readAt serves one read of exactly len(dest) bytes at off from the
// handle's version, with a reader bounded to it.
func (h *handle) readAt(dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	rd, err := h.obj.NewReader(h.ctx, off, int64(len(dest)))
	if err != nil {
		return nil, toErrno(err)
	}
	k, err := io.ReadFull(rd, dest)
	rd.Close()
	h.rdPos = off + int64(k)
	if err != nil && k == 0 {
		return nil, toErrno(err)
	}
	return fuse.ReadResultData(dest[:k]), 0
}

func (n *fileNode) Write(ctx context.Context, fh fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	h, _ := fh.(*handle)
	if h == nil || h.w == nil || !h.write {
		return 0, syscall.EBADF
	}
	w := h.w
	n.mu.Lock()
	n.wmtime = time.Now()
	if meta := w.Meta(); meta[metaMtime] != "" {
		// A write after utimes: the mtime is the write's again (tar sets
		// times after its last write, before close).
		meta = maps.Clone(meta)
		delete(meta, metaMtime)
		w.SetMeta(meta)
	}
	n.mu.Unlock()
	// Not cancellable: the kernel interrupts a request when the writer gets
	// any signal (Go's preemption sends them constantly), and the chunk
	// this write may flush holds earlier writes' bytes too.
	k, err := w.WriteAt(context.WithoutCancel(ctx), data, off)
	if err != nil {
		return uint32(k), toErrno(err)
	}
	return uint32(k), 0
}

// commit publishes the write session's state, if it changed, under the
// node's current key. An unlinked file is not committed.
func (n *fileNode) commit(ctx context.Context) syscall.Errno {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.commitHeld(ctx)
}

// commitHeld is commit with n.mu held.
func (n *fileNode) commitHeld(ctx context.Context) syscall.Errno {
	if n.w == nil || !n.w.Dirty() {
		return 0
	}
	bucket, key, ok := pathOf(&n.Inode)
	if !ok {
		return 0
	}
	// Commits are not interrupted either: close(2) does not retry EINTR.
	ctx = lazy(context.WithoutCancel(ctx))
	n.w.SetKey(bucket, key)
	forgetListingOf(&n.Inode)
	done := n.fsys.mine(bucket, key, false)
	m, err := n.w.Commit(ctx)
	done()
	if err != nil {
		return toErrno(err)
	}
	if m != nil {
		n.m = m
		n.cacheTag = m.ETag
	}
	return 0
}

// Flush (every close) commits, so the bytes are visible over S3 when close
// returns; its error is close's.
func (n *fileNode) Flush(ctx context.Context, fh fs.FileHandle) syscall.Errno {
	if h, ok := fh.(*handle); ok && !h.write {
		return 0
	}
	errno := n.commit(ctx)
	if errno != 0 {
		n.forgetFailedWrites()
	}
	return errno
}

// forgetFailedWrites makes the kernel drop the size and pages that writes
// of a failed session gave the file, so a stat or read right after the
// failed close sees the last committed version. FLUSH holds no inode lock,
// but the notification is bounded anyway, as the feed's are.
func (n *fileNode) forgetFailedWrites() {
	waitBounded(func() { n.NotifyContent(0, 0) })
}

// Fsync commits what is written, then waits until that commit and every
// change made before it through the mount is durable (lazyObjects). The
// file's chunks are durable before any commit references them.
func (n *fileNode) Fsync(ctx context.Context, fh fs.FileHandle, flags uint32) syscall.Errno {
	if errno := n.commit(ctx); errno != 0 {
		return errno
	}
	return n.fsys.sync(ctx)
}

// Release ends a handle; the last writable one commits what is left and
// ends the write session.
func (n *fileNode) Release(ctx context.Context, fh fs.FileHandle) syscall.Errno {
	h, ok := fh.(*handle)
	if !ok {
		return 0
	}
	h.close()
	if h.w == nil {
		return 0
	}
	// The commit and the end of the session happen under one hold of n.mu:
	// a chmod or utimes that Setattr applies to the session in between
	// would otherwise never be committed (rsync chmods right after close,
	// while the kernel's RELEASE is still on its way).
	n.mu.Lock()
	defer n.mu.Unlock()
	var errno syscall.Errno
	n.wrefs--
	if h.write || n.wrefs == 0 {
		errno = n.commitHeld(context.Background())
	}
	if n.wrefs == 0 {
		n.endLocked()
	}
	return errno
}

// Setattr: size goes through a write session (the open one, or a
// temporary one committed at once); mode, owner and mtime are metadata.
func (n *fileNode) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	bucket, key, ok := pathOf(&n.Inode)
	if !ok {
		return syscall.ENOENT
	}
	n.mu.Lock()
	w := n.w
	var cur map[string]string
	if w != nil {
		cur = w.Meta()
	} else if n.m != nil {
		cur = n.m.Meta
	}
	atime := n.attrsLocked().atime
	n.mu.Unlock()
	meta, metaChanged := n.fsys.applySetattr(cur, n.typ, in, atime)
	size, sizeChanged := in.GetSize()
	if _, setMtime := in.GetMTime(); sizeChanged && !setMtime && meta[metaMtime] != "" {
		// truncate(2) changes mtime: the commit's time, not a stored one.
		delete(meta, metaMtime)
		metaChanged = true
	}

	if w != nil {
		// A metadata change to a session with nothing left to commit is
		// one to a file that was closed (or fsynced) and whose RELEASE has
		// not come yet: chmod, chown or utimes right after close land here,
		// and nothing else would commit them before that RELEASE. They are
		// committed at once, as on a closed file. A session with pending
		// bytes commits them with its close (tar sets times, owner and mode
		// on the open file before closing it), and a size change waits for
		// the close too: it is how the kernel truncates for an O_TRUNC
		// open, and a write that then fails must leave the previous
		// version whole.
		//
		// A truncate(2) by path to a non-zero size (no handle, and never
		// the kernel's O_TRUNC, which truncates to 0) of a session with
		// nothing left to commit is a closed file's too: committed at
		// once, so S3 sees the new size when truncate returns.
		pathTruncate := sizeChanged && fh == nil && size != 0 && !w.Dirty()
		clean := !w.Dirty() && (!sizeChanged || pathTruncate)
		if sizeChanged {
			n.mu.Lock()
			errno := n.truncateLocked(ctx, bucket, key, int64(size), nil)
			if errno == 0 && pathTruncate && !metaChanged && n.w == w {
				errno = n.commitHeld(ctx)
			}
			n.mu.Unlock()
			if errno != 0 {
				return errno
			}
		}
		if metaChanged {
			n.mu.Lock()
			ended := n.w != w
			var errno syscall.Errno
			if !ended {
				if _, set := meta[metaMtime]; clean && !sizeChanged && !set {
					// The commit below stores metadata only; its new
					// modification time must not become the mtime.
					meta[metaMtime] = formatMtime(n.attrsLocked().mtime)
				}
				// Under n.mu, so Release commits it or has not started.
				w.SetMeta(meta)
				if clean {
					errno = n.commitHeld(ctx)
				}
			}
			n.mu.Unlock()
			if errno != 0 {
				return errno
			}
			if ended {
				// The session ended (and committed) meanwhile: store the
				// metadata on the committed object instead.
				if errno := n.setMeta(ctx, bucket, key, meta); errno != 0 {
					return errno
				}
			}
		}
	} else if sizeChanged {
		// meta even unchanged: a truncate to the same size moves mtime and
		// ctime too (as on Linux's file systems), and needs a commit.
		n.mu.Lock()
		errno := n.truncateLocked(ctx, bucket, key, int64(size), meta)
		n.mu.Unlock()
		if errno != 0 {
			return errno
		}
	} else if metaChanged {
		if errno := n.setMeta(ctx, bucket, key, meta); errno != 0 {
			return errno
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.attrsLocked().fill(&out.Attr)
	return 0
}

// setMeta stores metadata on the committed object (metadata only).
func (n *fileNode) setMeta(ctx context.Context, bucket, key string, meta map[string]string) syscall.Errno {
	forgetListingOf(&n.Inode)
	defer n.fsys.mine(bucket, key, false)()
	m, err := n.fsys.objs.SetMeta(ctx, n.fsys.orgID, bucket, key, meta)
	if err != nil {
		return toErrno(err)
	}
	n.mu.Lock()
	n.m = m
	n.cacheTag = m.ETag
	n.mu.Unlock()
	return 0
}

func (n *fileNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	if n.typ != syscall.S_IFLNK {
		return nil, syscall.EINVAL
	}
	bucket, key, ok := pathOf(&n.Inode)
	if !ok {
		return nil, syscall.ENOENT
	}
	obj, err := n.fsys.objs.Open(ctx, n.fsys.orgID, bucket, key)
	if err != nil {
		return nil, toErrno(err)
	}
	defer obj.Close()
	rd, err := obj.NewReader(ctx, 0, -1)
	if err != nil {
		return nil, toErrno(err)
	}
	defer rd.Close()
	b, err := io.ReadAll(rd)
	if err != nil {
		return nil, toErrno(err)
	}
	return b, 0
}

// currentMeta is the metadata of the session or of the committed version.
func (n *fileNode) currentMeta(ctx context.Context) (map[string]string, syscall.Errno) {
	n.mu.Lock()
	if n.w != nil {
		m := n.w.Meta()
		n.mu.Unlock()
		return m, 0
	}
	n.mu.Unlock()
	bucket, key, ok := pathOf(&n.Inode)
	if !ok {
		return nil, syscall.ENOENT
	}
	m, err := n.fsys.objs.Head(ctx, n.fsys.orgID, bucket, key)
	if err != nil {
		return nil, toErrno(err)
	}
	n.setManifest(m)
	return m.Meta, 0
}

// xattrKey maps "user.name" to the metadata key "name"; other namespaces,
// and names that hold POSIX attributes, are not user metadata.
func xattrKey(attr string) (string, bool) {
	k, ok := strings.CutPrefix(attr, "user.")
	if !ok || k == "" || reserved[strings.ToLower(k)] {
		return "", false
	}
	return k, true
}

func (n *fileNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if notUserXattr(attr) {
		return 0, syscall.EOPNOTSUPP
	}
	k, ok := xattrKey(attr)
	if !ok {
		return 0, syscall.ENODATA
	}
	meta, errno := n.currentMeta(ctx)
	if errno != 0 {
		return 0, errno
	}
	v, ok := meta[k]
	if !ok {
		return 0, syscall.ENODATA
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}

func (n *fileNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	meta, errno := n.currentMeta(ctx)
	if errno != 0 {
		return 0, errno
	}
	var names []string
	for k := range meta {
		if !reserved[strings.ToLower(k)] {
			names = append(names, "user."+k)
		}
	}
	sort.Strings(names)
	var b []byte
	for _, s := range names {
		b = append(b, s...)
		b = append(b, 0)
	}
	if len(dest) < len(b) {
		return uint32(len(b)), syscall.ERANGE
	}
	return uint32(copy(dest, b)), 0
}

const (
	xattrCreate  = 1 // XATTR_CREATE
	xattrReplace = 2 // XATTR_REPLACE
)

func (n *fileNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	k, ok := xattrKey(attr)
	if !ok {
		if strings.HasPrefix(attr, "user.") {
			return syscall.EPERM
		}
		return syscall.EOPNOTSUPP
	}
	return n.editMeta(ctx, func(meta map[string]string) syscall.Errno {
		_, exists := meta[k]
		if flags&xattrCreate != 0 && exists {
			return syscall.EEXIST
		}
		if flags&xattrReplace != 0 && !exists {
			return syscall.ENODATA
		}
		old := maps.Clone(meta)
		meta[k] = string(data)
		// The object layer's user-metadata limit, the one S3 clients
		// meet as MetadataTooLarge. setxattr(2) names the errnos: E2BIG
		// when this attribute alone is over the limit, ENOSPC when it
		// would fit but the others leave no room. (ext4 answers ENOSPC
		// for both below the VFS's 64 KiB cap.)
		if objects.CheckUserMetaEdit(old, meta) != nil {
			if objects.CheckUserMeta(map[string]string{k: string(data)}) != nil {
				return syscall.E2BIG
			}
			return syscall.ENOSPC
		}
		return 0
	})
}

func (n *fileNode) Removexattr(ctx context.Context, attr string) syscall.Errno {
	if notUserXattr(attr) {
		return syscall.EOPNOTSUPP
	}
	k, ok := xattrKey(attr)
	if !ok {
		return syscall.ENODATA
	}
	return n.editMeta(ctx, func(meta map[string]string) syscall.Errno {
		if _, ok := meta[k]; !ok {
			return syscall.ENODATA
		}
		delete(meta, k)
		return 0
	})
}

func (n *fileNode) editMeta(ctx context.Context, edit func(map[string]string) syscall.Errno) syscall.Errno {
	cur, errno := n.currentMeta(ctx)
	if errno != 0 {
		return errno
	}
	meta := maps.Clone(cur)
	if meta == nil {
		meta = map[string]string{}
	}
	if errno := edit(meta); errno != 0 {
		return errno
	}
	setIfRoom(meta, metaCtime, formatMtime(time.Now()))
	n.mu.Lock()
	w := n.w
	n.mu.Unlock()
	if w != nil {
		w.SetMeta(meta)
		return 0
	}
	bucket, key, ok := pathOf(&n.Inode)
	if !ok {
		return syscall.ENOENT
	}
	return n.setMeta(ctx, bucket, key, meta)
}
