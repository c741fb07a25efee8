package fsmount

import (
	"context"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"

	"excloud.dev/buckets/objects"
)

// A file's size is at most objects.MaxFileSize (5 TiB, S3's limit on one
// object): a truncate, write or fallocate beyond it fails with EFBIG, and
// the file is unchanged. Growing a file costs nothing per byte: the new
// range is a hole, one zero-run extent (docs/format.md, "Manifest v2").

var _ fs.NodeAllocater = (*fileNode)(nil)

// truncateLocked sets the file's size, with n.mu held: in the node's write
// session if there is one (committed with its close), otherwise at once,
// through a session of its own, with meta (if not nil) stored with it.
// Under n.mu, no open can start a session from the version before it.
func (n *fileNode) truncateLocked(ctx context.Context, bucket, key string, size int64, meta map[string]string) syscall.Errno {
	if n.w != nil {
		if err := n.w.Truncate(ctx, size); err != nil {
			return toErrno(err)
		}
		if meta != nil {
			n.w.SetMeta(meta)
		}
		n.wmtime = time.Now()
		return 0
	}
	tw, err := n.fsys.objs.OpenWriter(ctx, n.fsys.orgID, bucket, key, size == 0)
	if err != nil {
		return toErrno(err)
	}
	defer tw.Close()
	if err := tw.Truncate(ctx, size); err != nil {
		return toErrno(err)
	}
	if meta != nil {
		tw.SetMeta(meta)
	}
	forgetListingOf(&n.Inode)
	done := n.fsys.mine(bucket, key, false)
	m, err := tw.Commit(lazy(ctx))
	done()
	if err != nil {
		return toErrno(err)
	}
	if m != nil {
		n.m = m
	}
	return 0
}

// fallocate(2) modes the kernel passes through (linux/falloc.h).
const fallocKeepSize = 0x01 // FALLOC_FL_KEEP_SIZE

// Allocate is fallocate(2). Mode 0 grows the file to off+size with a hole
// and KEEP_SIZE does nothing: a copy-on-write store cannot reserve space
// for later writes (each one writes new chunks), so none is reserved, as on
// other copy-on-write filesystems. Without it, posix_fallocate(3) would
// fall back to writing a byte into every 4 KiB block of the range.
// Punching holes and the other modes: EOPNOTSUPP.
func (n *fileNode) Allocate(ctx context.Context, fh fs.FileHandle, off, size uint64, mode uint32) syscall.Errno {
	h, _ := fh.(*handle)
	if h == nil || h.w == nil || !h.write {
		return syscall.EBADF
	}
	if mode&^fallocKeepSize != 0 {
		return syscall.EOPNOTSUPP
	}
	end := off + size
	if end < off || end > objects.MaxFileSize {
		return syscall.EFBIG
	}
	if mode&fallocKeepSize != 0 {
		return 0
	}
	if err := h.w.Grow(int64(end)); err != nil {
		return toErrno(err)
	}
	n.mu.Lock()
	n.wmtime = time.Now()
	n.mu.Unlock()
	return 0
}
