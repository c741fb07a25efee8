package fsmount

import (
	"context"
	"errors"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"excloud.dev/buckets/catalog"
)

// rootNode is the mount root: one directory per bucket of the org.
type rootNode struct {
	fs.Inode
	fsys *fsys
}

var (
	_ fs.NodeLookuper  = (*rootNode)(nil)
	_ fs.NodeReaddirer = (*rootNode)(nil)
	_ fs.NodeMkdirer   = (*rootNode)(nil)
	_ fs.NodeRmdirer   = (*rootNode)(nil)
	_ fs.NodeGetattrer = (*rootNode)(nil)
	_ fs.NodeStatfser  = (*rootNode)(nil)
	_ fs.NodeRenamer   = (*rootNode)(nil)
	_ fs.NodeCreater   = (*rootNode)(nil)
	_ fs.NodeFsyncer   = (*rootNode)(nil)
)

// Getattr: the root has a subdirectory per bucket, and the times of the
// newest bucket's creation (S3 keeps no other time for the org).
func (r *rootNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	bs, err := r.fsys.objs.ListBuckets(ctx, r.fsys.orgID)
	if err != nil {
		return toErrno(err)
	}
	a := r.fsys.attrsOf(nil, syscall.S_IFDIR)
	a.times(time.Unix(0, 0))
	for _, b := range bs {
		if !validName(b.Name) {
			continue
		}
		a.nlink++
		if b.Created.After(a.mtime) {
			a.times(b.Created)
		}
	}
	a.fill(&out.Attr)
	return 0
}

func (r *rootNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return statfs(r.fsys, out)
}

// statfs reports the capacity of the file system holding the data
// directory, since that is where chunks and the catalog go.
func statfs(f *fsys, out *fuse.StatfsOut) syscall.Errno {
	var st unix.Statfs_t
	if err := unix.Statfs(f.opts.DataDir, &st); err != nil {
		return toErrno(err)
	}
	out.Blocks = st.Blocks
	out.Bfree = st.Bfree
	out.Bavail = st.Bavail
	out.Files = st.Files
	out.Ffree = st.Ffree
	out.Bsize = uint32(st.Bsize)
	out.Frsize = uint32(st.Frsize)
	out.NameLen = nameMax
	return 0
}

// bucketNode returns the directory of bucket b, whose subdirectories and
// marker (none: a bucket has no key of its own) n holds.
func (r *rootNode) bucketNode(ctx context.Context, b catalog.Bucket, n catalog.Name, out *fuse.EntryOut) *fs.Inode {
	if ch := r.GetChild(b.Name); ch != nil {
		if d, ok := ch.Operations().(*dirNode); ok && d.born.Equal(b.Created) {
			d.setName(n)
			d.fillEntry(out)
			return ch
		}
	}
	d := &dirNode{fsys: r.fsys, born: b.Created}
	d.setName(n)
	d.fillEntry(out)
	return r.NewInode(ctx, d, fs.StableAttr{Mode: syscall.S_IFDIR})
}

func (r *rootNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if len(name) > nameMax {
		return nil, syscall.ENAMETOOLONG
	}
	b, err := r.fsys.objs.Bucket(ctx, r.fsys.orgID, name)
	if err != nil {
		return nil, toErrno(err)
	}
	ns, err := r.fsys.objs.Names(ctx, r.fsys.orgID, name, "")
	if err != nil {
		return nil, toErrno(err)
	}
	return r.bucketNode(ctx, b, ns[0], out), 0
}

func (r *rootNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	bs, err := r.fsys.objs.ListBuckets(ctx, r.fsys.orgID)
	if err != nil {
		return nil, toErrno(err)
	}
	es := make([]fuse.DirEntry, 0, len(bs))
	for _, b := range bs {
		if !validName(b.Name) {
			continue
		}
		es = append(es, fuse.DirEntry{Name: b.Name, Mode: syscall.S_IFDIR})
	}
	return fs.NewListDirStream(es), 0
}

// Mkdir creates a bucket. Names S3 would refuse are EINVAL.
func (r *rootNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if err := catalog.ValidBucketName(name); err != nil {
		return nil, syscall.EINVAL
	}
	defer r.fsys.mine(name, "", false)()
	b, err := r.fsys.objs.CreateBucket(ctx, r.fsys.orgID, name)
	if err != nil {
		return nil, toErrno(err)
	}
	// Worded as the admin API words it (admin/server.go), so one query
	// finds every bucket an org gained, whichever door it came through.
	r.fsys.log.Info("bucket created", "org_id", r.fsys.orgID, "bucket", b.Name, "via", "mount")
	return r.bucketNode(ctx, b, catalog.Name{SubdirsKnown: true}, out), 0
}

// Rmdir removes an empty bucket (ENOTEMPTY otherwise).
func (r *rootNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	defer r.fsys.mine(name, "", false)()
	err := r.fsys.objs.DeleteBucket(ctx, r.fsys.orgID, name)
	if errors.Is(err, catalog.ErrBucketNotEmpty) {
		return syscall.ENOTEMPTY
	}
	if err == nil {
		r.fsys.log.Info("bucket deleted", "org_id", r.fsys.orgID, "bucket", name, "via", "mount")
	}
	return toErrno(err)
}

// Rename of a bucket is not an S3 operation.
func (r *rootNode) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return syscall.EXDEV
}

// Create: the root holds only buckets.
func (r *rootNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EPERM
}

// Fsync of the mount root makes bucket creations and removals durable (see
// dirNode.Fsync).
func (r *rootNode) Fsync(ctx context.Context, fh fs.FileHandle, flags uint32) syscall.Errno {
	return r.fsys.sync(ctx)
}
