package catalog

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"excloud.dev/buckets/catalog/kv"
	"excloud.dev/buckets/chunkstore"
)

// Collection across nodes needs a shared engine: on Badger one process
// owns the catalog and the collector's in-process pins suffice (the objects
// GC tests), so these run on PostgreSQL.

func shortNodeTiming(t *testing.T, ttl time.Duration) {
	hb, oldTTL := nodeHeartbeat, nodeTTL
	nodeHeartbeat, nodeTTL = 50*time.Millisecond, ttl
	t.Cleanup(func() { nodeHeartbeat, nodeTTL = hb, oldTTL })
}

// stopHeartbeat makes node db stall as a hung process would: its
// registration stays, but nothing refreshes it.
func stopHeartbeat(db *DB) {
	close(db.reg.stop)
	<-db.reg.done
	// Close stops the heartbeat again: give it channels to do that with.
	db.reg.stop = make(chan struct{})
	db.reg.done = make(chan struct{})
	close(db.reg.done)
}

func marksOf(t *testing.T, db *DB) map[chunkstore.ID]GCMark {
	t.Helper()
	ms, _, err := db.GCMarks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[chunkstore.ID]GCMark{}
	for _, m := range ms {
		out[m.Chunk] = m
	}
	return out
}

// A commit that references a condemned chunk (a dedup hit on a chunk
// nothing referenced) clears the mark, so the collector keeps the chunk;
// a commit that references a doomed one fails, commits nothing, and the
// count stays a mark.
func TestCommitClearsCondemnedFailsOnDoomed(t *testing.T) {
	shortNodeTiming(t, time.Minute)
	ctx := context.Background()
	a, b := pgNodes(t)
	stopHeartbeat(b) // b acknowledges only when the test says
	org, err := a.CreateOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	bk, err := a.CreateBucket(ctx, org.ID, "bkt")
	if err != nil {
		t.Fatal(err)
	}
	lease, err := a.GCBegin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(ctx)
	if n, err := lease.Condemn(ctx, []chunkstore.ID{chunk(1), chunk(2)}); err != nil || n != 2 {
		t.Fatalf("condemn: %d, %v", n, err)
	}
	// Node b deduplicates against chunk 1 and commits.
	if _, err := b.PutObject(ctx, bk, "dedup", manifest("d", 1), Condition{}); err != nil {
		t.Fatalf("commit over a condemned chunk: %v", err)
	}
	if n, err := a.RefCount(ctx, chunk(1)); err != nil || n != 1 {
		t.Fatalf("chunk 1 count %d, %v; want 1", n, err)
	}
	ms := marksOf(t, a)
	if _, ok := ms[chunk(1)]; ok {
		t.Fatal("the commit left chunk 1 condemned")
	}
	// Both nodes acknowledge the marks; chunk 2 is doomed, chunk 1 (no
	// longer marked) is not.
	for _, db := range []*DB{a, b} {
		if err := db.GCScan(ctx); err != nil {
			t.Fatal(err)
		}
	}
	doomed, err := lease.Doom(ctx, []GCMark{ms[chunk(2)], {Chunk: chunk(1), State: MarkCondemned, Stamp: ms[chunk(2)].Stamp, Time: ms[chunk(2)].Time}}, 0)
	if err != nil || len(doomed) != 1 || doomed[0].Chunk != chunk(2) {
		t.Fatalf("doom: %v, %v; want chunk 2 only", doomed, err)
	}
	_, err = b.PutObject(ctx, bk, "late", manifest("l", 2, 3), Condition{})
	if !errors.Is(err, ErrChunkGone) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("commit over a doomed chunk: %v, want ErrChunkGone (503)", err)
	}
	if _, err := a.Object(ctx, bk.ID, "late"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the failed commit left an object: %v", err)
	}
	if n, _ := a.RefCount(ctx, chunk(3)); n != 0 {
		t.Fatalf("the failed commit counted chunk 3: %d", n)
	}
	if m := marksOf(t, a)[chunk(2)]; m.State != MarkDoomed {
		t.Fatalf("chunk 2 mark %q after the failed commit, want doomed", m.State)
	}
	// Gone, then pruned once every node saw it: a new write of the same
	// content (written again, after the delete) may then commit.
	if err := lease.Gone(ctx, doomed); err != nil {
		t.Fatal(err)
	}
	if err := lease.Bump(ctx); err != nil {
		t.Fatal(err)
	}
	gone := marksOf(t, a)[chunk(2)]
	if n, err := lease.Prune(ctx, []GCMark{gone}); err != nil || n != 0 {
		t.Fatalf("prune before the nodes saw the gone mark: %d, %v", n, err)
	}
	for _, db := range []*DB{a, b} {
		if err := db.GCScan(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := lease.Prune(ctx, []GCMark{gone}); err != nil || n != 1 {
		t.Fatalf("prune: %d, %v", n, err)
	}
	if _, err := b.PutObject(ctx, bk, "again", manifest("a", 2), Condition{}); err != nil {
		t.Fatalf("commit after the prune: %v", err)
	}
	if len(marksOf(t, a)) != 0 {
		t.Fatalf("marks left: %v", marksOf(t, a))
	}
}

// A condemned chunk is doomed only once every registered node has
// acknowledged a scan that saw it, and a node that pins it clears it in
// that scan.
func TestDoomWaitsForEveryNode(t *testing.T) {
	shortNodeTiming(t, time.Minute)
	ctx := context.Background()
	a, b := pgNodes(t)
	stopHeartbeat(b) // b acknowledges only when the test says
	pinned := map[chunkstore.ID]bool{chunk(7): true}
	b.SetGCScanner(func(_ context.Context, marks []GCMark) ([]GCMark, error) {
		var clear []GCMark
		for _, m := range marks {
			if pinned[m.Chunk] && m.State == MarkCondemned {
				clear = append(clear, m)
			}
		}
		return clear, nil
	})
	lease, err := a.GCBegin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(ctx)
	if _, err := lease.Condemn(ctx, []chunkstore.ID{chunk(6), chunk(7)}); err != nil {
		t.Fatal(err)
	}
	if err := a.GCScan(ctx); err != nil {
		t.Fatal(err)
	}
	ms, _, err := a.GCMarks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := lease.Doom(ctx, ms, 0); err != nil || len(d) != 0 {
		t.Fatalf("doomed %v, %v before node b acknowledged", d, err)
	}
	if err := b.GCScan(ctx); err != nil {
		t.Fatal(err)
	}
	ms, _, err = a.GCMarks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Chunk != chunk(6) {
		t.Fatalf("marks after node b's scan: %v; want chunk 6 only (b pins 7)", ms)
	}
	if d, err := lease.Doom(ctx, ms, 0); err != nil || len(d) != 1 {
		t.Fatalf("doom after node b acknowledged: %v, %v", d, err)
	}
	// A grace period holds a fresh mark back.
	lease2 := lease
	if _, err := lease2.Condemn(ctx, []chunkstore.ID{chunk(8)}); err != nil {
		t.Fatal(err)
	}
	for _, db := range []*DB{a, b} {
		if err := db.GCScan(ctx); err != nil {
			t.Fatal(err)
		}
	}
	m8 := marksOf(t, a)[chunk(8)]
	if d, err := lease.Doom(ctx, []GCMark{m8}, time.Hour); err != nil || len(d) != 0 {
		t.Fatalf("doomed within the grace period: %v, %v", d, err)
	}
}

// Fencing: a node whose heartbeat stopped for longer than the node
// timeout is reaped by the collector, and a write it began before may not
// add a reference any more, even once the node is back and registered
// again; writes it begins after commit. Its collector lease is released
// by the timeout too: another node may then collect.
func TestExpiredNodeIsFencedAndItsLeaseReleased(t *testing.T) {
	shortNodeTiming(t, 2*time.Second)
	ctx := context.Background()
	a, b := pgNodes(t)
	org, err := a.CreateOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	bk, err := a.CreateBucket(ctx, org.ID, "bkt")
	if err != nil {
		t.Fatal(err)
	}
	// Node b leads a collection, and has a write in flight.
	lease, err := b.GCBegin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.GCBegin(ctx)
	if !errors.Is(err, ErrGCLeaseHeld) || !strings.Contains(err.Error(), b.reg.id) {
		t.Fatalf("node a while b holds the lease: %v", err)
	}
	wctx := b.WithFence(ctx)
	stopHeartbeat(b)
	// Until b's lease expires, a may not collect; then it may, and once
	// b's record expired too, a collection reaps it.
	deadline := time.Now().Add(time.Minute)
	var la *GCLease
	for {
		la, err = a.GCBegin(ctx)
		if err != nil && !errors.Is(err, ErrGCLeaseHeld) {
			t.Fatal(err)
		}
		if err == nil {
			n, err := a.LiveNodes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node b's lease or record did not expire: %v", err)
		}
		time.Sleep(nodeHeartbeat)
	}
	defer la.Release(ctx)
	if n, err := a.LiveNodes(ctx); err != nil || n != 1 {
		t.Fatalf("live nodes after b expired: %d, %v", n, err)
	}
	if err := a.view(ctx, func(txn kv.Reader) error {
		n, err := readNode(txn, b.reg.id)
		if n != nil {
			t.Errorf("node b's record is still there after it expired: %+v", n)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// Node b's old lease is no good.
	if _, err := lease.Condemn(ctx, []chunkstore.ID{chunk(9)}); !errors.Is(err, ErrGCLeaseHeld) {
		t.Fatalf("condemn under an expired lease: %v", err)
	}
	_, err = b.PutObject(wctx, bk, "late", manifest("l", 4), Condition{})
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("commit of a reaped node: %v, want ErrFenced", err)
	}
	// b wakes: its heartbeat registers it again under a new epoch.
	if err := b.GCScan(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := a.LiveNodes(ctx); err != nil || n != 2 {
		t.Fatalf("live nodes after b came back: %d, %v", n, err)
	}
	if _, err := b.PutObject(wctx, bk, "late", manifest("l", 4), Condition{}); !errors.Is(err, ErrFenced) {
		t.Fatalf("commit of a write begun before the reap: %v, want ErrFenced", err)
	}
	if _, err := b.PutObject(b.WithFence(ctx), bk, "new", manifest("n", 4), Condition{}); err != nil {
		t.Fatalf("commit of a write begun after re-registering: %v", err)
	}
	// A write that adds no new chunk (here, none at all) is not fenced:
	// it cannot resurrect anything.
	if _, err := b.PutObject(wctx, bk, "empty", manifest("e"), Condition{}); err != nil {
		t.Fatalf("commit without chunks: %v", err)
	}
}
