package catalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"excloud.dev/buckets/catalog/kv"
)

// Backup writes a full backup of the catalog to w: a Badger backup stream,
// whichever the engine (kv.Dumper; docs/design.md, "Backup and restore"),
// so it restores with Restore or RestoreEngine onto either. It reads one
// consistent snapshot, so writers keep going while it runs. The stream holds keys and values in the clear: it
// contains access key secrets and must be kept like the master key.
//
// Cancelling ctx stops the stream.
func (db *DB) Backup(ctx context.Context, w io.Writer) error {
	if err := db.enter(); err != nil {
		return fmt.Errorf("catalog: backup: %w", err)
	}
	defer db.leave()
	d, ok := db.eng.(kv.Dumper)
	if !ok {
		return errors.New("catalog: backup: this catalog engine has no backup stream; back up its database instead")
	}
	if err := d.Backup(ctx, w); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("catalog: backup: %w", ctx.Err())
		}
		return fmt.Errorf("catalog: backup: %w", err)
	}
	return nil
}

// ErrNotEmpty is returned by Restore when the target directory already holds
// files: a restore never merges into or overwrites a catalog.
var ErrNotEmpty = errors.New("catalog directory is not empty")

// Restore creates a catalog in opts.Dir, which must be missing or empty,
// from a stream written by Backup, and closes it again. A load that fails
// (a stream cut short or corrupt) leaves the directory empty again. The restored catalog
// is encrypted with opts.EncryptionKey; it is reopened once at the end so a
// stream of another format version fails here rather than at the next start.
func Restore(opts Options, r io.Reader) error {
	ents, err := os.ReadDir(opts.Dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("catalog: restore into %s: %w", opts.Dir, err)
	}
	if len(ents) > 0 {
		return fmt.Errorf("catalog: restore into %s: %w", opts.Dir, ErrNotEmpty)
	}
	// Open writes the format key into the new, empty catalog; the stream
	// carries its own copy, which the load overwrites it with.
	db, err := Open(opts)
	if err != nil {
		return fmt.Errorf("catalog: restore: %w", err)
	}
	loadErr := db.eng.(kv.Dumper).Load(context.Background(), r)
	closeErr := db.Close()
	if loadErr != nil {
		// The directory was empty: what the failed load wrote goes, so it
		// is empty again and a restore of a whole stream can follow.
		if err := clearDir(opts.Dir); err != nil {
			db.log.Error("catalog: restore: removing what a failed load wrote", "dir", opts.Dir, "err", err)
		}
		if errors.Is(loadErr, io.ErrUnexpectedEOF) {
			// Badger's loader reads the stream; a short read is the file
			// cut short, not the catalog's storage away.
			return fmt.Errorf("catalog: restore into %s: not a catalog backup stream, or a truncated one: %v", opts.Dir, loadErr)
		}
		return fmt.Errorf("catalog: restore into %s: %w", opts.Dir, storageErr(loadErr))
	}
	if closeErr != nil {
		return fmt.Errorf("catalog: restore: %w", closeErr)
	}
	db, err = Open(opts)
	if err != nil {
		return fmt.Errorf("catalog: restore: reopening the restored catalog: %w", err)
	}
	return db.Close()
}

// clearDir removes everything in dir, keeping dir.
func clearDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// RestoreEngine loads a stream written by Backup into eng, an open engine
// that must hold no catalog (an error wrapping ErrNotEmpty otherwise, and
// nothing is written), then checks the restored format version key. It
// does not close eng. The PostgreSQL engine loads in one transaction: a
// stream that is cut short or corrupt fails and leaves the database empty.
func RestoreEngine(ctx context.Context, eng kv.Engine, r io.Reader) error {
	d, ok := eng.(kv.Dumper)
	if !ok {
		return errors.New("catalog: restore: this catalog engine cannot load a backup stream")
	}
	if err := d.Load(ctx, r); err != nil {
		if errors.Is(err, kv.ErrNotEmpty) {
			return fmt.Errorf("catalog: restore: %w (%w)", ErrNotEmpty, err)
		}
		if kv.Unavailable(err) {
			return fmt.Errorf("catalog: restore: %w", storageErr(err))
		}
		return fmt.Errorf("catalog: restore: %w", err)
	}
	db := &DB{eng: eng, log: slog.Default()}
	err := db.view(ctx, func(txn kv.Reader) error {
		v, err := getValue(txn, keyFormat)
		if err != nil {
			return fmt.Errorf("the restored catalog's format version key: %w", err)
		}
		return checkVersion(v)
	})
	if err != nil {
		return fmt.Errorf("catalog: restore: %w", err)
	}
	return nil
}
