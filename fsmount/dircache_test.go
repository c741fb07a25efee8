package fsmount_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/fsmount"
	"excloud.dev/buckets/objects"
)

// names lists dir through the mount, sorted.
func names(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("list %s: %v", dir, err)
	}
	var ns []string
	for _, de := range ents {
		ns = append(ns, de.Name())
	}
	return ns
}

func wantNames(t testing.TB, dir string, want ...string) {
	t.Helper()
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Fatalf("listing of %s: %q, want %q", filepath.Base(dir), got, want)
	}
}

// TestListingCachedUntilChanged: the kernel keeps a directory's listing, so
// listing it again asks the catalog nothing, and every change, over S3,
// through another mount or through this one, shows in the next listing.
func TestListingCachedUntilChanged(t *testing.T) {
	c := &counting{}
	e := newEnvWith(t, func(o fsmount.Objects) fsmount.Objects { c.Objects = o; return c })
	ctx := context.Background()
	e.s3Put(t, "d/x", []byte("x"))
	dir := e.p("d")
	wantNames(t, dir, "x")
	before := c.lists.Load()
	wantNames(t, dir, "x")
	wantNames(t, dir, "x")
	if n := c.lists.Load() - before; n != 0 {
		t.Fatalf("listing an unchanged directory again made %d catalog listings, want 0", n)
	}

	e.s3Put(t, "d/y", []byte("y"))
	wantNames(t, dir, "x", "y")
	if _, err := e.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("b"), Key: aws.String("d/x")}); err != nil {
		t.Fatal(err)
	}
	wantNames(t, dir, "y")
	// A directory appears (a key two levels down), and vanishes with it.
	e.s3Put(t, "d/sub/z", []byte("z"))
	wantNames(t, dir, "sub", "y")
	wantNames(t, filepath.Join(dir, "sub"), "z")
	if _, err := e.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("b"), Key: aws.String("d/sub/z")}); err != nil {
		t.Fatal(err)
	}
	wantNames(t, dir, "y")
	// A copy over S3 makes a name.
	if _, err := e.s3.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("b"), Key: aws.String("d/c"), CopySource: aws.String("b/d/y")}); err != nil {
		t.Fatal(err)
	}
	wantNames(t, dir, "c", "y")

	// Through another mount of the org (as through another node: its
	// changes reach this one by the feed alone).
	other, _ := e.mountAgain(t, e.d.Layer(), fsmount.Options{})
	if err := os.WriteFile(filepath.Join(other, "b", "d", "o"), []byte("o"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantNames(t, dir, "c", "o", "y")
	if err := os.Rename(filepath.Join(other, "b", "d", "o"), filepath.Join(other, "b", "d", "p")); err != nil {
		t.Fatal(err)
	}
	wantNames(t, dir, "c", "p", "y")
	if err := os.Remove(filepath.Join(other, "b", "d", "p")); err != nil {
		t.Fatal(err)
	}
	wantNames(t, dir, "c", "y")

	// Through this mount.
	if err := os.WriteFile(filepath.Join(dir, "m"), []byte("m"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantNames(t, dir, "c", "m", "y")
	if err := os.Mkdir(filepath.Join(dir, "n"), 0o755); err != nil {
		t.Fatal(err)
	}
	wantNames(t, dir, "c", "m", "n", "y")
	if err := os.Rename(filepath.Join(dir, "m"), filepath.Join(dir, "n", "m")); err != nil {
		t.Fatal(err)
	}
	wantNames(t, dir, "c", "n", "y")
	wantNames(t, filepath.Join(dir, "n"), "m")
	if err := os.Remove(filepath.Join(dir, "c")); err != nil {
		t.Fatal(err)
	}
	wantNames(t, dir, "n", "y")
}

// TestListingPartlyCached: a program that stops reading a large directory
// leaves part of its listing in the kernel's cache; the next listing reads
// that part from the cache and the rest from the mount, and is whole.
func TestListingPartlyCached(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const n = 2500 // three catalog pages
	var want []string
	for i := range n {
		name := fmt.Sprintf("f%05d", i)
		want = append(want, name)
		if _, err := e.d.Layer().Put(ctx, e.org, "b", "big/"+name, bytes.NewReader(nil), objects.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	dir := e.p("big")
	for _, stop := range []int{1, 100, 1500} {
		f, err := os.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.ReadDir(stop); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if got := names(t, dir); !slices.Equal(got, want) {
			t.Fatalf("after a listing stopped at %d: %d names, want %d", stop, len(got), len(want))
		}
	}
	// Two programs at once: the second reads what the first has cached,
	// then on from where the first stopped.
	for _, stop := range []int{10, 1200} {
		f1, err := os.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f1.ReadDir(stop); err != nil {
			t.Fatal(err)
		}
		if got := names(t, dir); !slices.Equal(got, want) {
			t.Fatalf("while another listing stands at %d: %d names, want %d", stop, len(got), len(want))
		}
		rest, err := f1.ReadDir(-1)
		f1.Close()
		if err != nil || stop+len(rest) != n {
			t.Fatalf("the first listing went on with %d entries after %d, %v; want %d in all", len(rest), stop, err, n)
		}
	}
	// A listing read from the cache when a change over S3 makes the next
	// open drop the cache goes on from the mount, where it stood.
	f1, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	first, err := f1.ReadDir(10)
	if err != nil {
		t.Fatal(err)
	}
	e.s3Put(t, "big/zzz", nil)
	f2, err := os.Open(dir) // drops the kernel's listing
	if err != nil {
		t.Fatal(err)
	}
	f2.Close()
	rest, err := f1.ReadDir(-1)
	f1.Close()
	if err != nil || len(first)+len(rest) < n || rest[0].Name() != want[10] {
		t.Fatalf("a listing cut off from the cache went on with %d entries, %v", len(rest), err)
	}
	// rewinddir in the middle of a listing starts it again.
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadDir(10); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	ents, err := f.ReadDir(-1)
	if err != nil || len(ents) != n+1 {
		t.Fatalf("after rewinddir: %d entries, %v; want %d", len(ents), err, n+1)
	}
}

// TestListingWhileInvalidationsWait: while the kernel has not taken an
// invalidation (a mkdir holds the bucket's directory lock in the kernel,
// see TestInvalidationNoConvoy), later S3 writes are queued behind it and
// return; a directory listed then must show them all the same, though the
// kernel holds a listing from before.
func TestListingWhileInvalidationsWait(t *testing.T) {
	gate := &gatedPuts{key: "held/", entered: make(chan struct{}), release: make(chan struct{})}
	e := newEnvWith(t, func(objs fsmount.Objects) fsmount.Objects { gate.Objects = objs; return gate })
	ctx := context.Background()
	put := func(key string) {
		t.Helper()
		if _, err := e.d.Layer().Put(ctx, e.org, "b", key, bytes.NewReader(nil), objects.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put("sub/a")
	sub := e.p("sub")
	wantNames(t, sub, "a")
	wantNames(t, sub, "a") // from the kernel's cache now

	mkdirErr := make(chan error, 1)
	go func() { mkdirErr <- os.Mkdir(e.p("held"), 0o755) }()
	<-gate.entered
	released := false
	release := func() {
		if !released {
			released = true
			close(gate.release)
		}
	}
	defer release()
	put("s0/k")  // its invalidation waits for the bucket's lock, then goes on in the background
	put("sub/b") // queued behind it
	wantNames(t, sub, "a", "b")
	release()
	if err := <-mkdirErr; err != nil {
		t.Fatalf("mkdir: %v", err)
	}
	wantNames(t, sub, "a", "b")
}

// TestListedSmallFilesReadWhole: a listing's manifests carry no object
// bytes, so files the mount knows only from a listing (ls -l, then cat)
// must still read back whole: small inline ones, a catalog body and an
// empty file, and an append to one of them.
func TestListedSmallFilesReadWhole(t *testing.T) {
	e := newEnv(t)
	files := map[string][]byte{
		"l/empty": {},
		"l/small": []byte("four"),
		"l/8k":    bytes.Repeat([]byte("8"), 8<<10),
		"l/body":  bytes.Repeat([]byte("b"), 64<<10),
	}
	for k, v := range files {
		e.s3Put(t, k, v)
	}
	ents, err := os.ReadDir(e.p("l"))
	if err != nil || len(ents) != len(files) {
		t.Fatalf("readdir: %v %v", ents, err)
	}
	for _, de := range ents {
		fi, err := de.Info()
		if err != nil {
			t.Fatal(err)
		}
		want := files["l/"+de.Name()]
		if fi.Size() != int64(len(want)) {
			t.Errorf("%s: size %d, want %d", de.Name(), fi.Size(), len(want))
		}
		got, err := os.ReadFile(e.p("l/" + de.Name()))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: read %d bytes (%v), want %d", de.Name(), len(got), err, len(want))
		}
	}
	f, err := os.OpenFile(e.p("l/small"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("+1"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.s3Get(t, "l/small"); string(got) != "four+1" {
		t.Errorf("after append over S3: %q, want %q", got, "four+1")
	}
}
