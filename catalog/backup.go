package catalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"excloud.dev/buckets/catalog/kv"
)

// Backup writes a full backup of the catalog to w in the engine's stream
// format (the Badger engine's: a Badger backup stream; docs/design.md,
// "Backup and restore"). It reads one consistent snapshot, so writers keep
// going while it runs. The stream holds keys and values in the clear: it
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
// from a stream written by Backup, and closes it again. The restored catalog
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
