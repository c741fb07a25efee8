package daemon

import (
	"path/filepath"

	"excloud.dev/buckets/internal/fsutil"
)

// checkDataDir refuses a data directory that another user could have
// prepared or could still change: the directory itself and the directories
// in it that excd opens must belong to the user excd runs as (or root), and
// no one else may write them (docs/service.md, "Data-directory checks").
// Otherwise a user who made the directory, or could write it once, might
// have left a symlink where excd writes (the credentials, the reserve file)
// or a master key of their own. The files excd opens in it are checked
// where they are opened: the master key by chunkstore, the reserve file by
// holdReserve, the credentials file is created O_EXCL|O_NOFOLLOW.
func checkDataDir(dir string) error {
	for _, d := range []struct{ what, path string }{
		{"data directory", dir},
		{"catalog directory", filepath.Join(dir, "catalog")},
		{"chunk directory", filepath.Join(dir, "chunks")},
		{"chunk directory", filepath.Join(dir, "chunks", "tmp")},
	} {
		if err := fsutil.CheckDir(d.what, d.path); err != nil {
			return err
		}
	}
	return nil
}
