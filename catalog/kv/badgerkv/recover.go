package badgerkv

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// removeEmptyLogs deletes the value-log (.vlog) and memtable-log (.mem)
// files of length zero in the Badger directory dir, which only a crash
// leaves: Badger creates a value log and a memtable log at every open (and
// a memtable log whenever a memtable fills) and sizes each right after, and
// a file still empty holds no header and no entry. Badger v4.9.6 cannot
// open a directory holding one: its mmap helper reports the empty file as
// z.NewFile, which valueLog.open and openMemTables return as their error
// ("Open existing file: ... err: Create a new file", "while opening fid:
// N err: Create a new file"), so the daemon would not start again without
// manual repair.
//
// It runs under the same lock Badger takes (flock of the directory), and
// does nothing if another process holds it: Badger's own open then fails
// on the lock with the usual message.
func removeEmptyLogs(dir string, log *slog.Logger) error {
	d, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return nil
	}
	defer unix.Flock(int(d.Fd()), unix.LOCK_UN)
	ents, err := d.ReadDir(-1)
	if err != nil {
		return err
	}
	for _, e := range ents {
		ext := filepath.Ext(e.Name())
		if ext != ".vlog" && ext != ".mem" || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		if info.Size() != 0 {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("remove an empty log file left by a crash: %w", err)
		}
		log.Warn("catalog: removed an empty log file left by a crash", "file", p)
	}
	return nil
}
