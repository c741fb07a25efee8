package fsmount_test

import (
	"context"
	"os"
	"sync"
	"syscall"
	"testing"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"excloud.dev/buckets/fsmount"
)

// The benchmark's "go-fuse floor": a filesystem that keeps names, modes and
// sizes in memory and drops every byte written, mounted with the mount's
// options. What it costs per operation is the kernel's FUSE round trips
// and go-fuse's bookkeeping on this machine, which no filesystem built on
// go-fuse goes below; the excloud column is that plus the catalog, the
// chunk store and coherence.

// memEnt is one name; it outlives the kernel's inodes, so a remount (for
// cold caches) finds the same tree.
type memEnt struct {
	mode   uint32 // S_IFMT and permission bits
	size   uint64
	target string
	kids   map[string]*memEnt
}

// floorFS serializes every operation with one lock: uncontended, it costs
// nanoseconds next to a round trip.
type floorFS struct {
	mu   sync.Mutex
	root *memEnt
}

type floorNode struct {
	fs.Inode
	fsys *floorFS
	e    *memEnt
}

var (
	_ fs.NodeLookuper   = (*floorNode)(nil)
	_ fs.NodeGetattrer  = (*floorNode)(nil)
	_ fs.NodeSetattrer  = (*floorNode)(nil)
	_ fs.NodeCreater    = (*floorNode)(nil)
	_ fs.NodeMkdirer    = (*floorNode)(nil)
	_ fs.NodeSymlinker  = (*floorNode)(nil)
	_ fs.NodeReadlinker = (*floorNode)(nil)
	_ fs.NodeRenamer    = (*floorNode)(nil)
	_ fs.NodeUnlinker   = (*floorNode)(nil)
	_ fs.NodeRmdirer    = (*floorNode)(nil)
	_ fs.NodeReaddirer  = (*floorNode)(nil)
	_ fs.NodeOpener     = (*floorNode)(nil)
	_ fs.NodeWriter     = (*floorNode)(nil)
	_ fs.NodeReader     = (*floorNode)(nil)
	_ fs.NodeFlusher    = (*floorNode)(nil)
	_ fs.NodeFsyncer    = (*floorNode)(nil)
	_ fs.NodeGetxattrer = (*floorNode)(nil)
)

func (n *floorNode) attr(a *fuse.Attr) {
	a.Mode = n.e.mode
	a.Size = n.e.size
	a.Nlink = 1
}

func (n *floorNode) child(ctx context.Context, e *memEnt, out *fuse.EntryOut) *fs.Inode {
	c := &floorNode{fsys: n.fsys, e: e}
	c.attr(&out.Attr)
	return n.NewInode(ctx, c, fs.StableAttr{Mode: e.mode & syscall.S_IFMT})
}

func (n *floorNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	e := n.e.kids[name]
	if e == nil {
		return nil, syscall.ENOENT
	}
	return n.child(ctx, e, out), 0
}

func (n *floorNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	n.attr(&out.Attr)
	return 0
}

func (n *floorNode) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	if m, ok := in.GetMode(); ok {
		n.e.mode = n.e.mode&syscall.S_IFMT | m&^syscall.S_IFMT
	}
	if s, ok := in.GetSize(); ok {
		n.e.size = s
	}
	n.attr(&out.Attr)
	return 0
}

func (n *floorNode) add(ctx context.Context, name string, e *memEnt, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	if n.e.kids[name] != nil {
		return nil, syscall.EEXIST
	}
	n.e.kids[name] = e
	return n.child(ctx, e, out), 0
}

func (n *floorNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	ch, errno := n.add(ctx, name, &memEnt{mode: syscall.S_IFREG | mode&0o7777}, out)
	return ch, nil, 0, errno
}

func (n *floorNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.add(ctx, name, &memEnt{mode: syscall.S_IFDIR | mode&0o7777, kids: map[string]*memEnt{}}, out)
}

func (n *floorNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.add(ctx, name, &memEnt{mode: syscall.S_IFLNK | 0o777, target: target, size: uint64(len(target))}, out)
}

func (n *floorNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	return []byte(n.e.target), 0
}

