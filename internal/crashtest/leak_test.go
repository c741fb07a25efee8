package crashtest

import (
	"context"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"excloud.dev/buckets/admin"
	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/chunkstore/local"
	"excloud.dev/buckets/internal/excdtest"
	"excloud.dev/buckets/objects"
)

// collect runs the garbage collector and checks for space leaks. The
// collector deletes an unreferenced chunk at once, with no grace period:
// its safety comes from in-memory leases of writes in flight and a wait
// for reads in flight (objects/gc.go), and after a restart with the load
// stopped there are neither. So after one collection every chunk file on
// disk must be referenced by a manifest or an upload part, and every
// referenced chunk must be on disk and authentic.
//
// Before it, some multipart uploads left open are aborted (their parts
// become garbage) and the others left in progress (their parts must
// survive the collection). The last collection then stops the daemon and
// compares, in this process, the chunk files on disk with the catalog's
// reference counts and a scrub of its own.
func (h *harness) collect(cycle int, final bool) {
	t := h.t
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(h.seed, 1<<32|uint64(cycle)))
	for _, w := range h.s3w {
		for _, u := range append([]*upRec(nil), w.uploads...) {
			if len(u.parts) == 0 || rng.IntN(2) == 0 {
				if err := w.abort(ctx, u); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	ac := h.p.AdminClient()
	defer ac.Close()
	before, err := ac.Scrub(ctx)
	if err != nil {
		t.Fatalf("scrub before GC: %v", err)
	}
	checkScrub(t, "scrub before GC", before)
	orphans := before.Chunks - (before.Referenced - len(before.Missing))
	gc, err := ac.GC(ctx)
	if err != nil {
		t.Fatalf("GC: %v", err)
	}
	if gc.Deferred != 0 {
		t.Errorf("GC deferred %d chunks with no reader open", gc.Deferred)
	}
	after, err := ac.Scrub(ctx)
	if err != nil {
		t.Fatalf("scrub after GC: %v", err)
	}
	checkScrub(t, "scrub after GC", after)
	left := after.Chunks - after.Referenced
	if left != 0 {
		t.Errorf("space leak after GC: %d chunk files, %d referenced", after.Chunks, after.Referenced)
	}
	if gc.Deleted != orphans {
		t.Errorf("GC deleted %d chunks; the scrub before it counted %d unreferenced", gc.Deleted, orphans)
	}
	h.figures.add("gc-runs", 1)
	h.figures.add("orphans-before", int64(orphans))
	h.figures.add("gc-deleted", int64(gc.Deleted))
	h.figures.add("orphans-after", int64(left))
	t.Logf("collection after cycle %d: %d chunk files, %d unreferenced; GC deleted %d (%d bytes); after: %d files, %d referenced, %d objects, %d open parts",
		cycle, before.Chunks, orphans, gc.Deleted, gc.BytesFreed, after.Chunks, after.Referenced, after.Objects, after.Parts)
	if !final {
		return
	}
	if err := h.p.Stop(); err != nil {
		t.Errorf("SIGTERM: %v", err)
	}
	h.checkOffline(ctx)
}

func checkScrub(t interface{ Errorf(string, ...any) }, what string, r admin.ScrubReport) {
	if r.Damaged || len(r.Missing)+len(r.Corrupt)+len(r.Mismatched) > 0 {
		t.Errorf("%s: damaged: missing %v, corrupt %v, mismatched counts %v", what, r.Missing, r.Corrupt, r.Mismatched)
	}
}

// checkOffline opens the stopped daemon's catalog and chunk store in this
// process, with the master key from the data directory, and compares the
// chunk files on disk with the reference counts, then scrubs.
func (h *harness) checkOffline(ctx context.Context) {
	t := h.t
	keys := excdtest.Keys(t, h.data)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db := excdtest.OpenCatalog(t, h.data, log)
	defer db.Close()
	refs := map[chunkstore.ID]int64{}
	if err := db.ForEachRef(ctx, func(id chunkstore.ID, n int64) error {
		if !catalog.IsBodyID(id) { // a body is a catalog value, not a file
			refs[id] = n
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	files, err := chunkFiles(h.data)
	if err != nil {
		t.Fatal(err)
	}
	var orphans, missing int
	for id := range files {
		if refs[id] == 0 {
			orphans++
			t.Errorf("chunk %s is on disk and referenced by nothing: space leak", id)
		}
	}
	for id := range refs {
		if !files[id] {
			missing++
			t.Errorf("chunk %s is referenced %d times and not on disk", id, refs[id])
		}
	}
	backend, err := local.New(filepath.Join(h.data, "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	store, err := chunkstore.New(backend, keys)
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	rep, err := objects.New(db, store, log).Scrub(ctx)
	if err != nil {
		t.Fatalf("scrub in process: %v", err)
	}
	if rep.Damaged() {
		t.Errorf("scrub in process: missing %v, corrupt %v, mismatched %v", rep.Missing, rep.Corrupt, rep.Mismatched)
	}
	h.figures.add("final/chunk-files", int64(len(files)))
	h.figures.add("final/referenced", int64(len(refs)))
	h.figures.add("final/orphans", int64(orphans))
	h.figures.add("final/missing", int64(missing))
	h.figures.add("final/scrub-objects", int64(rep.Objects))
	h.figures.add("final/scrub-parts", int64(rep.Parts))
	t.Logf("offline check: %d chunk files, %d referenced, %d orphans, %d missing; scrub of %d objects, %d parts, %d chunk bytes in %v",
		len(files), len(refs), orphans, missing, rep.Objects, rep.Parts, rep.ChunkBytes, time.Since(begin).Round(time.Millisecond))
}

// chunkFiles lists the chunk files of a data directory by id.
func chunkFiles(dataDir string) (map[chunkstore.ID]bool, error) {
	files, err := excdtest.ChunkFiles(dataDir)
	if err != nil {
		return nil, err
	}
	out := make(map[chunkstore.ID]bool, len(files))
	for name := range files {
		var id chunkstore.ID
		hex.Decode(id[:], []byte(name)) // ChunkFiles checked the name
		out[id] = true
	}
	return out, nil
}
