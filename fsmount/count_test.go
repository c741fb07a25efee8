package fsmount_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/fsmount"
)

// counting counts the catalog calls a mount makes.
type counting struct {
	fsmount.Objects
	lists, heads atomic.Int64
}

func (c *counting) List(ctx context.Context, org, b string, o catalog.ListOptions) (catalog.ListResult, error) {
	c.lists.Add(1)
	return c.Objects.List(ctx, org, b, o)
}

func (c *counting) ListManifests(ctx context.Context, org, b string, o catalog.ListOptions) (catalog.ListResult, map[string]*catalog.Manifest, error) {
	c.lists.Add(1)
	return c.Objects.ListManifests(ctx, org, b, o)
}

func (c *counting) Head(ctx context.Context, org, b, k string) (*catalog.Manifest, error) {
	c.heads.Add(1)
	return c.Objects.Head(ctx, org, b, k)
}

// Names counts as one lookup per key.
func (c *counting) Names(ctx context.Context, org, b string, keys ...string) ([]catalog.Name, error) {
	c.heads.Add(int64(len(keys)))
	return c.Objects.Names(ctx, org, b, keys...)
}

// mountAgain mounts the env's org a second time, through objs.
func (e *env) mountAgain(t testing.TB, objs fsmount.Objects, opts fsmount.Options) (string, *fsmount.Server) {
	t.Helper()
	dir := t.TempDir()
	opts.DataDir = e.dataD
	opts.Logger = quiet()
	srv, err := fsmount.Mount(context.Background(), dir, objs, e.d.Catalog(), e.org, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Unmount() })
	return dir, srv
}

// TestLsLongIsOneScanPerPage: ls -l of a directory costs one catalog
// listing per 1000 entries and no lookup per entry, with READDIRPLUS on or
// off.
func TestLsLongIsOneScanPerPage(t *testing.T) {
	e := newEnv(t)
	const n = 1500
	for i := range n {
		e.put(t, fmt.Sprintf("ls/f%04d", i), "x")
	}
	for _, plus := range []bool{false, true} {
		c := &counting{Objects: e.d.Layer()}
		// The kernel's entries must not expire while ls -l runs (1 s by
		// default; more under -race on a loaded machine), or it looks
		// names up again for the clock's sake, not the listing's.
		dir, _ := e.mountAgain(t, c, fsmount.Options{ReadDirPlus: plus, CacheTimeout: time.Hour})
		if _, err := os.Stat(dir + "/b/ls"); err != nil {
			t.Fatal(err)
		}
		l0, h0 := c.lists.Load(), c.heads.Load()
		out, err := exec.Command("ls", "-l", dir+"/b/ls").CombinedOutput()
		if err != nil {
			t.Fatalf("ls: %v %s", err, out)
		}
		lists, heads := c.lists.Load()-l0, c.heads.Load()-h0
		t.Logf("readdirplus=%v: %d listings, %d lookups for %d entries", plus, lists, heads, n)
		// 2 pages, the directory's own lookup, and at most a re-read per
		// page when go-fuse restarts a stream at a kernel offset. A page
		// read while events of the puts above still arrive (PostgreSQL's
		// feed delivers them after the commit) is not remembered, and
		// costs a lookup or two before a read-ahead answers the rest.
		if lists > 6 || heads > 2 {
			t.Errorf("readdirplus=%v: ls -l of %d entries made %d listings and %d lookups", plus, n, lists, heads)
		}
	}
}

// TestLsLongWithSubdirectories: the subdirectories of a listed directory
// are known from the listing too, so stat'ing them (ls -l does) does not
// look like a cold stat loop and read the directory ahead again.
func TestLsLongWithSubdirectories(t *testing.T) {
	e := newEnv(t)
	const n = 400
	for i := range n {
		e.put(t, fmt.Sprintf("mixed/f%04d", i), "x")
		e.put(t, fmt.Sprintf("mixed/d%04d/x", i), "x")
	}
	c := &counting{Objects: e.d.Layer()}
	dir, _ := e.mountAgain(t, c, fsmount.Options{})
	if _, err := os.Stat(dir + "/b/mixed"); err != nil {
		t.Fatal(err)
	}
	l0 := c.lists.Load()
	out, err := exec.Command("ls", "-l", dir+"/b/mixed").CombinedOutput()
	if err != nil {
		t.Fatalf("ls: %v %s", err, out)
	}
	// One page of 800 entries, and at most a re-read when go-fuse restarts
	// the stream. Without the directories known, their lookups read ahead:
	// 8 listings here.
	if lists := c.lists.Load() - l0; lists > 4 {
		t.Errorf("ls -l of %d files and %d directories made %d listings", n, n, lists)
	}
}

// TestStatLoopReadsAhead: stat of every file of a directory that was not
// listed first reads ahead a page at a time instead of two catalog reads per
// name, and what it remembers is dropped when S3 changes the directory.
func TestStatLoopReadsAhead(t *testing.T) {
	e := newEnv(t)
	const n = 3000
	for i := range n {
		e.put(t, fmt.Sprintf("st/f%04d", i), fmt.Sprint(i))
	}
	c := &counting{Objects: e.d.Layer()}
	dir, _ := e.mountAgain(t, c, fsmount.Options{})
	d := dir + "/b/st/"
	if _, err := os.Stat(d); err != nil {
		t.Fatal(err)
	}
	l0, h0 := c.lists.Load(), c.heads.Load()
	for i := range n {
		fi, err := os.Stat(fmt.Sprintf("%sf%04d", d, i))
		if err != nil || fi.Size() != int64(len(fmt.Sprint(i))) {
			t.Fatalf("stat f%04d: %v %v", i, fi, err)
		}
	}
	lists, heads := c.lists.Load()-l0, c.heads.Load()-h0
	t.Logf("cold stat of %d files: %d listings, %d lookups", n, lists, heads)
	if heads > n/20 || lists > n/20 {
		t.Errorf("cold stat of %d files made %d listings and %d lookups", n, lists, heads)
	}
	// An S3 overwrite in the directory: the next stat sees it.
	e.s3Put(t, "st/f2999", []byte("a longer body"))
	if fi, err := os.Stat(d + "f2999"); err != nil || fi.Size() != int64(len("a longer body")) {
		t.Fatalf("stat after S3 overwrite: %v %v", fi, err)
	}
	// A name the read-ahead did not see still resolves (or not) correctly.
	if _, err := os.Stat(d + "f9999"); !os.IsNotExist(err) {
		t.Fatalf("stat of an absent name: %v", err)
	}
	e.s3Put(t, "st/f9999", []byte("late"))
	if fi, err := os.Stat(d + "f9999"); err != nil || fi.Size() != 4 {
		t.Fatalf("stat after S3 create: %v %v", fi, err)
	}
}
