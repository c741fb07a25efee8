package catalog

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"excloud.dev/buckets/catalog/kv/pgkv"
	"excloud.dev/buckets/internal/pgtest"
)

// pgNodes opens two catalogs on two PostgreSQL engines sharing one
// database: two nodes.
func pgNodes(t testing.TB) (a, b *DB) {
	t.Helper()
	url := pgtest.DB(t)
	for _, db := range []**DB{&a, &b} {
		e, err := pgkv.Open(context.Background(), url, pgkv.Options{Key: bytes.Repeat([]byte{7}, 32)})
		if err != nil {
			t.Fatal(err)
		}
		c, err := OpenEngine(e, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		*db = c
	}
	return a, b
}

// A listing on one node never serves a page computed before another
// node's commit: a walk on node b, whose next page this node could read
// ahead (and here has, when it reads ahead at all), sees the key node a
// added between its pages.
func TestListingAcrossNodesNeverStale(t *testing.T) {
	ctx := context.Background()
	a, b := pgNodes(t)
	org, err := a.CreateOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	bk, err := a.CreateBucket(ctx, org.ID, "many")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 450 {
		if _, err := a.PutObject(ctx, bk, fmt.Sprintf("k%04d", i*2), manifest("x", 1), Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 3 {
		p1, err := b.List(ctx, bk.ID, ListOptions{MaxKeys: 200})
		if err != nil || !p1.IsTruncated {
			t.Fatalf("page 1: %v, truncated %v", err, p1.IsTruncated)
		}
		// If node b read page 2 ahead, let it finish first: the page is
		// then older than node a's commit below.
		b.ahead.mu.Lock()
		var ready []chan struct{}
		for _, p := range b.ahead.pages {
			ready = append(ready, p.ready)
		}
		b.ahead.mu.Unlock()
		for _, r := range ready {
			select {
			case <-r:
			case <-time.After(time.Minute):
				t.Fatal("a page read ahead took a minute")
			}
		}
		added := fmt.Sprintf("k%04d", 2*(250+round)+1) // lands in page 2
		if _, err := a.PutObject(ctx, bk, added, manifest("x", 1), Condition{}); err != nil {
			t.Fatal(err)
		}
		p2, err := b.List(ctx, bk.ID, ListOptions{MaxKeys: 200, ContinueAfter: p1.Next})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range p2.Objects {
			found = found || e.Key == added
		}
		if !found {
			t.Fatalf("round %d: node b's page 2 lacks %s, which node a committed before it was asked for", round, added)
		}
	}
}

// Each node on a shared engine registers; a node that stops cleanly is gone
// at once, one that dies (its heartbeat stops, its record stays) once its
// record expires.
func TestLiveNodes(t *testing.T) {
	hb, ttl := nodeHeartbeat, nodeTTL
	nodeHeartbeat, nodeTTL = 50*time.Millisecond, 3*time.Second
	t.Cleanup(func() { nodeHeartbeat, nodeTTL = hb, ttl })
	ctx := context.Background()
	url := pgtest.DB(t)
	open := func() *DB {
		e, err := pgkv.Open(ctx, url, pgkv.Options{Key: bytes.Repeat([]byte{7}, 32)})
		if err != nil {
			t.Fatal(err)
		}
		c, err := OpenEngine(e, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b, c := open(), open(), open()
	defer a.Close()
	live := func(db *DB) int {
		n, err := db.LiveNodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Past two TTLs, heartbeats keep all three live.
	for deadline := time.Now().Add(2 * nodeTTL); time.Now().Before(deadline); time.Sleep(nodeHeartbeat) {
		if n := live(b); n != 3 {
			t.Fatalf("node b sees %d live nodes, want 3", n)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if n := live(a); n != 2 {
		t.Fatalf("after node b stopped, node a sees %d live nodes, want 2", n)
	}
	// Node c dies: its heartbeat stops and nothing removes its record.
	close(c.reg.stop)
	<-c.reg.done
	c.reg = nil
	defer c.Close()
	deadline := time.Now().Add(time.Minute)
	for live(a) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("a dead node's record did not expire")
		}
		time.Sleep(nodeHeartbeat)
	}
	// On Badger there is one node.
	if n := live(newTestDB(t)); n != 1 {
		t.Fatalf("badger catalog: %d live nodes", n)
	}
}

// The price of serving bucket and access-key lookups without the record
// cache on a shared engine (docs/scale-out.md, "What each node keeps
// locally"): cached, as on Badger, against read from the database.
func BenchmarkLookupSharedEngine(b *testing.B) {
	ctx := context.Background()
	a, _ := pgNodes(b)
	org, err := a.CreateOrg(ctx, "acme")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := a.CreateBucket(ctx, org.ID, "bk"); err != nil {
		b.Fatal(err)
	}
	k, err := a.CreateAccessKey(ctx, AccessKey{OrgID: org.ID})
	if err != nil {
		b.Fatal(err)
	}
	for _, cached := range []bool{false, true} {
		name := "database"
		if cached {
			name = "cached"
		}
		b.Run(name, func(b *testing.B) {
			a.buckets.off, a.accessKeys.off = !cached, !cached
			defer func() { a.buckets.off, a.accessKeys.off = true, true }()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := a.Bucket(ctx, org.ID, "bk"); err != nil {
						b.Error(err)
						return
					}
					if _, err := a.AccessKey(ctx, k.ID); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// The price of the feed across nodes on a write: PutObject by 32 writers
// with the events sent in the transaction (pg_notify, and the wait for
// their return) against the same catalog publishing only in process.
func BenchmarkPutSharedEngineFeed(b *testing.B) {
	ctx := context.Background()
	a, _ := pgNodes(b)
	org, err := a.CreateOrg(ctx, "acme")
	if err != nil {
		b.Fatal(err)
	}
	bk, err := a.CreateBucket(ctx, org.ID, "bk")
	if err != nil {
		b.Fatal(err)
	}
	nodes := a.nodes
	for _, feed := range []bool{true, false} {
		name := "feed"
		if !feed {
			name = "in-process"
		}
		b.Run(name, func(b *testing.B) {
			if !feed {
				a.nodes = nil
				defer func() { a.nodes = nodes }()
			}
			var seq atomic.Int64
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					k := fmt.Sprintf("%s-%d", name, seq.Add(1))
					if _, err := a.PutObject(ctx, bk, k, manifest("x", int(seq.Load()%64)), Condition{}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
