package fsmount_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/catalog/catalogtest"
	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/chunkstore/local"
	"excloud.dev/buckets/fsmount"
	"excloud.dev/buckets/internal/testutil/fulldisk"
	"excloud.dev/buckets/objects"
)

// TestWriteFailureThroughMount: a full disk fails the write (or the close)
// with ENOSPC and the previous version stays, over the mount and the layer.
func TestWriteFailureThroughMount(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	ctx := context.Background()
	dir := t.TempDir()
	keys, err := chunkstore.DeriveKeys(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	db, err := catalogtest.OpenWith(t, catalog.Options{Dir: filepath.Join(dir, "catalog"), EncryptionKey: keys.Catalog[:]})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	base, err := local.New(filepath.Join(dir, "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	fd := &fulldisk.Backend{Backend: base}
	store, err := chunkstore.New(fd, keys)
	if err != nil {
		t.Fatal(err)
	}
	l := objects.New(db, store, quiet())
	org, err := db.CreateOrg(ctx, "o")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateBucket(ctx, org.ID, "b"); err != nil {
		t.Fatal(err)
	}
	old := bytes.Repeat([]byte("old"), 3<<20)
	if _, err := l.Put(ctx, org.ID, "b", "k", bytes.NewReader(old), objects.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	srv, err := fsmount.Mount(ctx, mnt, l, db, org.ID, fsmount.Options{DataDir: dir, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Unmount() })

	fd.Full.Store(true)
	f, err := os.OpenFile(filepath.Join(mnt, "b", "k"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, werr := f.Write(bytes.Repeat([]byte("new"), 4<<20)) // > one chunk: a flush happens inside; larger than old
	cerr := f.Close()
	if !errors.Is(werr, syscall.ENOSPC) && !errors.Is(cerr, syscall.ENOSPC) {
		t.Fatalf("write %v, close %v: want ENOSPC from one of them", werr, cerr)
	}
	fd.Full.Store(false)
	// The old version, at once: over the object layer, and through the
	// mount (size and bytes) as soon as the failed close has returned.
	if o, err := l.Head(ctx, org.ID, "b", "k"); err != nil || o.Size != int64(len(old)) {
		t.Fatalf("after a failed write the stored object is %v (%v), want the old %d bytes", o, err, len(old))
	}
	if fi, err := os.Stat(filepath.Join(mnt, "b", "k")); err != nil || fi.Size() != int64(len(old)) {
		t.Fatalf("stat right after a failed close: %v %v, want the old %d bytes", fi, err, len(old))
	}
	got, err := os.ReadFile(filepath.Join(mnt, "b", "k"))
	if err != nil || !bytes.Equal(got, old) {
		t.Fatalf("after a failed write the file has %d bytes (%v), want the old %d", len(got), err, len(old))
	}
}
