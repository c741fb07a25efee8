package fsmount

import (
	"context"
	"errors"
	"io/fs"
	"syscall"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/objects"
)

// toErrno maps the errors of the layers below to the errno a FUSE reply
// carries. Unknown errors are EIO: the caller cannot act on them, and EIO is
// what a failing disk would give.
func toErrno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var errno syscall.Errno
	switch {
	case errors.Is(err, catalog.ErrNotFound), errors.Is(err, catalog.ErrNoSuchBucket),
		errors.Is(err, fs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, catalog.ErrBucketNotEmpty):
		return syscall.ENOTEMPTY
	case errors.Is(err, catalog.ErrBucketExists):
		return syscall.EEXIST
	case errors.Is(err, catalog.ErrRenameTooLarge):
		// mv(1) falls back to copying and deleting file by file.
		return syscall.EXDEV
	case errors.Is(err, catalog.ErrPreconditionFailed):
		// Replaced concurrently; the caller may retry.
		return syscall.EAGAIN
	case errors.Is(err, catalog.ErrBusy):
		// Lost to concurrent writers more often than the catalog retries:
		// nothing was changed and trying again may succeed, as with a
		// replacement above (S3 answers SlowDown). Not EIO: no data is in
		// trouble. (An unreachable database stays EIO below: a retry soon
		// is no likelier to succeed, docs/scale-out.md.)
		return syscall.EAGAIN
	case errors.Is(err, objects.ErrFileTooLarge):
		return syscall.EFBIG
	case errors.Is(err, objects.ErrMetadataTooLarge):
		// No room left for the attributes (setxattr(2) says ENOSPC when the
		// others leave none); setxattr itself answers E2BIG for a value that
		// alone is over the limit before it gets here.
		return syscall.ENOSPC
	case errors.Is(err, catalog.ErrClosed), errors.Is(err, objects.ErrWriterClosed):
		return syscall.EIO
	case errors.Is(err, chunkstore.ErrCorrupt):
		return syscall.EIO
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return syscall.EINTR
	case errors.As(err, &errno):
		// ENOSPC, EIO, EDQUOT, EROFS … from the chunk store or Badger.
		return errno
	}
	return syscall.EIO
}
