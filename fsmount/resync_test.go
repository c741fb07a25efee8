package fsmount_test

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/fsmount"
	"excloud.dev/buckets/internal/daemon"
	"excloud.dev/buckets/internal/testutil"
)

// gateFeed passes the catalog's events on while open, drops them while
// cut (as events from other nodes are lost while the connection that
// brings them is down), and lets the test deliver a Resync.
type gateFeed struct {
	cat  *catalog.DB
	cut  atomic.Bool
	mu   sync.Mutex
	subs []func(catalog.Event)
}

func (g *gateFeed) Subscribe(fn func(catalog.Event)) func() {
	g.mu.Lock()
	g.subs = append(g.subs, fn)
	g.mu.Unlock()
	return g.cat.Subscribe(func(ev catalog.Event) {
		if !g.cut.Load() {
			fn(ev)
		}
	})
}

func (g *gateFeed) resync() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, fn := range g.subs {
		fn(catalog.Event{Kind: catalog.Resync})
	}
}

// After a Resync of the change feed, the mount drops every cached entry,
// attribute and page: changes whose events were lost show at once, though
// the kernel was told to cache for an hour.
func TestResyncDropsKernelCaches(t *testing.T) {
	data := t.TempDir()
	d, err := daemon.Start(daemon.Config{
		DataDir: data, Listen: "127.0.0.1:0", RootAccessKey: testAK, RootSecretKey: testSK,
		GCInterval: -1, AdminSocket: "-", Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx := context.Background()
	orgs, err := d.Catalog().ListOrgs(ctx)
	if err != nil || len(orgs) == 0 {
		t.Fatalf("orgs: %v %v", orgs, err)
	}
	e := &env{d: d, org: orgs[0].ID, mnt: t.TempDir(), dataD: data}
	if _, err := d.Layer().CreateBucket(ctx, e.org, "b"); err != nil {
		t.Fatal(err)
	}
	g := &gateFeed{cat: d.Catalog()}
	e.srv, err = fsmount.Mount(ctx, e.mnt, d.Layer(), g, e.org, fsmount.Options{DataDir: data, Logger: quiet(), CacheTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.srv.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	e.bdir = e.mnt + "/b"
	e.s3 = testutil.S3("http://"+d.Addr(), testAK, testSK)

	e.s3Put(t, "dir/k", []byte("one"))
	for range 2 { // fill the kernel's caches
		if b, err := os.ReadFile(e.p("dir/k")); err != nil || string(b) != "one" {
			t.Fatalf("read %q %v", b, err)
		}
		if _, err := os.Stat(e.p("dir/new")); !os.IsNotExist(err) {
			t.Fatalf("stat of a missing name: %v", err)
		}
		if _, err := os.ReadDir(e.p("dir")); err != nil {
			t.Fatal(err)
		}
	}
	g.cut.Store(true)
	e.s3Put(t, "dir/k", []byte("second version"))
	e.s3Put(t, "dir/new", []byte("new"))
	g.cut.Store(false)
	g.resync()
	if b, err := os.ReadFile(e.p("dir/k")); err != nil || string(b) != "second version" {
		t.Fatalf("after the resync: %q %v", b, err)
	}
	if b, err := os.ReadFile(e.p("dir/new")); err != nil || string(b) != "new" {
		t.Fatalf("a name created while events were lost, after the resync: %q %v", b, err)
	}
	ents, err := os.ReadDir(e.p("dir"))
	if err != nil || len(ents) != 2 {
		t.Fatalf("listing after the resync: %v %v", ents, err)
	}
}
