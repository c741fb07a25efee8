package fsmount

import (
	"bytes"
	"context"
	"errors"
	"maps"
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

// dirNode is a bucket (key prefix "") or a directory inside one (prefix
// "a/b/"). Its bucket and prefix are not stored: they follow from its place
// in the tree, so a rename needs no bookkeeping here.
type dirNode struct {
	fs.Inode
	fsys *fsys
	// marker is the "dir/" marker object, if any, as last looked up; a
	// lookup of the directory replaces it while Getattr may be reading it.
	// Its metadata holds the directory's mode, owner and times.
	marker atomic.Pointer[catalog.Manifest]
	// born is the bucket's creation time: the times of a directory without
	// a marker (the bucket itself, or a directory that exists only by the
	// keys under it), for which S3 stores nothing else. Set at creation.
	born time.Time
	// subdirs counts the subdirectories (the link count less 2), -1 when
	// the directory is too large to count in a lookup.
	subdirs atomic.Int32
	// changes counts what may have changed the marker or the
	// subdirectories since (this mount's changes in the directory, feed
	// events under it); read is the count Getattr last read them at. They
	// need no reading by age: every writer's change reaches the directory
	// one of these two ways.
	changes, read atomic.Uint64

	// listed holds the files of the last listing with their manifests, so
	// the lookups that follow a readdir (ls -l, READDIRPLUS) need no
	// catalog call; its subdirectories are there too, without a manifest,
	// so that looking them up does not count as a miss that reads ahead. Entries live for listedTTL after the last
	// page; a feed event in the directory clears them, and this mount's own
	// changes forget the names they touch.
	lmu      sync.Mutex
	listed   map[string]*catalog.Manifest
	listedAt time.Time
	// complete: listed holds every name of the directory, from one
	// listing read from its first page to its last at one changes count
	// (listedGen), each name this mount changed since marked unknown
	// (nil). A name not in it is then missing (a rename's or create's
	// target after ls) without a catalog read. listedBy is the listing
	// (its stream) whose pages are going in.
	complete  bool
	whole     bool
	listedGen uint64
	listedBy  any

	// Lookups that missed the listing since the last read-ahead, and
	// whether that read-ahead answered any lookup (see lookAhead).
	misses    int
	aheadUsed bool
	aheadHit  bool

	// missName is the last name a lookup found missing, at changes count
	// missGen (read before the catalog was). While no feed event has come
	// under the directory since and this mount has not touched the name
	// (forget), it is still missing: the create or rename that follows
	// the kernel's lookup need not ask the catalog again.
	missName string
	missGen  uint64

	// kernel tracks the listing the kernel caches (readdir.go).
	kernel kernelListing
}

// missed records that name was not found by a lookup that started at the
// directory's changes count gen.
func (d *dirNode) missed(name string, gen uint64) {
	d.lmu.Lock()
	d.missName, d.missGen = name, gen
	d.lmu.Unlock()
}

// stillMissing reports whether name is known to be missing: a lookup
// found it so and nothing can have made it since.
func (d *dirNode) stillMissing(name string) bool {
	d.lmu.Lock()
	defer d.lmu.Unlock()
	return d.missName == name && d.missGen == d.changes.Load()
}

// current reports whether the directory's changes count is still gen: no
// feed event has come under it since.
func (d *dirNode) current(gen uint64) bool { return d.changes.Load() == gen }

// maxListed bounds the files a directory remembers from its listing.
const maxListed = 16384

// listedTTL is how long a listing answers lookups after its last page:
// a program that lists, then stats, does it within seconds. The feed and
// the mount's own changes keep a listing true, so its age is not what
// keeps it correct; the bound keeps a directory from holding its
// manifests in memory after the program is done with them.
const listedTTL = 10 * time.Second

// rememberPage adds a listing page's names (subdirectories with a nil
// manifest) to what the directory remembers; first starts a new listing.
// gen is the directory's changes count from before the page was read: if
// a feed event came under the directory since, the page may be older than
// the event's invalidation, and the listing is dropped instead (the kernel
// keeps what a lookup answers for an hour). invalidate counts the event
// before it clears the listing, so the check and the store under d.lmu
// cannot fall between the two.
//
// by is the listing the page belongs to, last whether it is its last page:
// a listing whose pages all went in, from the first, at one changes count,
// makes the directory's names complete (see dirNode.complete). A page may
// hold names without a manifest (nil): they are known to exist, and a
// lookup asks the catalog for them.
func (d *dirNode) rememberPage(by any, first, last bool, gen uint64, page map[string]*catalog.Manifest) {
	d.lmu.Lock()
	defer d.lmu.Unlock()
	if d.changes.Load() != gen {
		d.dropListed()
		return
	}
	if first || d.listed == nil {
		d.listed = make(map[string]*catalog.Manifest)
		d.complete, d.whole, d.listedGen, d.listedBy = false, first, gen, by
	}
	if by != d.listedBy || gen != d.listedGen {
		d.whole = false // pages of two listings, or of two counts
	}
	d.listedAt = time.Now() // each page extends the listing's life
	for name, m := range page {
		if len(d.listed) >= maxListed {
			d.whole = false
			break
		}
		d.listed[name] = m
	}
	d.complete = d.whole && last
}

// dropListed forgets the listing; d.lmu is held.
func (d *dirNode) dropListed() {
	d.listed, d.complete, d.whole, d.listedBy = nil, false, false, nil
}

// listedFile returns name's manifest from the listing, or nil when the
// listing does not answer. known reports that the listing holds the name
// (a subdirectory, or a name to read again): its lookup is no miss.
//
// missing reports that the listing is complete and current and name is not
// in it: name does not exist.
func (d *dirNode) listedFile(name string) (m *catalog.Manifest, known, missing bool) {
	d.lmu.Lock()
	defer d.lmu.Unlock()
	if d.listed == nil || time.Since(d.listedAt) > listedTTL {
		d.dropListed()
		return nil, false, false
	}
	m, ok := d.listed[name]
	if m != nil {
		d.aheadHit = true
	}
	if ok {
		return m, true, false
	}
	// The count is checked too: invalidate counts an event before it
	// clears the listing.
	return nil, false, d.complete && d.listedGen == d.changes.Load()
}

// missedExisting counts a name that exists and that the listing did not
// answer, and reports whether this miss should read ahead (lookAhead).
// Names that do not exist (a rename's or create's target) are not counted:
// a page after them holds nothing the next lookups ask for.
func (d *dirNode) missedExisting() (ahead bool) {
	d.lmu.Lock()
	defer d.lmu.Unlock()
	d.misses++
	need := aheadAfter
	if d.aheadUsed && !d.aheadHit {
		need = aheadAfterIdle
	}
	if d.misses < need {
		return false
	}
	d.misses, d.aheadHit, d.aheadUsed = 0, false, true
	return true
}

// Read-ahead for lookups: a program that stats the files of a directory
// without listing it first (a cold stat loop, find -newer, make) costs
// two catalog reads per name. After a few misses since the last
// read-ahead, a lookup also lists the page of the directory that follows
// the name and remembers its files as a listing does, so the next names are
// answered from memory. Only names that exist count as misses (a rename's
// or create's target asks for one that does not, and the page after it
// would answer nothing). A read-ahead that answered nothing before the
// next one makes the next one wait for many more misses.
const (
	aheadAfter     = 4
	aheadAfterIdle = 64
)

// lookAhead lists one page of the directory after name (a key under
// prefix) and remembers its files, in one step. Names at the end of a
// truncated page are left out when their directory form could sort onto the
// next page: the directory would win over the file. A page that would
// overflow the listing replaces it, so a stat loop over a directory larger
// than maxListed keeps being answered.
func (d *dirNode) lookAhead(ctx context.Context, bucket, prefix, name string) {
	gen := d.changes.Load()
	res, ms, err := d.fsys.objs.ListManifests(ctx, d.fsys.orgID, bucket, catalog.ListOptions{
		Prefix: prefix, Delimiter: "/", StartAfter: prefix + name, MaxKeys: readdirPage,
	})
	if err != nil {
		return // the lookup itself answers; read-ahead is only a hint
	}
	page := make(map[string]*catalog.Manifest, len(res.Objects))
	pageNames(prefix, res, func(string) {}, func(key, n string, tail bool) {
		if m := ms[key]; m != nil && !tail {
			page[n] = m
		}
	})
	d.lmu.Lock()
	defer d.lmu.Unlock()
	if d.changes.Load() != gen {
		return // see rememberPage
	}
	d.listedAt = time.Now()
	if d.listed == nil || len(d.listed)+len(page) > maxListed {
		d.dropListed()
		d.listed = page
		return
	}
	maps.Copy(d.listed, page)
}

// pageNames walks a listing page of the directory at prefix: dir gets each
// subdirectory, file each file with its key, and tail set when the page is
// truncated and the file's directory form could sort onto the next page.
// The directory's own marker, names the mount cannot show, and files that
// are also directories on this page are left out.
func pageNames(prefix string, res catalog.ListResult, dir func(name string), file func(key, name string, tail bool)) {
	dirs := make(map[string]bool, len(res.CommonPrefixes))
	for _, cp := range res.CommonPrefixes {
		n := cp[len(prefix) : len(cp)-1]
		dirs[n] = true
		if validName(n) {
			dir(n)
		}
	}
	for _, o := range res.Objects {
		n := o.Key[len(prefix):]
		if o.Key == prefix || !validName(n) || dirs[n] {
			continue
		}
		file(o.Key, n, res.IsTruncated && o.Key+"/" > res.Next)
	}
}

// forgetListing drops what the last listing said: a change made over S3
// may touch any name of the directory.
func (d *dirNode) forgetListing() {
	d.lmu.Lock()
	d.dropListed()
	d.lmu.Unlock()
}

// forget drops what the last listing said of names: the mount's own
// changes touch only the names they are given, and the rest of the listing
// stays true (a rename loop would otherwise list the directory again and
// again).
//
// In a complete listing the name stays, unknown (nil): it may exist now,
// and the lookup asks the catalog.
func (d *dirNode) forget(name string) {
	d.lmu.Lock()
	if d.complete && len(d.listed) < maxListed {
		d.listed[name] = nil
	} else {
		delete(d.listed, name)
		d.complete, d.whole = false, false
	}
	if d.missName == name {
		d.missName = ""
	}
	d.lmu.Unlock()
}

// forgetListingOf drops what n's parent directory's listing said of n.
func forgetListingOf(n *fs.Inode) {
	if name, p := n.Parent(); p != nil {
		if d, ok := p.Operations().(*dirNode); ok {
			d.forget(name)
		}
	}
}

var (
	_ fs.NodeLookuper  = (*dirNode)(nil)
	_ fs.NodeReaddirer = (*dirNode)(nil)
	_ fs.NodeMkdirer   = (*dirNode)(nil)
	_ fs.NodeRmdirer   = (*dirNode)(nil)
	_ fs.NodeCreater   = (*dirNode)(nil)
	_ fs.NodeUnlinker  = (*dirNode)(nil)
	_ fs.NodeRenamer   = (*dirNode)(nil)
	_ fs.NodeSymlinker = (*dirNode)(nil)
	_ fs.NodeLinker    = (*dirNode)(nil)
	_ fs.NodeMknoder   = (*dirNode)(nil)
	_ fs.NodeGetattrer = (*dirNode)(nil)
	_ fs.NodeSetattrer = (*dirNode)(nil)
	_ fs.NodeStatfser  = (*dirNode)(nil)
	_ fs.NodeFsyncer   = (*dirNode)(nil)
)

// where returns the directory's bucket and key prefix.
func (d *dirNode) where() (bucket, prefix string, errno syscall.Errno) {
	b, k, ok := pathOf(&d.Inode)
	if !ok {
		return "", "", syscall.ENOENT
	}
	if k != "" {
		k += "/"
	}
	return b, k, 0
}

func (d *dirNode) fillEntry(out *fuse.EntryOut) {
	d.attrs().fill(&out.Attr)
}

// setName records what a lookup of the directory found.
func (d *dirNode) setName(n catalog.Name) {
	d.marker.Store(n.Marker)
	c := int32(-1)
	if n.SubdirsKnown {
		c = 0
		for _, s := range n.Subdirs {
			if validName(s) {
				c++
			}
		}
	}
	d.subdirs.Store(c)
}

// stale makes the next Getattr read the marker and subdirectories again.
func (d *dirNode) stale() { d.changes.Add(1) }

// addSubdirs counts subdirectories this mount made (delta 1) or removed
// (-1). Its own changes need no catalog read: rereading after each create
// in a directory made a create loop step over the directory's keys once
// per file.
func (d *dirNode) addSubdirs(delta int32) {
	for {
		n := d.subdirs.Load()
		if n < 0 || n+delta < 0 || d.subdirs.CompareAndSwap(n, n+delta) {
			return
		}
	}
}

// attrs are the marker's attributes (the bucket's creation time without
// one), with a link count of 2 + subdirectories, or 1 when they were not
// counted: find(1) and fts read 1 as "unknown" and do not use it to skip
// subdirectories, where an undercount would make them miss some.
func (d *dirNode) attrs() attrs {
	m := d.marker.Load()
	a := d.fsys.attrsOf(m, syscall.S_IFDIR)
	if m == nil {
		a.times(d.born)
	}
	a.nlink = 1
	if n := d.subdirs.Load(); n >= 0 {
		a.nlink = 2 + uint32(n)
	}
	return a
}

// Getattr reads the marker and counts subdirectories again when something
// may have changed them since it last did, so times and link counts changed
// by another mount or over S3 show once the kernel asks again.
func (d *dirNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	bucket, prefix, errno := d.where()
	if errno != 0 {
		// Removed while open: fstat of an rmdir'ed directory.
		a := d.attrs()
		a.nlink = 0
		a.fill(&out.Attr)
		return 0
	}
	if c := d.changes.Load(); c != d.read.Load() {
		key := strings.TrimSuffix(prefix, "/")
		ns, err := d.fsys.objs.Names(ctx, d.fsys.orgID, bucket, key)
		// A directory deleted over S3 keeps its last state, as a file does.
		if err == nil && (ns[0].Dir || key == "") {
			d.setName(ns[0])
			// A change during the read leaves changes above c: read again
			// next time.
			d.read.Store(c)
		}
	}
	d.attrs().fill(&out.Attr)
	if d.implied() {
		out.SetTimeout(d.fsys.opts.ImpliedDirTimeout)
	}
	return 0
}

func (d *dirNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return statfs(d.fsys, out)
}

// Setattr on a directory stores mode, owner and mtime on its marker object,
// creating the marker if the directory had none. A bucket has no marker;
// changes to it are accepted and not kept.
func (d *dirNode) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	bucket, prefix, errno := d.where()
	if errno != 0 {
		return errno
	}
	if prefix != "" {
		var cur map[string]string
		if mk := d.marker.Load(); mk != nil {
			cur = mk.Meta
		}
		meta, changed := d.fsys.applySetattr(cur, syscall.S_IFDIR, in, d.attrs().atime)
		if changed {
			defer d.fsys.mine(bucket, prefix, false)()
			m, err := d.fsys.objs.SetMeta(ctx, d.fsys.orgID, bucket, prefix, meta)
			if errors.Is(err, catalog.ErrNotFound) {
				m, err = d.fsys.objs.Put(ctx, d.fsys.orgID, bucket, prefix, bytes.NewReader(nil), objects.PutOptions{Size: 0, Meta: catalog.Manifest{Meta: meta}})
			}
			if err != nil {
				return toErrno(err)
			}
			d.marker.Store(m)
		}
	}
	return d.Getattr(ctx, fh, out)
}

