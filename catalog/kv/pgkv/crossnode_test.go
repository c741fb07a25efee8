package pgkv

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/internal/pgtest"
)

// The catalog's coherence across nodes: two catalogs on two engines on one
// database, as two excd processes run them.

// feedLog gathers one catalog's feed.
type feedLog struct {
	mu  sync.Mutex
	evs []catalog.Event
	ch  chan struct{}
}

func subscribe(t *testing.T, db *catalog.DB) *feedLog {
	l := &feedLog{ch: make(chan struct{}, 1)}
	cancel := db.Subscribe(func(ev catalog.Event) {
		l.mu.Lock()
		l.evs = append(l.evs, ev)
		l.mu.Unlock()
		select {
		case l.ch <- struct{}{}:
		default:
		}
	})
	t.Cleanup(cancel)
	return l
}

func (l *feedLog) snapshot() []catalog.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]catalog.Event(nil), l.evs...)
}

// waitFor returns the log once ok holds of it, failing after a generous bound.
func (l *feedLog) waitFor(t *testing.T, what string, ok func([]catalog.Event) bool) []catalog.Event {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		if evs := l.snapshot(); ok(evs) {
			return evs
		}
		select {
		case <-l.ch:
		case <-deadline:
			t.Fatalf("waited a minute for %s; feed: %+v", what, l.snapshot())
		}
	}
}

type evKey struct {
	kind catalog.EventKind
	key  string
}

func kinds(evs []catalog.Event) []evKey {
	var out []evKey
	for _, ev := range evs {
		out = append(out, evKey{ev.Kind, ev.Key})
	}
	return out
}

