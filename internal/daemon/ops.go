package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"excloud.dev/buckets/admin"
	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/catalog/kv/pgkv"
	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/internal/metrics"
	"excloud.dev/buckets/objects"
)

// gcLoop collects every interval until ctx ends; SetGCInterval changes the
// interval (0 or less pauses it) without a restart.
func (d *Daemon) gcLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	arm := func() {
		if interval > 0 {
			t.Reset(interval)
		}
	}
	arm()
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case interval = <-d.gcInterval:
			t.Stop()
			arm()
		case <-t.C:
			// Another node collecting now is no failure: the nodes of a
			// fleet take turns through the collector lease.
			if _, err := d.RunGC(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, catalog.ErrGCLeaseHeld) {
				d.log.Error("gc failed", "err", err)
			}
			arm()
		}
	}
}

// SetGCInterval changes how often the collector runs; 0 or less pauses it
// (e.g. while a chunk backup is copied). It takes effect at once.
func (d *Daemon) SetGCInterval(interval time.Duration) {
	for {
		select {
		case d.gcInterval <- interval:
			return
		default:
			// Replace a change the loop has not picked up yet.
			select {
			case <-d.gcInterval:
			default:
			}
		}
	}
}

// RunGC runs one collection now (serialised with the periodic one) and
// records it in the metrics.
func (d *Daemon) RunGC(ctx context.Context) (objects.GCStats, error) {
	d.gcMu.Lock()
	defer d.gcMu.Unlock()
	st, err := d.layer.GC(ctx)
	d.metrics.ObserveGC(st.Deleted, st.BytesFreed, err)
	d.recordGC(st, err)
	return st, err
}

// adminOps are the maintenance operations the admin API offers.
func (d *Daemon) adminOps() admin.Ops {
	return admin.Ops{
		GC: func(ctx context.Context) (admin.GCReport, error) {
			st, err := d.RunGC(ctx)
			return admin.GCReport{Scanned: st.Scanned, Deleted: st.Deleted, BytesFreed: st.BytesFreed, Deferred: st.Deferred}, err
		},
		Scrub: func(ctx context.Context) (admin.ScrubReport, error) {
			rep, err := d.layer.Scrub(ctx)
			d.recordScrub(rep, err)
			if err != nil {
				return admin.ScrubReport{}, err
			}
			out := admin.ScrubReport{Chunks: rep.Chunks, ChunkBytes: rep.ChunkBytes, Objects: rep.Objects,
				Parts: rep.Parts, Referenced: rep.ReferencedIDs, Bodies: rep.Bodies, BodyBytes: rep.BodyBytes,
				Corrupt: []admin.ChunkProblem{}, Missing: []admin.ChunkProblem{}, Mismatched: []admin.RefMismatch{}}
			for _, p := range rep.Corrupt {
				out.Corrupt = append(out.Corrupt, admin.ChunkProblem{Chunk: p.Chunk.String(), Error: p.Err})
			}
			for _, p := range rep.Missing {
				out.Missing = append(out.Missing, admin.ChunkProblem{Chunk: p.Chunk.String(), Ref: p.Ref})
			}
			for _, m := range rep.Mismatched {
				out.Mismatched = append(out.Mismatched, admin.RefMismatch{Chunk: m.Chunk.String(), Stored: m.Stored, Counted: m.Counted})
			}
			return out, nil
		},
		Backup: d.backup,
	}
}

// storeStats feeds the store gauges: catalog counts, a listing of the chunk
// files and the size of the catalog directory.
func (d *Daemon) storeStats(ctx context.Context) (metrics.StoreStats, error) {
	var st metrics.StoreStats
	cs, err := d.db.Stats(ctx)
	if err != nil {
		return st, err
	}
	for _, o := range cs.Orgs {
		st.Objects += o.Objects
		st.BytesStored += o.Bytes
	}
	if st.Chunks, st.ChunkBytes, err = d.chunkUsage(ctx); err != nil {
		return st, err
	}
	if d.shared != nil {
		return st, nil // the database's size is its server's to report
	}
	st.CatalogBytes, err = dirSize(filepath.Join(d.cfg.DataDir, "catalog"))
	return st, err
}

// chunkUsage counts the chunk files and their stored bytes (the bytes after
// dedup), a walk of the chunk directory: callers are an operator's command
// and the metrics gauges, which rescan at most once a minute.
func (d *Daemon) chunkUsage(ctx context.Context) (chunks, bytes int64, err error) {
	err = d.store.List(ctx, func(_ chunkstore.ID, size int64) error {
		chunks++
		bytes += size
		return nil
	})
	return chunks, bytes, err
}

func (d *Daemon) chunkCounters() metrics.ChunkCounters {
	s := d.store.Stats()
	return metrics.ChunkCounters{Written: s.ChunksWritten, Deduped: s.ChunksDeduped, Opened: s.ChunksOpened, CorruptReads: s.CorruptReads}
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n, err
}

// Restore creates the catalog of an empty data directory from a backup
// stream written by exc backup. The master key must already be in place
// (the one the backup's store was created with: chunk ids and the catalog
// key derive from it), and chunks are copied separately (docs/service.md,
// "Backup and restore"). No daemon may be running on dataDir.
func Restore(dataDir, keyFile string, r io.Reader, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	if err := checkDataDir(dataDir); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	keys, err := loadKeys(dataDir, keyFile, log, false)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	dir := filepath.Join(dataDir, "catalog")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := catalog.Restore(catalog.Options{Dir: dir, EncryptionKey: keys.Catalog[:], SyncWrites: true, Logger: log}, r); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}

// RestoreShared loads a backup stream written by exc backup (from either
// engine) into the catalog database at url, which must hold no catalog
// yet: a restore never merges (an error wrapping catalog.ErrNotEmpty, and
// nothing written). The values are sealed with the key derived from the
// master key of dataDir (or keyFile), which must be the one the backup's
// store was created with and the one every node of the fleet is given.
// The load is one transaction: a broken stream leaves the database empty.
// No node may be running on the database.
func RestoreShared(dataDir, keyFile, url string, r io.Reader, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	keys, err := loadKeys(dataDir, keyFile, log, false)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), connectBound)
	eng, err := pgkv.Open(ctx, url, pgkv.Options{Key: keys.CatalogPG[:], Logger: log, PruneEvery: -1})
	cancel()
	if err != nil {
		return fmt.Errorf("restore: open catalog on PostgreSQL: %w", err)
	}
	defer eng.Close()
	if err := catalog.RestoreEngine(context.Background(), eng, r); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}

// Check is a liveness probe for the systemd watchdog: a catalog read that
// returns promptly. A deadlocked or wedged catalog blocks it, the watchdog
// pings stop, and systemd restarts the service, which is the point.
func (d *Daemon) Check(ctx context.Context) error {
	if !d.ready.Load() {
		return fmt.Errorf("not serving")
	}
	_, err := d.db.ListOrgs(ctx)
	if errors.Is(err, catalog.ErrUnavailable) {
		// The database is away, not this process wedged: a restart would
		// not bring it back, and the daemon recovers by itself when it
		// returns (/readyz reports it meanwhile).
		return nil
	}
	return err
}

// backup is exc backup: one stream format whichever the catalog's engine
// (a catalog in PostgreSQL may also be backed up with pg_dump).
func (d *Daemon) backup(ctx context.Context, w io.Writer) error {
	return d.db.Backup(ctx, w)
}
