package objects

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"excloud.dev/buckets/chunkstore"
)

// GCStats reports one collection.
type GCStats struct {
	Scanned    int   // chunk files looked at
	Deleted    int   // chunk files removed
	BytesFreed int64 // their stored size
	Deferred   int   // unreferenced chunks kept because a reader was still open
}

// readerWait bounds how long a collection waits for reads that began before
// it; chunks such reads might need are left for the next collection.
const readerWait = 30 * time.Second

// GC deletes every chunk file that no committed manifest or multipart part
// references. It cannot free a chunk of a write in flight: writers lease a
// chunk before they look for it or write it, and hold the lease until their
// commit has counted it. It cannot free a chunk under a read in flight
// either: it waits for every reader registered before the candidates were
// chosen (such a reader may hold an older manifest) before it deletes.
func (l *Layer) GC(ctx context.Context) (GCStats, error) {
	var st GCStats
	type cand struct {
		id   chunkstore.ID
		size int64
	}
	var cands []cand
	err := l.chunks.List(ctx, func(id chunkstore.ID, size int64) error {
		st.Scanned++
		if l.guard.leased(id) {
			return nil
		}
		n, err := l.meta.RefCount(ctx, id)
		if err != nil {
			return err
		}
		if n == 0 {
			cands = append(cands, cand{id, size})
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("objects: gc: %w", err)
	}
	if len(cands) == 0 {
		return st, nil
	}
	if !l.guard.waitReaders(ctx, readerWait) {
		st.Deferred = len(cands)
		return st, ctx.Err()
	}
	for _, c := range cands {
		freed, err := l.collect(ctx, c.id)
		if err != nil {
			return st, fmt.Errorf("objects: gc: chunk %s: %w", c.id, err)
		}
		if freed {
			st.Deleted++
			st.BytesFreed += c.size
		}
	}
	if st.Deleted > 0 {
		l.log.Info("gc", "scanned", st.Scanned, "deleted", st.Deleted, "bytes_freed", st.BytesFreed)
	}
	return st, nil
}

// collect deletes one candidate if it is still unleased and unreferenced.
// It holds the guard's lock throughout, so no writer can lease the chunk
// (and then find it present and skip writing it) between the check and the
// delete.
func (l *Layer) collect(ctx context.Context, id chunkstore.ID) (bool, error) {
	l.guard.mu.Lock()
	defer l.guard.mu.Unlock()
	if l.guard.leases[id] > 0 {
		return false, nil
	}
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
			if _, err := l.GC(ctx); err != nil && ctx.Err() == nil {
				l.log.Error("gc failed", "err", err)
			}
		}
	}
}

func (g *guard) leased(id chunkstore.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.leases[id] > 0
}

// waitReaders waits until every reader registered before the call has
// finished, or until timeout or ctx ends (then it reports false).
func (g *guard) waitReaders(ctx context.Context, timeout time.Duration) bool {
	wake := func() {
		g.mu.Lock()
		g.changed.Broadcast()
		g.mu.Unlock()
	}
	t := time.AfterFunc(timeout, wake)
	defer t.Stop()
	stop := context.AfterFunc(ctx, wake)
	defer stop()
	deadline := time.Now().Add(timeout)

	g.mu.Lock()
	defer g.mu.Unlock()
	snap := g.readSeq
	for {
		old := false
		for seq := range g.readers {
			if seq <= snap {
				old = true
				break
			}
		}
		if !old {
			return true
		}
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			return false
		}
		g.changed.Wait()
	}
}