// Lookup resolves name. A directory (any key under name + "/") wins over
// an object named exactly name, which is then hidden.
func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	bucket, prefix, errno := d.where()
	if errno != 0 {
		return nil, errno
	}
	if errno := checkName(prefix, name, false); errno != 0 {
		return nil, errno
	}
	if !validName(name) {
		return nil, syscall.ENOENT
	}
	if ch := d.GetChild(name); ch != nil {
		// A file created here and not yet committed exists only in the
		// tree.
		if fn, ok := ch.Operations().(*fileNode); ok && fn.writing() {
			fn.fillEntry(out)
			return ch, 0
		}
	}
	// The kernel asks again for a name it was just told is missing when
	// the name is a rename's target or an exclusive create's (it
	// revalidates those with the file system), and Go's os.Rename stats
	// the target first: two lookups per rename. Nothing can have made
	// the name since the first answer: any change under the directory
	// counts a feed event here before its write returns (an S3 PUT,
	// another mount's), and this mount's own changes forget the name.
	if d.stillMissing(name) {
		return nil, syscall.ENOENT
	}
	// Read before the catalog is: an event committed after the read
	// starts moves it on.
	gen := d.changes.Load()
	m, known, missing := d.listedFile(name)
	if m != nil {
		return d.fileChild(ctx, name, m, typeOf(m), gen, out), 0
	}
	if missing {
		d.missed(name, gen)
		return nil, syscall.ENOENT
	}
	ns, err := d.fsys.objs.Names(ctx, d.fsys.orgID, bucket, prefix+name)
	if err != nil {
		return nil, toErrno(err)
	}
	if n := ns[0]; !known && (n.Dir || n.Object != nil) && d.missedExisting() {
		// The page after name: the lookups of a stat loop that follow.
		d.lookAhead(ctx, bucket, prefix, name)
	}
	switch n := ns[0]; {
	case n.Dir:
		return d.dirChild(ctx, name, n, out), 0
	case n.Object != nil:
		return d.fileChild(ctx, name, n.Object, typeOf(n.Object), gen, out), 0
	default:
		d.missed(name, gen)
		return nil, syscall.ENOENT
	}
}

