package daemon

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// dirClaim is a start's hold on its data directory: an exclusive flock on
// the directory, taken before anything is written in it, and what this
// start must undo if it fails. A failed first start (a mount point that
// is missing, a socket path taken, a disk full while writing the catalog)
// leaves no half-made data directory behind: the operator fixes the cause
// and starts again from nothing, rather than finding a master key and a
// catalog with no access key to use them with.
//
// Only what this start made is undone: the directory itself when its Mkdir
// made it (and the parents it made, when they are empty again), or the
// entries of a directory that was empty when the flock was taken (systemd's
// StateDirectory= makes the directory before excd runs). A directory with
// anything in it is never touched, and nothing is undone without the flock:
// another excd starting on the same fresh directory holds it.
type dirClaim struct {
	dir     string
	f       *os.File // holds the flock; closing it releases
	created bool     // this start's Mkdir made dir
	parents []string // directories made above dir, deepest first
	fresh   bool     // dir existed, and was empty under the flock
}

// claimDataDir creates the data directory if needed and flocks it.
func claimDataDir(dir string) (*dirClaim, error) {
	c := &dirClaim{dir: dir}
	parent := filepath.Dir(filepath.Clean(dir))
	for p := parent; ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			break
		}
		c.parents = append(c.parents, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	switch err := os.Mkdir(dir, 0o700); {
	case err == nil:
		c.created = true
	case errors.Is(err, fs.ErrExist):
	default:
		c.removeParents()
		return nil, fmt.Errorf("data directory: %w", err)
	}
	f, err := os.Open(dir)
	if err == nil {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case errors.Is(err, unix.ENOLCK), errors.Is(err, unix.EOPNOTSUPP):
			// A filesystem without flock (some NFS set-ups): start as
			// before, unlocked, and undo nothing on failure. Badger's
			// own lock still keeps a second excd out of the catalog.
			f.Close()
			return &dirClaim{dir: dir}, nil
		case errors.Is(err, unix.EWOULDBLOCK):
			err = errors.New("in use by another excd")
		}
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		// Without the flock nothing is ours to undo: another start may
		// be making this directory right now.
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	c.f = f
	if !c.created {
		ents, err := f.ReadDir(1) // io.EOF when empty
		c.fresh = len(ents) == 0 && errors.Is(err, io.EOF)
	}
	return c, nil
}

// release drops the flock (at the end of a shutdown).
func (c *dirClaim) release() {
	if c != nil && c.f != nil {
		c.f.Close()
		c.f = nil
	}
}

// undo removes what a failed start made, then drops the flock. The daemon
// must be closed first: nothing may still write in the directory.
func (c *dirClaim) undo(log *slog.Logger) {
	if c == nil || c.f == nil {
		return
	}
	defer c.release()
	switch {
	case c.created:
		if err := os.RemoveAll(c.dir); err != nil {
			log.Warn("failed start: could not remove the data directory it created", "data_dir", c.dir, "err", err)
			return
		}
		c.removeParents()
		log.Info("failed start: removed the data directory it created", "data_dir", c.dir)
	case c.fresh:
		ents, err := os.ReadDir(c.dir)
		if err == nil {
			for _, e := range ents {
				if rerr := os.RemoveAll(filepath.Join(c.dir, e.Name())); rerr != nil {
					err = rerr
				}
			}
		}
		if err != nil {
			log.Warn("failed start: could not empty the data directory it filled", "data_dir", c.dir, "err", err)
			return
		}
		log.Info("failed start: emptied the data directory, as it was before", "data_dir", c.dir)
	}
}

// removeParents removes the parents claimDataDir made, while empty.
func (c *dirClaim) removeParents() {
	for _, p := range c.parents {
		if os.Remove(p) != nil {
			return
		}
	}
}
