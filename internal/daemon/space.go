package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

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
// not fatal: the daemon then runs without the safety margin.
func (d *Daemon) holdReserve() {
	size := reserveSize(d.cfg.MinFree)
	if size <= 0 {
		return
	}
	path := filepath.Join(d.cfg.DataDir, reserveName)
	if fi, err := os.Stat(path); err == nil && fi.Size() >= size {
		return
	}
	err := allocate(path, size)
	if err != nil {
		os.Remove(path)
		d.log.Warn("could not set aside disk space for the catalog's last flush; a full disk may crash excd at shutdown",
			"path", path, "bytes", size, "err", err)
	}
}

func allocate(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	err = unix.Fallocate(int(f.Fd()), 0, 0, size)
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