// isDir reports whether key is a directory: whether any key lies under
// key+"/" (one catalog snapshot, catalog.Names).
func (f *fsys) isDir(ctx context.Context, bucket, key string) (bool, error) {
	ns, err := f.objs.Names(ctx, f.orgID, bucket, key)
	if err != nil {
		return false, err
	}
	return ns[0].Dir, nil
}

// dirChild returns the directory node for name, reusing the tree's node if
// it already is a directory, so a path keeps its inode while the kernel
// knows it.
func (d *dirNode) dirChild(ctx context.Context, name string, n catalog.Name, out *fuse.EntryOut) *fs.Inode {
	if ch := d.GetChild(name); ch != nil {
		if dn, ok := ch.Operations().(*dirNode); ok {
			dn.setName(n)
			dn.fillEntry(out)
			dn.shortEntry(out)
			return ch
		}
	}
	dn := &dirNode{fsys: d.fsys, born: d.born}
	dn.setName(n)
	dn.fillEntry(out)
	dn.shortEntry(out)
	return d.NewInode(ctx, dn, fs.StableAttr{Mode: syscall.S_IFDIR})
}

// implied reports whether the directory exists only by the keys under it:
// no marker, and not a bucket. It can vanish with no event of its own.
func (d *dirNode) implied() bool {
	if d.marker.Load() != nil {
		return false
	}
	_, p := d.Parent()
	return p == nil || !p.IsRoot()
}

