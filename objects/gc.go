package objects

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/chunkstore"
)

// GCStats reports one collection.
type GCStats struct {
	Scanned    int   // chunk files looked at
	Deleted    int   // chunk files removed
	BytesFreed int64 // their stored size
	// Deferred counts unreferenced chunks kept for a later collection:
	// pinned by an open reader or a write session, or, if lookups in flight
	// outlasted lookupWait, every candidate of the round.
	Deferred int
}

// errLookupWait: lookups in flight outlasted lookupWait.
var errLookupWait = errors.New("lookups in flight outlasted the wait")

// GC deletes every chunk file that no committed manifest or multipart part
// references and that nothing holds through the layer's Pins: writers lease
// a chunk before they look for it or write it and hold the lease until their
// commit has counted it; readers pin the chunks of the manifest they opened
// until they close it. A reader held open for hours therefore keeps its own
// chunks and holds back nothing else.
//
// The one window pins cannot cover is between a reader's manifest lookup
// and its pins; readers announce it (Pins.Lookup), and a collection waits,
// after choosing candidates, for the lookups that began before (Settle). A
// lookup is catalog work, not paced by any client.
func (l *Layer) GC(ctx context.Context) (GCStats, error) {
	var st GCStats
	if fc := l.fleet(); fc != nil {
		return l.gcFleet(ctx, fc)
	}
	start := time.Now()
	debug := l.log.Enabled(ctx, slog.LevelDebug)
	type cand struct {
		id   chunkstore.ID
		size int64
	}
	var cands []cand
	sw := l.pins.BeginSweep()
	defer sw.End()
	err := l.chunks.List(ctx, func(id chunkstore.ID, size int64) error {
		st.Scanned++
		n, err := l.meta.RefCount(ctx, id)
		if err != nil {
			return err
		}
		switch {
		case n != 0:
		case sw.Spared(id):
			st.Deferred++
			if debug {
				l.log.Debug("gc: chunk deferred: pinned by an open reader or a write in progress", "chunk", id.String(), "size", size)
			}
		default:
			cands = append(cands, cand{id, size})
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("objects: gc: %w", err)
	}
	if len(cands) == 0 {
		l.gcDone(st, start, "no unreferenced chunks")
		return st, nil
	}
	if err := sw.Settle(ctx); err != nil {
		st.Deferred += len(cands)
		if errors.Is(err, errLookupWait) {
			l.log.Warn("gc deferred: catalog lookups in flight did not finish", "wait", lookupWait, "chunks", len(cands))
			return st, nil
		}
		return st, fmt.Errorf("objects: gc: %w", err)
	}
	for _, c := range cands {
		checked := false
		freed, err := sw.Free(c.id, func() (bool, error) {
			checked = true
			return l.collect(ctx, c.id)
		})
		if err != nil {
			return st, fmt.Errorf("objects: gc: chunk %s: %w", c.id, err)
		}
		switch {
		case freed:
			st.Deleted++
			st.BytesFreed += c.size
			if debug {
				l.log.Debug("gc: chunk freed: no manifest or part refers to it", "chunk", c.id.String(), "size", c.size)
			}
		case !checked:
			st.Deferred++
			if debug {
				l.log.Debug("gc: chunk deferred: pinned since it was chosen", "chunk", c.id.String(), "size", c.size)
			}
		case debug:
			// collect found it referenced again (a write deduplicated
			// against it) or already gone.
			l.log.Debug("gc: chunk kept: referenced again, or already gone", "chunk", c.id.String(), "size", c.size)
		}
	}
	if st.Deleted > 0 {
		l.log.Info("gc", "scanned", st.Scanned, "deleted", st.Deleted, "bytes_freed", st.BytesFreed, "deferred", st.Deferred)
	}
	l.gcDone(st, start, "")
	return st, nil
}

// ErrNodesLive was returned while collection refused to run with several
// nodes live. Collection across nodes (gc_fleet.go) replaced the refusal;
// callers that still test for it find it never.
var ErrNodesLive = errors.New("other excd nodes are live on this catalog")

// gcDone logs every collection at debug level, those that freed nothing
// included (info has only those that did), with why it stopped early.
func (l *Layer) gcDone(st GCStats, start time.Time, why string) {
	attrs := []any{"scanned", st.Scanned, "deleted", st.Deleted, "bytes_freed", st.BytesFreed, "deferred", st.Deferred, "duration", time.Since(start)}
	if why != "" {
		attrs = append(attrs, "reason", why)
	}
	l.log.Debug("gc run", attrs...)
}

// collect deletes one candidate if it is still unreferenced. Free calls it
// under the pins' lock, so no writer can lease the chunk (and then find it
// present and skip writing it) between the check and the delete.
func (l *Layer) collect(ctx context.Context, id chunkstore.ID) (bool, error) {
	n, err := l.meta.RefCount(ctx, id)
	if err != nil || n != 0 {
		return false, err
	}
	if err := l.chunks.Delete(ctx, id); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// RunGC collects every interval until ctx ends.
func (l *Layer) RunGC(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := l.GC(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, catalog.ErrGCLeaseHeld) {
				l.log.Error("gc failed", "err", err)
			}
		}
	}
}
