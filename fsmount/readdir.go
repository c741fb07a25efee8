package fsmount

import (
	"context"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"excloud.dev/buckets/catalog"
)

// readdirPage is how many keys and common prefixes one catalog listing call
// returns; a directory stream holds at most two pages (the one the kernel
// is taking and the next).
const readdirPage = 1000

// The kernel caches directory listings (FOPEN_CACHE_DIR): a directory
// listed again (find, du, ls, a build walking a tree) costs an OPENDIR and
// a RELEASEDIR, not a READDIR per page and a catalog listing behind each.
// The kernel itself drops its cache when a change it knows of (any change
// made through this mount) touches the directory. Changes made elsewhere
// reach the directory through the feed, which counts them on every
// directory on the changed key's path (dirNode.changes, before the S3 call
// returns); each OPENDIR compares that count with the one the kernel's
// listing was filled at, and has the kernel drop its listing
// (NotifyContent) before the open is answered if they differ. A listing
// page read while an event came makes the next open drop the listing too.
// So does an open that dropped the listing while another handle of the
// directory was open: that handle's pages, read before the event, may
// still be on their way into the kernel's cache. While events wait behind
// an invalidation the kernel has not taken (invalidate.go), every open
// drops the listing: their directories have not counted them yet.
//
// kernelListing is what a directory knows of the kernel's listing.
type kernelListing struct {
	mu sync.Mutex
	// gen is 1 + the directory's changes count at the open that had the
	// kernel drop its listing, the count its listing is at least as new
	// as; 0 when no listing is trusted.
	gen  uint64
	open int // handles open
	// cached: a handle was opened with FOPEN_CACHE_DIR, so the kernel
	// may hold a listing. Until then there is nothing to drop, and no
	// notification to make the kernel forget the directory's attributes
	// too (a GETATTR per directory in a cold du).
	cached bool
}

var _ fs.NodeOpendirHandler = (*dirNode)(nil)

// OpendirHandle opens a listing the kernel may cache, first having the
// kernel forget the one it has if an event came under the directory since
// that was filled.
func (d *dirNode) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if _, _, errno := d.where(); errno != 0 {
		return nil, 0, errno
	}
	gen := d.changes.Load()
	pending := d.fsys.invalidationsPending()
	d.kernel.mu.Lock()
	if d.kernel.gen != gen+1 || pending {
		// Under the lock: a concurrent open must not trust the listing
		// before the kernel has dropped it. The kernel holds no lock of
		// the directory's during an OPENDIR, so the notification cannot
		// wait for this request.
		if d.kernel.cached {
			d.NotifyContent(0, 0)
		}
		d.kernel.cached = true
		d.kernel.gen = gen + 1
		if d.kernel.open > 0 || pending {
			d.kernel.gen = 0
		}
	}
	d.kernel.open++
	d.kernel.mu.Unlock()
	return &dirHandle{d: d, gen: gen}, fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE, 0
}

// invalidationsPending reports whether feed events wait behind an
// invalidation the kernel has not taken (fsys.bgQueue): their S3 calls
// have returned, but the directories they change have not counted them
// yet, so no listing the kernel holds can be trusted until they have.
func (f *fsys) invalidationsPending() bool {
	f.bgMu.Lock()
	defer f.bgMu.Unlock()
	return f.bgActive
}

// distrust makes the next open drop the kernel's listing.
func (k *kernelListing) distrust() {
	k.mu.Lock()
	k.gen = 0
	k.mu.Unlock()
}

// dirHandle is an open directory: a dirStream, started by the first
// READDIR. Entry offsets are positions in the stream (go-fuse numbers
// them 1, 2, …); a seek starts the stream again and steps over as many
// entries. The kernel seeks when it has part of a listing cached (a
// program stopped reading, or two read at once): it reads that part from
// its cache, then asks for the rest from where the cache ends, on a
// handle that has returned nothing yet.
type dirHandle struct {
	d    *dirNode
	gen  uint64 // the directory's changes count at the open
	s    *dirStream
	pos  uint64 // entries returned from s
	skip uint64 // entries s steps over once started
}

var (
	_ fs.FileReaddirenter = (*dirHandle)(nil)
	_ fs.FileSeekdirer    = (*dirHandle)(nil)
	_ fs.FileReleasedirer = (*dirHandle)(nil)
)