// shortEntry gives the entry of an implied directory the short timeouts
// (Options.ImpliedDirTimeout); go-fuse fills in the long ones for others.
func (d *dirNode) shortEntry(out *fuse.EntryOut) {
	if d.marker.Load() == nil {
		t := d.fsys.opts.ImpliedDirTimeout
		out.SetEntryTimeout(t)
		out.SetAttrTimeout(t)
	}
}

// fileChild returns the file node for name, reusing the tree's node if it
// is a file of the same type; gen is the directory's changes count from
// before the catalog told of m.
func (d *dirNode) fileChild(ctx context.Context, name string, m *catalog.Manifest, typ uint32, gen uint64, out *fuse.EntryOut) *fs.Inode {
	if ch := d.GetChild(name); ch != nil {
		if fn, ok := ch.Operations().(*fileNode); ok && fn.typ == typ {
			fn.setManifest(m)
			fn.gen.Store(gen)
			fn.fillEntry(out)
			return ch
		}
	}
	fn := &fileNode{fsys: d.fsys, typ: typ, m: m}
	fn.gen.Store(gen)
	fn.fillEntry(out)
	return d.NewInode(ctx, fn, fs.StableAttr{Mode: typ})
}

func (d *dirNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	bucket, prefix, errno := d.where()
	if errno != 0 {
		return nil, errno
	}
	return &dirStream{f: d.fsys, d: d, bucket: bucket, prefix: prefix}, 0
}

