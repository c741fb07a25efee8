package fsmount

import (
	"context"
	"math"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"

	"excloud.dev/buckets/catalog"
)

const (
	renameNoReplace = 1 // RENAME_NOREPLACE
)

// Rename moves a file (one catalog transaction, replacing the target like
// rename(2)) or a whole directory (every key under it, one transaction up
// to the rename bound; beyond it EXDEV, so mv copies instead). Renames across
// buckets are EXDEV too.
func (d *dirNode) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	// What the tree knows, taken before the mount's own change of the
	// names is recorded (forget).
	src := knownFile(d, name)
	np, ok := newParent.(*dirNode)
	dstMissing := ok && np.stillMissing(newName)
	d.forget(name)
	if ok {
		np.forget(newName)
	}
	if flags&^renameNoReplace != 0 {
		// RENAME_EXCHANGE, RENAME_WHITEOUT: the catalog renames one way.
		return syscall.EINVAL
	}
	if !ok {
		return syscall.EXDEV
	}
	bucket, prefix, errno := d.where()
	if errno != 0 {
		return errno
	}
	nbucket, nprefix, errno := np.where()
	if errno != 0 {
		return errno
	}
	if nbucket != bucket {
		return syscall.EXDEV
	}
	from, to := prefix+name, nprefix+newName
	if from == to {
		return 0
	}
	f := d.fsys

	// The names as the catalog has them, unless this mount knows: the
	// source a file and the target missing (the kernel looks a rename's
	// target up right before it), with no event in either directory since.
	var srcDir, dstDir, dstFile bool
	if src == nil || !dstMissing {
		ns, err := f.objs.Names(ctx, f.orgID, bucket, from, to)
		if err != nil {
			return toErrno(err)
		}
		srcDir, dstDir = ns[0].Dir, ns[1].Dir
		dstFile = !dstDir && ns[1].Object != nil
	}
	if errno := checkName(nprefix, newName, srcDir); errno != 0 {
		return errno
	}
	if flags&renameNoReplace != 0 && (dstDir || dstFile) {
		return syscall.EEXIST
	}

	if srcDir {
		if dstFile {
			return syscall.ENOTDIR
		}
		if dstDir {
			res, err := f.objs.List(ctx, f.orgID, bucket, catalog.ListOptions{Prefix: to + "/", MaxKeys: 2})
			if err != nil {
				return toErrno(err)
			}
			if len(res.Objects) > 1 || len(res.Objects) == 1 && res.Objects[0].Key != to+"/" {
				return syscall.ENOTEMPTY
			}
		}
		c := d.renameChange(np, bucket, prefix, nprefix, to+"/")
		done1 := f.mine(bucket, from+"/", true)
		done2 := f.mine(bucket, to+"/", true)
		_, err := f.objs.RenamePrefix(c.ctx(ctx), f.orgID, bucket, from+"/", to+"/", f.opts.RenameLimit)
		done1()
		done2()
		m := c.done(ctx, err == nil)
		if err != nil {
			return toErrno(err)
		}
		if prefix != nprefix {
			f.keepDir(ctx, d, bucket, prefix, from+"/")
		}
		d.renamed(name, m)
		d.addSubdirs(-1)
		np.addSubdirs(1)
		if dstDir { // the empty target directory it replaced
			np.addSubdirs(-1)
		}
		return 0
	}

	if dstDir {
		return syscall.EISDIR
	}
	// A file being written commits first, so the rename moves its bytes.
	if ch := d.GetChild(name); ch != nil {
		if fn, ok := ch.Operations().(*fileNode); ok {
			if errno := fn.commit(ctx); errno != 0 {
				return errno
			}
		}
	}
	c := d.renameChange(np, bucket, prefix, nprefix, to)
	done1 := f.mine(bucket, from, false)
	done2 := f.mine(bucket, to, false)
	err := f.objs.Rename(c.ctx(ctx), f.orgID, bucket, from, to)
	done1()
	done2()
	m := c.done(ctx, err == nil)
	if err != nil {
		return toErrno(err)
	}
	if prefix != nprefix { // within one directory, the new name keeps it
		f.keepDir(ctx, d, bucket, prefix, from)
	}
	// The node (still under its old name until go-fuse moves it) knew
	// the old directory's changes count, not the new one's.
	if ch := d.GetChild(name); ch != nil {
		if fn, ok := ch.Operations().(*fileNode); ok {
			fn.gen.Store(math.MaxUint64)
		}
	}
	d.renamed(name, m)
	return 0
}

// knownFile returns the file node of name in d if the mount knows it is
// a committed file and no feed event has come under d since it learned so:
// then it is still a file, not a directory.
func knownFile(d *dirNode, name string) *fileNode {
	ch := d.GetChild(name)
	if ch == nil {
		return nil
	}
	fn, ok := ch.Operations().(*fileNode)
	if !ok || !d.current(fn.gen.Load()) || !fn.hasManifest() {
		return nil
	}
	return fn
}

// renameChange is a rename's follow-ups, carried in its transaction: the
// moved file's or directory's ctime (on its object or marker, under its new
// key), and the entry changes of both directories.
func (d *dirNode) renameChange(np *dirNode, bucket, prefix, nprefix, key string) *entryChange {
	now := time.Now()
	c := d.fsys.entryChange(bucket)
	c.entry(key, now)
	c.dir(d, prefix, now)
	if nprefix != prefix {
		c.dir(np, nprefix, now)
	}
	return c
}

// renamed gives the renamed entry's node (still under its old name until
// go-fuse moves it) the manifest the rename stored, if any (none: a
// directory without marker).
func (d *dirNode) renamed(name string, m *catalog.Manifest) {
	if m == nil {
		return
	}
	if ch := d.GetChild(name); ch != nil {
		switch n := ch.Operations().(type) {
		case *fileNode:
			n.setManifest(m)
		case *dirNode:
			n.marker.Store(m)
		}
	}
}
