package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"excloud.dev/buckets/internal/fsutil"
)

// reserveName is the file in the data directory that holds space for the
// catalog's last flush (docs/format.md, "Data directory").
const reserveName = "reserve"

// reserveSize is how much the reserve file holds: a quarter of MinFree,
// at least a full memtable (32 MiB) at the default.
func reserveSize(minFree int64) int64 { return minFree / 4 }

// holdReserve allocates the reserve file unless it exists. Badger writes
// through mmap'd files: if the disk is full when it flushes its memtable at
// close, the process dies of SIGBUS. The catalog refuses writes below
// MinFree (catalog.Options.MinFree), but another program can still take
// the last byte; releaseReserve then hands this space back to Badger. The
// blocks are really allocated (fallocate), not a sparse file. Failing to
// allocate them (a full disk, a filesystem without fallocate) is logged,
// not fatal: the daemon then runs without the safety margin. What is fatal
// is a reserve that is not ours: a symlink (extending it would extend
// whatever file it names) or a file another user owns.
func (d *Daemon) holdReserve() error {
	size := reserveSize(d.cfg.MinFree)
	if size <= 0 {
		return nil
	}
	path := filepath.Join(d.cfg.DataDir, reserveName)
	f, err := openReserve(path)
	if errors.Is(err, fsutil.ErrUntrusted) {
		return err
	}
	var fi os.FileInfo
	if err == nil {
		if fi, err = f.Stat(); err == nil && fi.Size() >= size {
			return f.Close()
		}
		if err == nil {
			err = allocate(f, size)
		} else {
			f.Close()
		}
	}
	if err != nil {
		os.Remove(path)
		d.log.Warn("could not set aside disk space for the catalog's last flush; a full disk may crash excd at shutdown",
			"path", path, "bytes", size, "err", err)
	}
	return nil
}

// openReserve opens the reserve file, creating it if missing, without
// following a symlink, and checks that it is a regular file of ours.
func openReserve(path string) (*os.File, error) {
	// O_NONBLOCK: opening a FIFO for writing would otherwise wait for a
	// reader; on a regular file it changes nothing.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return nil, &fsutil.UntrustedError{What: "reserve file", Path: path, Reason: "it is a symlink; excd never follows one in its data directory (delete it)"}
	}
	if err != nil {
		return nil, fmt.Errorf("reserve file: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = &fsutil.UntrustedError{What: "reserve file", Path: path, Reason: "it is not a regular file"}
	}
	if err == nil {
		err = fsutil.CheckTrusted("reserve file", path, fi)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func allocate(f *os.File, size int64) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("allocate %d bytes: %w", size, err)
	}
	return nil
}

// releaseReserve deletes the reserve file when the disk has less free
// space than it holds, right before the catalog closes (and flushes). The
// next start allocates it again if there is room.
func (d *Daemon) releaseReserve() {
	size := reserveSize(d.cfg.MinFree)
	if size <= 0 {
		return
	}
	avail, err := fsutil.Available(d.cfg.DataDir)
	if err == nil && avail >= size {
		return
	}
	path := filepath.Join(d.cfg.DataDir, reserveName)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		d.log.Error("disk full: could not release the reserve file", "path", path, "err", err)
		return
	}
	d.log.Warn("disk nearly full: released the reserve file so the catalog can close cleanly; free space before the next start",
		"path", path, "available_bytes", avail)
}