// Mkdir stores a zero-length "dir/" marker carrying the mode and owner.
func (d *dirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	d.forget(name)
	bucket, prefix, errno := d.where()
	if errno != 0 {
		return nil, errno
	}
	if errno := checkName(prefix, name, true); errno != 0 {
		return nil, errno
	}
	key := prefix + name + "/"
	if exists, err := d.fsys.isDir(ctx, bucket, prefix+name); err != nil {
		return nil, toErrno(err)
	} else if exists {
		return nil, syscall.EEXIST
	}
	defer d.fsys.mine(bucket, key, false)()
	caller, _ := fuse.FromContext(ctx)
	c := d.fsys.entryChange(bucket)
	c.dir(d, prefix, time.Now())
	m, err := d.fsys.objs.Put(c.ctx(ctx), d.fsys.orgID, bucket, key, bytes.NewReader(nil), objects.PutOptions{
		Size: 0,
		Meta: catalog.Manifest{Meta: d.fsys.newMeta(syscall.S_IFDIR, mode, caller)},
	})
	c.done(ctx, err == nil)
	if err != nil {
		return nil, toErrno(err)
	}
	d.addSubdirs(1)
	return d.dirChild(ctx, name, catalog.Name{Dir: true, Marker: m, SubdirsKnown: true}, out), 0
}

