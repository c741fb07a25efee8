package catalog

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"excloud.dev/buckets/catalog/kv/pgkv"
	"excloud.dev/buckets/internal/pgtest"
)

// pgNodes opens two catalogs on two PostgreSQL engines sharing one
// database: two nodes.
func pgNodes(t *testing.T) (a, b *DB) {
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
