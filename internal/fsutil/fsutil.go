// Package fsutil holds the small file-system steps that durability rests on
// and that more than one package needs.
package fsutil

import (
	"os"
	"syscall"
)

// SyncDir makes a directory's entries (a file created, linked or renamed
// in it) durable: after a crash the name is there or was never made.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Available is the number of bytes an unprivileged writer can still put on
// the filesystem holding path (statfs f_bavail).
func Available(path string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * st.Bsize, nil
}
