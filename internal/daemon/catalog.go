package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/catalog/kv"
	"excloud.dev/buckets/catalog/kv/pgkv"
	"excloud.dev/buckets/chunkstore"
)

// connectBound bounds the first connection to the catalog's database at
// start: a server that does not answer stops the start with a message
// rather than hanging it (systemd would time the start out anyway).
const connectBound = time.Minute

// openCatalog opens the catalog where Config.Catalog says: a Badger
// directory in the data directory, or a PostgreSQL database shared with
// other nodes. On PostgreSQL the values are sealed with a key derived from
// the master key, so every node given the same master key reads the same
// catalog, and a node given another one fails here, at its first read (the
// format version key), instead of serving garbage.
func openCatalog(cfg Config, keys chunkstore.Keys, log *slog.Logger) (*catalog.DB, kv.Engine, error) {
	if cfg.Catalog == "" {
		db, err := catalog.Open(catalog.Options{
			Dir:           filepath.Join(cfg.DataDir, "catalog"),
			EncryptionKey: keys.Catalog[:],
			SyncWrites:    true,
			Logger:        log,
			MinFree:       cfg.MinFree,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("open catalog: %w", err)
		}
		return db, nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), connectBound)
	defer cancel()
	eng, err := pgkv.Open(ctx, cfg.Catalog, pgkv.Options{Key: keys.CatalogPG[:], Logger: log})
	if err != nil {
		return nil, nil, fmt.Errorf("open catalog on PostgreSQL: %w", err)
	}
	db, err := catalog.OpenEngine(eng, log) // closes eng when it fails
	if err != nil {
		if kv.Unavailable(err) || errors.Is(err, catalog.ErrUnavailable) {
			return nil, nil, fmt.Errorf("open catalog on PostgreSQL: %w", err)
		}
		if errors.Is(err, catalog.ErrFormat) {
			return nil, nil, fmt.Errorf("open catalog on PostgreSQL: %w", err)
		}
		return nil, nil, fmt.Errorf("open catalog on PostgreSQL: %w (is this node's master key the one the other nodes have?)", err)
	}
	return db, eng, nil
}

// catalogReachable is /readyz's check of a shared catalog: one read of the
// format key, bounded, so a load balancer takes the node out while its
// database cannot be reached and puts it back when it can.
func (d *Daemon) catalogReachable() error {
	if d.shared == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyBound)
	defer cancel()
	err := d.shared.View(ctx, func(r kv.Reader) error {
		_, err := r.Get([]byte("\x00format")) // the format key: the read is the probe
		if errors.Is(err, kv.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("catalog database unreachable: %w", err)
	}
	return nil
}

// readyBound bounds /readyz's catalog read.
const readyBound = 2 * time.Second