func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if h.s == nil {
		bucket, prefix, errno := h.d.where()
		if errno != 0 {
			return nil, errno
		}
		h.s = &dirStream{f: h.d.fsys, d: h.d, bucket: bucket, prefix: prefix, openGen: h.gen}
		for h.pos = 0; h.pos < h.skip; h.pos++ {
			if !h.s.HasNext() {
				return nil, 0
			}
			if _, errno := h.s.Next(); errno != 0 {
				h.s = nil
				return nil, errno
			}
		}
	}
	if !h.s.HasNext() {
		return nil, 0
	}
	e, errno := h.s.Next()
	if errno == 0 {
		h.pos++
	}
	return &e, errno
}

// Seekdir starts the listing again from entry off (0: rewinddir).
func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	h.s, h.skip = nil, off
	return 0
}

func (h *dirHandle) Releasedir(ctx context.Context, flags uint32) {
	h.d.kernel.mu.Lock()
	h.d.kernel.open--
	h.d.kernel.mu.Unlock()
}

// dirStream streams a directory from catalog listings with delimiter "/",
// one page at a time, so a directory of any size lists in bounded memory.
// While the kernel takes one page, the next is read (ahead): the catalog's
// work overlaps the kernel's and the program's, and a stream holds at most
// two pages.
type dirStream struct {
	f      *fsys
	d      *dirNode
	bucket string
	prefix string

	openGen uint64 // the directory's changes count when it was opened

	page  []fuse.DirEntry
	next  string // ContinueAfter for the next page
	done  bool
	errno syscall.Errno
	ahead chan listPage // the next page, being read; nil when none is
}

// listPage is one page of a directory stream.
type listPage struct {
	entries []fuse.DirEntry
	next    string // ContinueAfter for the page after it
	done    bool   // no page after it
	errno   syscall.Errno
}

func (s *dirStream) HasNext() bool {
	for len(s.page) == 0 && !s.done && s.errno == 0 {
		s.fetch()
	}
	return len(s.page) > 0 || s.errno != 0
}

func (s *dirStream) Next() (fuse.DirEntry, syscall.Errno) {
	if s.errno != 0 {
		errno := s.errno
		s.errno = 0
		s.done = true
		return fuse.DirEntry{}, errno
	}
	e := s.page[0]
	s.page = s.page[1:]
	return e, 0
}

func (s *dirStream) Close() {}

// fetch makes the next page current, and starts reading the one after.
func (s *dirStream) fetch() {
	var p listPage
	if s.ahead != nil {
		p = <-s.ahead
		s.ahead = nil
	} else {
		p = s.read(s.next)
	}
	s.page, s.next, s.done, s.errno = p.entries, p.next, p.done, p.errno
	if !s.done && s.errno == 0 {
		// Buffered: a stream dropped before it takes the page (the
		// program stopped reading) leaves no goroutine behind.
		s.ahead = make(chan listPage, 1)
		go func(after string, out chan<- listPage) { out <- s.read(after) }(s.next, s.ahead)
	}
}

// read reads the page after the key or common prefix after ("": the
// first). Names that cannot be POSIX names are skipped, as is the
// directory's own marker; a file whose name is also a directory (key "a"
// next to keys under "a/") is skipped: the directory wins.
func (s *dirStream) read(after string) listPage {
	ctx := context.Background()
	gen := s.d.changes.Load()
	res, ms, err := s.f.objs.ListManifests(ctx, s.f.orgID, s.bucket, catalog.ListOptions{
		Prefix: s.prefix, Delimiter: "/", ContinueAfter: after, MaxKeys: readdirPage,
	})
	if err != nil {
		return listPage{errno: toErrno(err)}
	}
	var p listPage
	remembered := make(map[string]*catalog.Manifest, len(res.Objects)+len(res.CommonPrefixes))
	pageNames(s.prefix, res, func(name string) {
		p.entries = append(p.entries, fuse.DirEntry{Name: name, Mode: syscall.S_IFDIR})
		remembered[name] = nil
	}, func(key, name string, tail bool) {
		// The directory name/ sorts after name; it may be on a later page.
		if tail {
			more, err := s.f.objs.List(ctx, s.f.orgID, s.bucket, catalog.ListOptions{Prefix: key + "/", MaxKeys: 1})
			if err == nil && len(more.Objects) > 0 {
				return
			}
		}
		typ := uint32(syscall.S_IFREG)
		if m := ms[key]; m != nil {
			typ = typeOf(m)
		}
		remembered[name] = ms[key] // nil: it exists, the lookup reads it
		p.entries = append(p.entries, fuse.DirEntry{Name: name, Mode: typ})
	})
	s.d.rememberPage(s, after == "", !res.IsTruncated, gen, remembered)
	if gen != s.openGen || !s.d.current(gen) {
		// An event came under the directory since the open, or during
		// this read: the page the kernel caches may be older than it.
		s.d.kernel.distrust()
	}
	p.next, p.done = res.Next, !res.IsTruncated
	return p
}