// A mutation on one node is delivered to the other node's subscribers, and
// both nodes deliver every event in one order, the commit order: writers
// of one key on both nodes at once, and a rename moving keys, leave the
// same sequence on both. The writer's own node has delivered its event
// when the call returns.
func TestCatalogFeedAcrossNodes(t *testing.T) {
	a, b := twoNodes(t)
	la, lb := subscribe(t, a), subscribe(t, b)
	org, err := a.CreateOrg(bg, "acme")
	if err != nil {
		t.Fatal(err)
	}
	bk, err := b.CreateBucket(bg, org.ID, "photos")
	if err != nil {
		t.Fatal(err)
	}
	if evs := lb.snapshot(); len(evs) != 1 || evs[0].Kind != catalog.BucketCreate || evs[0].BucketID != bk.ID || evs[0].Bucket != "photos" || evs[0].OrgID != org.ID {
		t.Fatalf("node b's feed when CreateBucket returned: %+v", evs)
	}
	const n = 40
	var wg sync.WaitGroup
	for _, db := range []*catalog.DB{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				if _, err := db.PutObject(bg, bk, "hot", manifest(fmt.Sprint(i), i), catalog.Condition{}); err != nil {
					t.Error(err)
					return
				}
				if i%4 == 3 {
					db.DeleteObject(bg, bk, "hot") // may find it gone: fine
				}
			}
		}()
	}
	wg.Wait()
	for i := range 5 {
		if _, err := a.PutObject(bg, bk, fmt.Sprintf("dir/%d", i), manifest("x", 100+i), catalog.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	if moved, err := b.RenamePrefix(bg, bk, "dir/", "moved/", 0); err != nil || moved != 5 {
		t.Fatalf("rename: %d, %v", moved, err)
	}
	if _, err := a.DeleteObject(bg, bk, "moved/4"); err != nil {
		t.Fatal(err)
	}
	last := func(evs []catalog.Event) bool {
		return len(evs) > 0 && evs[len(evs)-1].Kind == catalog.ObjectDelete && evs[len(evs)-1].Key == "moved/4"
	}
	// a's own DeleteObject returned: its own feed has it already.
	if !last(la.snapshot()) {
		t.Fatalf("node a's feed lacks its own delete when the call returned: %v", kinds(la.snapshot()))
	}
	ea, eb := la.snapshot(), lb.waitFor(t, "node a's last delete on node b", last)
	ka, kb := kinds(ea), kinds(eb)
	if fmt.Sprint(ka) != fmt.Sprint(kb) {
		t.Fatalf("the nodes delivered different sequences:\na: %v\nb: %v", ka, kb)
	}
	for i := 1; i < len(eb); i++ {
		if eb[i].Seq <= eb[i-1].Seq {
			t.Fatalf("seq not increasing at %d: %+v", i, eb)
		}
	}
	// The last event of "hot" on both nodes is what the catalog holds.
	var lastHot evKey
	for _, k := range kb {
		if k.key == "hot" {
			lastHot = k
		}
	}
	_, err = a.Object(bg, bk.ID, "hot")
	if present := err == nil; present != (lastHot.kind == catalog.ObjectPut) {
		t.Fatalf("last event of hot: %v, object present: %v", lastHot, present)
	}
}

// Deleting an access key or an org, or making a bucket private, on one node
// takes effect on the other at its very next lookup, though it had just
// looked the same records up.
func TestCatalogRevocationAcrossNodesAtOnce(t *testing.T) {
	a, b := twoNodes(t)
	org, err := a.CreateOrg(bg, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateBucket(bg, org.ID, "pub"); err != nil {
		t.Fatal(err)
	}
	if err := a.SetBucketPublic(bg, org.ID, "pub", true); err != nil {
		t.Fatal(err)
	}
	k1, err := a.CreateAccessKey(bg, catalog.AccessKey{OrgID: org.ID})
	if err != nil {
		t.Fatal(err)
	}
	k2, err := a.CreateAccessKey(bg, catalog.AccessKey{OrgID: org.ID})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // warm whatever node b would cache
		if bb, err := b.Bucket(bg, org.ID, "pub"); err != nil || !bb.Public {
			t.Fatalf("node b: bucket %+v, %v", bb, err)
		}
		if _, err := b.AccessKey(bg, k1.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := b.AccessKey(bg, k2.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.SetBucketPublic(bg, org.ID, "pub", false); err != nil {
		t.Fatal(err)
	}
	if bb, err := b.Bucket(bg, org.ID, "pub"); err != nil || bb.Public {
		t.Fatalf("node b still serves the bucket as public after node a made it private: %+v, %v", bb, err)
	}
	if err := a.DeleteAccessKey(bg, k1.ID); err != nil {
		t.Fatal(err)
	}
	if k, err := b.AccessKey(bg, k1.ID); err == nil {
		t.Fatalf("node b still authenticates access key %s after node a deleted it: %+v", k1.ID, k)
	}
	if err := a.DeleteBucket(bg, org.ID, "pub"); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteOrg(bg, org.ID); err != nil {
		t.Fatal(err)
	}
	if k, err := b.AccessKey(bg, k2.ID); err == nil {
		t.Fatalf("node b still authenticates access key %s of org deleted on node a: %+v", k2.ID, k)
	}
}

// When the connection that brings the other nodes' events is cut, the
// catalog's subscribers get a Resync, then events again.
func TestCatalogFeedResync(t *testing.T) {
	url := pgtest.DB(t)
	a, b := twoNodesOn(t, url)
	lb := subscribe(t, b)
	org, err := a.CreateOrg(bg, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw(t, url).Exec(bg, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'"); err != nil {
		t.Fatal(err)
	}
	lb.waitFor(t, "a resync", func(evs []catalog.Event) bool {
		return len(evs) > 0 && evs[len(evs)-1].Kind == catalog.Resync
	})
	for i := 0; ; i++ {
		name := fmt.Sprint("b", i)
		if _, err := a.CreateBucket(bg, org.ID, name); err != nil {
			t.Fatal(err)
		}
		evs := lb.snapshot()
		if ev := evs[len(evs)-1]; ev.Kind == catalog.BucketCreate && ev.Bucket == name {
			break
		}
		lb.waitFor(t, "the next event", func(e []catalog.Event) bool { return len(e) > len(evs) })
		if evs := lb.snapshot(); evs[len(evs)-1].Bucket == name {
			break
		}
	}
}

func twoNodesOn(t *testing.T, url string) (a, b *catalog.DB) {
	t.Helper()
	for _, db := range []**catalog.DB{&a, &b} {
		c, err := catalog.OpenEngine(open(t, url, Options{}), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		*db = c
	}
	return a, b
}

// A rename's events span several notification payloads and still arrive
// complete and in order on the other node; an event too large for a
// payload (a key of 6000 bytes) arrives as a Resync.
func TestCatalogFeedLargeAcrossNodes(t *testing.T) {
	a, b := twoNodes(t)
	org, err := a.CreateOrg(bg, "acme")
	if err != nil {
		t.Fatal(err)
	}
	bk, err := a.CreateBucket(bg, org.ID, "big")
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("n", 100)
	const n = 300
	for i := range n {
		if _, err := a.PutObject(bg, bk, fmt.Sprintf("from/%s%04d", long, i), manifest("x", 1), catalog.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	lb := subscribe(t, b)
	if moved, err := a.RenamePrefix(bg, bk, "from/", "to/", 0); err != nil || moved != n {
		t.Fatalf("rename: %d, %v", moved, err)
	}
	huge := strings.Repeat("h", 6000)
	if _, err := a.PutObject(bg, bk, huge, manifest("x", 1), catalog.Condition{}); err != nil {
		t.Fatal(err)
	}
	// Node b may still be delivering node a's PUTs from before the rename
	// when it subscribed (the feed reaches other nodes after the call
	// returns): the rename's events start at its first delete.
	fromRename := func(evs []catalog.Event) []catalog.Event {
		for i, ev := range evs {
			if ev.Kind == catalog.ObjectDelete {
				return evs[i:]
			}
		}
		return nil
	}
	evs := fromRename(lb.waitFor(t, "the rename's events and the huge key's", func(evs []catalog.Event) bool { return len(fromRename(evs)) >= 2*n+1 }))
	for i := range n {
		d, p := evs[2*i], evs[2*i+1]
		k := fmt.Sprintf("%s%04d", long, i)
		if d.Kind != catalog.ObjectDelete || d.Key != "from/"+k || p.Kind != catalog.ObjectPut || p.Key != "to/"+k {
			t.Fatalf("events %d, %d: %+v %+v", 2*i, 2*i+1, d, p)
		}
	}
	if last := evs[2*n]; last.Kind != catalog.Resync {
		t.Fatalf("the event of a 6000-byte key: %+v, want a resync", last)
	}
}