func (n *floorNode) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	e := n.e.kids[name]
	if e == nil {
		return syscall.ENOENT
	}
	delete(n.e.kids, name)
	newParent.(*floorNode).e.kids[newName] = e
	return 0
}

func (n *floorNode) Unlink(ctx context.Context, name string) syscall.Errno {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	delete(n.e.kids, name)
	return 0
}

func (n *floorNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	if e := n.e.kids[name]; e != nil && len(e.kids) > 0 {
		return syscall.ENOTEMPTY
	}
	delete(n.e.kids, name)
	return 0
}

func (n *floorNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	ents := make([]fuse.DirEntry, 0, len(n.e.kids))
	for name, e := range n.e.kids {
		ents = append(ents, fuse.DirEntry{Name: name, Mode: e.mode})
	}
	return fs.NewListDirStream(ents), 0
}

func (n *floorNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_TRUNC != 0 {
		n.fsys.mu.Lock()
		n.e.size = 0
		n.fsys.mu.Unlock()
	}
	return nil, 0, 0
}

func (n *floorNode) Write(ctx context.Context, fh fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	n.e.size = max(n.e.size, uint64(off)+uint64(len(data)))
	return uint32(len(data)), 0
}

// Read returns zeros: the floor keeps no bytes.
func (n *floorNode) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n.fsys.mu.Lock()
	size := n.e.size
	n.fsys.mu.Unlock()
	if uint64(off) >= size {
		return fuse.ReadResultData(nil), 0
	}
	k := min(uint64(len(dest)), size-uint64(off))
	clear(dest[:k])
	return fuse.ReadResultData(dest[:k]), 0
}

// Getxattr: no extended attributes, answered as the mount answers them
// outside user.* (ls -l then stops asking).
func (n *floorNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return 0, syscall.EOPNOTSUPP
}

func (n *floorNode) Flush(ctx context.Context, fh fs.FileHandle) syscall.Errno { return 0 }

func (n *floorNode) Fsync(ctx context.Context, fh fs.FileHandle, flags uint32) syscall.Errno {
	return 0
}

// mountFloor mounts fsys at a new directory with the options fsmount.Mount
// uses (entry, attribute and negative timeouts of an hour,
// default_permissions, 1 MiB writes, adaptive READDIRPLUS) and returns the
// directory; the mount goes away with the test.
func mountFloor(t testing.TB, fsys *floorFS) string {
	t.Helper()
	dir := t.TempDir()
	to := fsmount.DefaultCacheTimeout
	srv, err := fs.Mount(dir, &floorNode{fsys: fsys, e: fsys.root}, &fs.Options{
		EntryTimeout: &to, AttrTimeout: &to, NegativeTimeout: &to,
		MountOptions: fuse.MountOptions{
			Options: []string{"default_permissions"}, FsName: "floor", Name: "floor",
			MaxWrite: 1 << 20, MaxBackground: 64, DirectMount: true,
			ExtraCapabilities: fuse.CAP_READDIRPLUS_AUTO,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Logf("unmount floor: %v", err)
		}
	})
	return dir
}

func newFloor() *floorFS {
	return &floorFS{root: &memEnt{mode: syscall.S_IFDIR | 0o755, kids: map[string]*memEnt{}}}
}

// The floor filesystem itself behaves: what the benchmark does to it works.
func TestFloorFS(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and /dev/fuse")
	}
	f := newFloor()
	d := mountFloor(t, f)
	if err := os.Mkdir(d+"/a", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d+"/a/f", make([]byte, 5000), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(d+"/a/f", d+"/a/g"); err != nil {
		t.Fatal(err)
	}
	d2 := mountFloor(t, f) // the tree outlives the mount
	fi, err := os.Stat(d2 + "/a/g")
	if err != nil || fi.Size() != 5000 || fi.Mode().Perm() != 0o640 {
		t.Fatalf("after remount: %v %v", fi, err)
	}
	if err := os.Remove(d2 + "/a/g"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d2 + "/a/g"); !os.IsNotExist(err) {
		t.Fatalf("stat after unlink: %v", err)
	}
}