// Rmdir removes an empty directory's marker (ENOTEMPTY if any other key is
// under it).
func (d *dirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	d.forget(name)
	bucket, prefix, errno := d.where()
	if errno != 0 {
		return errno
	}
	key := prefix + name + "/"
	res, err := d.fsys.objs.List(ctx, d.fsys.orgID, bucket, catalog.ListOptions{Prefix: key, MaxKeys: 2})
	if err != nil {
		return toErrno(err)
	}
	switch {
	case len(res.Objects) == 0:
		return syscall.ENOENT
	case len(res.Objects) > 1 || res.Objects[0].Key != key:
		return syscall.ENOTEMPTY
	}
	c := d.fsys.entryChange(bucket)
	c.dir(d, prefix, time.Now())
	done := d.fsys.mine(bucket, key, false)
	err = d.fsys.objs.Delete(c.ctx(ctx), d.fsys.orgID, bucket, key)
	done()
	c.done(ctx, err == nil)
	if err != nil {
		return toErrno(err)
	}
	d.fsys.keepDir(ctx, d, bucket, prefix, key)
	d.addSubdirs(-1)
	return 0
}

// keepDir stores a marker for prefix if no key is left under it, so a
// directory emptied through the mount stays, as POSIX expects. gone is the
// key just removed: the first probe starts after it, because deleted keys
// linger as tombstones the catalog's iterator steps over, and rm or mv of a
// large directory in order would otherwise make every probe step over all
// earlier deletions. d, the directory's node, then has the marker, which
// holds its times from now on.
func (f *fsys) keepDir(ctx context.Context, d *dirNode, bucket, prefix, gone string) {
	if prefix == "" || d.marker.Load() != nil {
		// A bucket, or a directory with a marker: the marker is a key
		// under the prefix, so the directory stays. (The feed clears a
		// marker deleted elsewhere.)
		return
	}
	ctx, cancel := detached(ctx)
	defer cancel()
	res, err := f.objs.List(ctx, f.orgID, bucket, catalog.ListOptions{Prefix: prefix, StartAfter: gone, MaxKeys: 1})
	if err != nil || len(res.Objects) > 0 {
		return
	}
	res, err = f.objs.List(ctx, f.orgID, bucket, catalog.ListOptions{Prefix: prefix, MaxKeys: 1})
	if err != nil || len(res.Objects) > 0 {
		return
	}
	defer f.mine(bucket, prefix, false)()
	m, err := f.objs.Put(ctx, f.orgID, bucket, prefix, bytes.NewReader(nil), objects.PutOptions{Size: 0})
	if err != nil {
		f.log.Warn("fsmount: keeping empty directory", "bucket", bucket, "prefix", prefix, "err", err)
		return
	}
	d.marker.Store(m)
}

// Create starts a write session on a new (or truncated) key. Nothing is
// committed until the first flush, fsync or close; until then the file
// exists only in this mount.
func (d *dirNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	gen := d.changes.Load()
	missing := d.stillMissing(name)
	d.forget(name)
	bucket, prefix, errno := d.where()
	if errno != 0 {
		return nil, nil, 0, errno
	}
	if errno := checkName(prefix, name, false); errno != 0 {
		return nil, nil, 0, errno
	}
	// The kernel's lookup said name was no directory; keys under name/ may
	// have arrived over S3 since, unless the lookup found nothing and no
	// event has come under the directory since.
	if !missing {
		if isDir, err := d.fsys.isDir(ctx, bucket, prefix+name); err != nil {
			return nil, nil, 0, toErrno(err)
		} else if isDir {
			return nil, nil, 0, syscall.EISDIR
		}
	}
	w, err := d.fsys.objs.OpenWriter(ctx, d.fsys.orgID, bucket, prefix+name, true)
	if err != nil {
		return nil, nil, 0, toErrno(err)
	}
	caller, _ := fuse.FromContext(ctx)
	w.SetMeta(d.fsys.newMeta(syscall.S_IFREG, mode, caller))
	// The directory's times go with the file's first commit.
	now := time.Now()
	c := d.fsys.entryChange(bucket)
	c.dir(d, prefix, now)
	c.carry(w, now)
	fn := &fileNode{fsys: d.fsys, typ: syscall.S_IFREG}
	fn.gen.Store(gen)
	ch := d.NewInode(ctx, fn, fs.StableAttr{Mode: syscall.S_IFREG})
	h := fn.created(w)
	fn.fillEntry(out)
	return ch, h, 0, 0
}

