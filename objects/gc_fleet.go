package objects

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/chunkstore"
)

// Collection across nodes (docs/design.md, "Garbage collection across
// nodes"). On a catalog several excd processes share, the pins of each
// process are invisible to the others, so a chunk goes through marks in
// the catalog before it is deleted:
//
//  1. condemned: unreferenced when the collector (the one node holding the
//     catalog's collector lease) looked. A commit referencing it clears
//     the mark; so does every node that pins it (its heartbeat scans the
//     marks);
//  2. doomed, once every registered node has acknowledged a scan that saw
//     it condemned (and the grace period passed): no commit may reference
//     it any more; the collector deletes it from the chunk store;
//  3. gone, once deleted; pruned once every node has acknowledged a scan
//     that saw it doomed or gone (a write on that node that had found the
//     chunk before it was deleted is then poisoned and will not commit).
//
// A node whose heartbeat stops is reaped after the node timeout, and the
// writes it began before may not commit any more (fencing): the
// acknowledgements it can no longer give do not hold collection back.

// fleetCatalog is what collection across nodes needs of the catalog
// (*catalog.DB on a shared engine).
type fleetCatalog interface {
	Fleet() bool
	WithFence(ctx context.Context) context.Context
	SetGCScanner(s catalog.GCScanner)
	GCBegin(ctx context.Context) (*catalog.GCLease, error)
	GCScan(ctx context.Context) error
	GCMarks(ctx context.Context) ([]catalog.GCMark, uint64, error)
	GCRound(ctx context.Context) (uint64, error)
	AwaitAcks(ctx context.Context, target uint64, bound time.Duration) (bool, error)
}

// gcGrace is how long a chunk stays condemned at least before it may be
// doomed. Safety does not rest on it (the acknowledgements do); it is a
// margin an operator may add. Hidden setting: EXC_GC_GRACE.
var gcGrace = envDuration("EXC_GC_GRACE", 0)

// gcMaxCondemn bounds the marks one collection adds.
const gcMaxCondemn = 100000

// gcAckWait bounds how long one collection waits for the other nodes to
// acknowledge its marks (about two heartbeats); what they have not
// acknowledged by then waits for the next collection.
var gcAckWait = envDuration("EXC_GC_ACK_WAIT", 10*time.Second)

func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			return d
		}
	}
	return def
}

// fleet returns the catalog's fleet interface if it is shared by several
// processes, nil otherwise.
func (l *Layer) fleet() fleetCatalog {
	if fc, ok := l.meta.(fleetCatalog); ok && fc.Fleet() {
		return fc
	}
	return nil
}

// fence returns ctx carrying this node's fencing token, for a write that
// begins now.
func (l *Layer) fence(ctx context.Context) context.Context {
	if fc := l.fleet(); fc != nil {
		return fc.WithFence(ctx)
	}
	return ctx
}

// commitGuard is taken by a write around its catalog commit: it fails if a
// chunk the write holds was lost to the collector since it was pinned,
// and otherwise holds a lookup until end, so that a node's scan does not
// acknowledge marks a commit in flight may not have seen.
func (l *Layer) commitGuard(leased []chunkstore.ID) (end func(), err error) {
	end = l.pins.Lookup()
	if l.pins.Poisoned(leased) {
		end()
		return nil, catalog.ErrChunkGone
	}
	return end, nil
}

// gcFleet is GC on a shared catalog.
func (l *Layer) gcFleet(ctx context.Context, fc fleetCatalog) (GCStats, error) {
	var st GCStats
	start := time.Now()
	lease, err := fc.GCBegin(ctx)
	if err != nil {
		return st, err
	}
	defer lease.Release(context.WithoutCancel(ctx))
	defer lease.Keep(ctx)()

	sizes := make(map[chunkstore.ID]int64)
	var cands []chunkstore.ID
	err = l.chunks.List(ctx, func(id chunkstore.ID, size int64) error {
		st.Scanned++
		n, err := l.meta.RefCount(ctx, id)
		if err != nil {
			return err
		}
		if n == 0 {
			sizes[id] = size
			cands = append(cands, id)
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("objects: gc: %w", err)
	}
	if len(cands) > gcMaxCondemn {
		// Every node reads every mark at each heartbeat: a huge delete is
		// collected over several rounds rather than in one.
		cands = cands[:gcMaxCondemn]
	}
	if _, err := lease.Condemn(ctx, cands); err != nil {
		return st, fmt.Errorf("objects: gc: %w", err)
	}
	if err := l.awaitScans(ctx, fc); err != nil {
		return st, err
	}
	marks, _, err := fc.GCMarks(ctx)
	if err != nil {
		return st, fmt.Errorf("objects: gc: %w", err)
	}
	if _, err := lease.Doom(ctx, marks, gcGrace); err != nil {
		return st, fmt.Errorf("objects: gc: %w", err)
	}
	// Every doomed mark, this round's and any a collector left behind
	// (it died between doom and delete).
	if marks, _, err = fc.GCMarks(ctx); err != nil {
		return st, fmt.Errorf("objects: gc: %w", err)
	}
	var deleted []catalog.GCMark
	freed := make(map[chunkstore.ID]bool)
	for _, m := range marks {
		if m.State != catalog.MarkDoomed {
			continue
		}
		err := l.chunks.Delete(ctx, m.Chunk)
		switch {
		case err == nil:
			st.Deleted++
			st.BytesFreed += sizes[m.Chunk]
			freed[m.Chunk] = true
		case errors.Is(err, fs.ErrNotExist):
		default:
			return st, fmt.Errorf("objects: gc: chunk %s: %w", m.Chunk, err)
		}
		deleted = append(deleted, m)
	}
	if err := lease.Gone(ctx, deleted); err != nil {
		return st, fmt.Errorf("objects: gc: %w", err)
	}
	if err := lease.Bump(ctx); err != nil {
		return st, fmt.Errorf("objects: gc: %w", err)
	}
	if err := l.awaitScans(ctx, fc); err != nil {
		return st, err
	}
	if marks, _, err = fc.GCMarks(ctx); err != nil {
		return st, fmt.Errorf("objects: gc: %w", err)
	}
	if _, err := lease.Prune(ctx, marks); err != nil {
		return st, fmt.Errorf("objects: gc: %w", err)
	}
	// Deferred: what was unreferenced when listed and is still there
	// (pinned by a reader or a write on some node, or not yet seen by
	// every node).
	for _, id := range cands {
		if !freed[id] {
			st.Deferred++
		}
	}
	if st.Deleted > 0 {
		l.log.Info("gc", "scanned", st.Scanned, "deleted", st.Deleted, "bytes_freed", st.BytesFreed, "deferred", st.Deferred)
	}
	l.gcDone(st, start, "")
	return st, nil
}

// awaitScans has this node scan the marks now, then waits (boundedly) for
// the other nodes' heartbeats to acknowledge the current round.
func (l *Layer) awaitScans(ctx context.Context, fc fleetCatalog) error {
	target, err := fc.GCRound(ctx)
	if err != nil {
		return fmt.Errorf("objects: gc: %w", err)
	}
	if err := fc.GCScan(ctx); err != nil {
		return fmt.Errorf("objects: gc: this node's scan: %w", err)
	}
	if _, err := fc.AwaitAcks(ctx, target, gcAckWait); err != nil {
		return fmt.Errorf("objects: gc: %w", err)
	}
	return nil
}
