package objects_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/catalog/kv/pgkv"
	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/chunkstore/local"
	"excloud.dev/buckets/internal/pgtest"
	"excloud.dev/buckets/objects"
)

func pgCatalog(t *testing.T, url string) *catalog.DB {
	t.Helper()
	e, err := pgkv.Open(context.Background(), url, pgkv.Options{Key: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	db, err := catalog.OpenEngine(e, nil)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// fleetNode is one excd's catalog and object layer; the nodes of a fleet
// share the PostgreSQL database and the chunk store.
type fleetNode struct {
	db *catalog.DB
	l  *objects.Layer
}

type fleet struct {
	a, b  fleetNode
	store *chunkstore.Store
	org   string
}

// newFleet opens two nodes with fast heartbeats (so that collections need
// not wait seconds for the other node's acknowledgement).
func newFleet(t *testing.T) *fleet {
	t.Helper()
	hb, ttl := catalog.NodeTiming()
	catalog.SetNodeTiming(50*time.Millisecond, time.Minute)
	t.Cleanup(func() { catalog.SetNodeTiming(hb, ttl) })
	url := pgtest.DB(t)
	keys, err := chunkstore.DeriveKeys(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	back, err := local.New(filepath.Join(t.TempDir(), "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fleet{}
	if f.store, err = chunkstore.New(back, keys); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*fleetNode{&f.a, &f.b} {
		n.db = pgCatalog(t, url)
		db := n.db
		t.Cleanup(func() { db.Close() })
		n.l = objects.New(n.db, f.store, nil)
	}
	ctx := context.Background()
	org, err := f.a.db.CreateOrg(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.db.CreateBucket(ctx, org.ID, "b"); err != nil {
		t.Fatal(err)
	}
	f.org = org.ID
	return f
}

func (f *fleet) put(t *testing.T, n fleetNode, key string, data []byte) *catalog.Manifest {
	t.Helper()
	m, err := n.l.Put(context.Background(), f.org, "b", key, bytes.NewReader(data), objects.PutOptions{Size: int64(len(data))})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return m
}

func (f *fleet) read(n fleetNode, key string) ([]byte, error) {
	ctx := context.Background()
	o, err := n.l.Open(ctx, f.org, "b", key)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	r, err := o.NewReader(ctx, 0, -1)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func (f *fleet) chunks(t *testing.T) map[chunkstore.ID]bool {
	t.Helper()
	out := map[chunkstore.ID]bool{}
	if err := f.store.List(context.Background(), func(id chunkstore.ID, _ int64) error {
		out[id] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// With two nodes live, a collection on one of them runs (it used to be
// refused) and frees what no node uses: a chunk nothing references goes,
// while an object deleted on node a but held open by a reader on node b
// keeps its chunks until b's reader closes, and reads to its end.
func TestGCAcrossNodes(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t)
	held := randBytes(2*chunk+100, 40)
	f.put(t, f.a, "held", held)
	f.put(t, f.b, "kept", randBytes(chunk+5, 41))
	orphan := []byte("orphan chunk")
	orphanID := f.store.Sum(f.org, orphan)
	if err := f.store.Put(ctx, orphanID, orphan); err != nil {
		t.Fatal(err)
	}
	o, err := f.b.l.Open(ctx, f.org, "b", "held")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	r, err := o.NewReader(ctx, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := f.a.l.Delete(ctx, f.org, "b", "held"); err != nil {
		t.Fatal(err)
	}
	st, err := f.a.l.GC(ctx)
	if err != nil {
		t.Fatalf("gc on node a with node b live: %v", err)
	}
	if st.Deleted != 1 || st.Deferred != 3 {
		t.Fatalf("gc: %+v; want the orphan deleted and the 3 chunks node b reads kept", st)
	}
	if f.chunks(t)[orphanID] {
		t.Fatal("the orphan chunk is still there")
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, held) {
		t.Fatalf("node b's reader after node a's gc: %v, %d bytes, equal %v", err, len(got), bytes.Equal(got, held))
	}
	r.Close()
	o.Close()
	st, err = f.b.l.GC(ctx)
	if err != nil || st.Deleted != 3 {
		t.Fatalf("gc on node b once its reader closed: %+v, %v; want 3 deleted", st, err)
	}
	if v, err := f.read(f.a, "kept"); err != nil || len(v) != chunk+5 {
		t.Fatalf("the object nothing deleted: %v, %d bytes", err, len(v))
	}
	if n := len(f.chunks(t)); n != 2 {
		t.Fatalf("%d chunks left, want kept's 2", n)
	}
}

// The dedup-hit race across nodes: node b's PUT finds its chunk already
// stored (unreferenced: left by a deleted object) and skips writing it;
// before b commits, node a collects. Node b's pin (its heartbeat clears
// the chunk's condemnation) keeps the chunk, b's commit succeeds, and the
// object reads back on both nodes.
func TestGCDedupHitAcrossNodes(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t)
	data := randBytes(chunk+10, 42)
	f.put(t, f.a, "first", data)
	if err := f.a.l.Delete(ctx, f.org, "b", "first"); err != nil {
		t.Fatal(err)
	}
	before := f.chunks(t)
	var gcSt objects.GCStats
	var gcErr error
	objects.SetBeforeCommit(f.b.l, func() { gcSt, gcErr = f.a.l.GC(ctx) })
	f.put(t, f.b, "second", data)
	objects.SetBeforeCommit(f.b.l, nil)
	if gcErr != nil || gcSt.Deleted != 0 || gcSt.Deferred != 2 {
		t.Fatalf("gc while node b's put held the chunks: %+v, %v; want nothing deleted", gcSt, gcErr)
	}
	if n := f.store.Stats().ChunksDeduped; n < 2 {
		t.Fatalf("node b's put deduplicated %d chunks, want 2 (the race needs dedup hits)", n)
	}
	for _, n := range []fleetNode{f.a, f.b} {
		if v, err := f.read(n, "second"); err != nil || !bytes.Equal(v, data) {
			t.Fatalf("object committed over the collection: %v, equal %v", err, bytes.Equal(v, data))
		}
	}
	if st, err := f.a.l.GC(ctx); err != nil || st.Deleted != 0 {
		t.Fatalf("gc after the commit: %+v, %v", st, err)
	}
	if len(f.chunks(t)) != len(before) {
		t.Fatalf("chunks: %d, want %d", len(f.chunks(t)), len(before))
	}
}

// A write that holds a chunk the collector has doomed (its node's scan
// found the mark after the write had found the chunk stored) does not
// commit: it fails with a 503-class error and the key keeps its previous
// version.
func TestPoisonedWriteDoesNotCommit(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t)
	old := randBytes(100, 43)
	f.put(t, f.b, "k", old)
	data := randBytes(chunk+10, 44)
	objects.SetBeforeCommit(f.b.l, func() {
		id := f.store.Sum(f.org, data[:chunk])
		if _, err := objects.ScanMarks(f.b.l, []catalog.GCMark{{Chunk: id, State: catalog.MarkDoomed}}); err != nil {
			t.Error(err)
		}
	})
	_, err := f.b.l.Put(ctx, f.org, "b", "k", bytes.NewReader(data), objects.PutOptions{Size: int64(len(data))})
	objects.SetBeforeCommit(f.b.l, nil)
	if !errors.Is(err, catalog.ErrChunkGone) || !errors.Is(err, catalog.ErrUnavailable) {
		t.Fatalf("put holding a doomed chunk: %v, want ErrChunkGone", err)
	}
	if v, err := f.read(f.a, "k"); err != nil || !bytes.Equal(v, old) {
		t.Fatalf("previous version after the refused commit: %v, equal %v", err, bytes.Equal(v, old))
	}
	// The next scan no longer lists it (pruned): writes of it commit.
	if _, err := objects.ScanMarks(f.b.l, nil); err != nil {
		t.Fatal(err)
	}
	f.put(t, f.b, "k", data)
}

// One collector at a time: while node a holds the collector lease, a
// collection on node b is refused with an error naming the holder; once
// a's collection ends (it releases the lease), b's runs.
func TestGCLeaseHeldByAnotherNode(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t)
	lease, err := f.a.db.GCBegin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.b.l.GC(ctx)
	if !errors.Is(err, catalog.ErrGCLeaseHeld) || !strings.Contains(err.Error(), "holds the collector lease until") {
		t.Fatalf("gc on node b while a holds the lease: %v", err)
	}
	lease.Release(ctx)
	if _, err := f.b.l.GC(ctx); err != nil {
		t.Fatalf("gc on node b after a released the lease: %v", err)
	}
}

var _ = fs.ErrNotExist