// Mknod makes regular files only (committed at once, empty).
func (d *dirNode) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	gen := d.changes.Load()
	d.forget(name)
	if mode&syscall.S_IFMT != syscall.S_IFREG && mode&syscall.S_IFMT != 0 {
		return nil, syscall.EPERM
	}
	bucket, prefix, errno := d.where()
	if errno != 0 {
		return nil, errno
	}
	if errno := checkName(prefix, name, false); errno != 0 {
		return nil, errno
	}
	caller, _ := fuse.FromContext(ctx)
	c := d.fsys.entryChange(bucket)
	c.dir(d, prefix, time.Now())
	done := d.fsys.mine(bucket, prefix+name, false)
	m, err := d.fsys.objs.Put(c.ctx(ctx), d.fsys.orgID, bucket, prefix+name, bytes.NewReader(nil), objects.PutOptions{
		Size: 0, Meta: catalog.Manifest{Meta: d.fsys.newMeta(syscall.S_IFREG, mode, caller)},
	})
	done()
	c.done(ctx, err == nil)
	if err != nil {
		return nil, toErrno(err)
	}
	return d.fileChild(ctx, name, m, syscall.S_IFREG, gen, out), 0
}

// Symlink stores the target as the object's content, marked with the
// S_IFLNK mode bits in x-amz-meta-mode, as s3fs does.
func (d *dirNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	gen := d.changes.Load()
	d.forget(name)
	bucket, prefix, errno := d.where()
	if errno != 0 {
		return nil, errno
	}
	if errno := checkName(prefix, name, false); errno != 0 {
		return nil, errno
	}
	caller, _ := fuse.FromContext(ctx)
	c := d.fsys.entryChange(bucket)
	c.dir(d, prefix, time.Now())
	done := d.fsys.mine(bucket, prefix+name, false)
	m, err := d.fsys.objs.Put(c.ctx(ctx), d.fsys.orgID, bucket, prefix+name, bytes.NewReader([]byte(target)), objects.PutOptions{
		Size: int64(len(target)), Meta: catalog.Manifest{Meta: d.fsys.newMeta(syscall.S_IFLNK, 0o777, caller)},
	})
	done()
	c.done(ctx, err == nil)
	if err != nil {
		return nil, toErrno(err)
	}
	return d.fileChild(ctx, name, m, syscall.S_IFLNK, gen, out), 0
}

// Link: objects have one name; hard links are refused.
func (d *dirNode) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (d *dirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	d.forget(name)
	bucket, prefix, errno := d.where()
	if errno != 0 {
		return errno
	}
	ch := d.GetChild(name)
	pending := false
	var fn *fileNode
	if ch != nil {
		if fn, _ = ch.Operations().(*fileNode); fn != nil {
			pending = fn.writing() && fn.neverCommitted()
		}
	}
	c := d.fsys.entryChange(bucket)
	c.dir(d, prefix, time.Now())
	done := d.fsys.mine(bucket, prefix+name, false)
	err := d.fsys.objs.Delete(c.ctx(ctx), d.fsys.orgID, bucket, prefix+name)
	done()
	// A file never committed is gone too: its directory's times move
	// (in a transaction of their own, as the delete found nothing).
	gone := err == nil || pending && errors.Is(err, catalog.ErrNotFound)
	c.done(ctx, gone)
	if !gone {
		return toErrno(err)
	}
	if fn != nil {
		fn.unlink()
	}
	d.fsys.keepDir(ctx, d, bucket, prefix, prefix+name)
	return 0
}

// Fsync of a directory (FSYNCDIR) makes the entries created, renamed or
// removed in it durable, as tools that fsync a directory after a rename
// expect; like a file's fsync it covers every change made before it.
func (d *dirNode) Fsync(ctx context.Context, fh fs.FileHandle, flags uint32) syscall.Errno {
	return d.fsys.sync(ctx)
}
