package objects_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"testing"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/objects"
)

// Two orgs storing the same bytes get separate chunks; one org storing them
// twice gets one set.
func TestDedupIsPerOrg(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	other := e.newOrg(t, "other")
	data := randBytes(2*chunk, 50)
	e.put(t, "a", data)
	if n := e.chunkFiles(t); n != 2 {
		t.Fatalf("%d chunk files after one upload of 2 chunks", n)
	}
	for _, k := range []string{"a", "b"} {
		if _, err := e.l.Put(ctx, other, "b", k, bytes.NewReader(data), objects.PutOptions{Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		if n := e.chunkFiles(t); n != 4 {
			t.Fatalf("%d chunk files after the other org stored %s, want 4: dedup across orgs", n, k)
		}
	}
	e.put(t, "b", data)
	if n := e.chunkFiles(t); n != 4 {
		t.Fatalf("%d chunk files after a second upload in the first org, want 4: no dedup inside an org", n)
	}
	// The file system door writes with the same per-org ids.
	w, err := e.l.OpenWriter(ctx, other, "b", "c", true)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteAt(ctx, data, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.chunkFiles(t); n != 4 {
		t.Fatalf("%d chunk files after a file write of the same bytes in the other org, want 4", n)
	}
}

// A store written before chunk ids were keyed per org (chunk ids version 1:
// one id per content for the whole store, shared across orgs) keeps
// reading, and its reference counts keep freeing exactly what is no longer
// used. New writes of the same bytes get per-org ids beside the old ones.
func TestVersion1ChunkIDsStillRead(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	other := e.newOrg(t, "other")
	data := randBytes(2*chunk, 51)

	// What the previous version wrote: chunk files named by HMAC-SHA-256
	// under the id key, and in each org a manifest referencing them.
	keys, err := chunkstore.DeriveKeys(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	var exts []catalog.Extent
	for off := 0; off < len(data); off += chunk {
		p := data[off : off+chunk]
		mac := hmac.New(sha256.New, keys.ID[:])
		mac.Write(p)
		id := chunkstore.ID(mac.Sum(nil))
		if err := e.store.Put(ctx, id, p); err != nil {
			t.Fatal(err)
		}
		exts = append(exts, catalog.Extent{Chunk: id, Length: int64(len(p))})
	}
	for _, org := range []string{e.org, other} {
		b, err := e.db.Bucket(ctx, org, "b")
		if err != nil {
			t.Fatal(err)
		}
		m := &catalog.Manifest{Size: int64(len(data)), ETag: quotedMD5(data), Extents: exts}
		if _, err := e.db.PutObject(ctx, b, "old", m, catalog.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	read := func(org, key string) {
		t.Helper()
		o, err := e.l.Open(ctx, org, "b", key)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		r, err := o.NewReader(ctx, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var got bytes.Buffer
		if _, err := got.ReadFrom(r); err != nil || !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("%s/%s: err %v equal %v", org, key, err, bytes.Equal(got.Bytes(), data))
		}
	}
	read(e.org, "old")
	read(other, "old")

	// Writing the same bytes again makes per-org chunks beside the old.
	e.put(t, "new", data)
	if n := e.chunkFiles(t); n != 4 {
		t.Fatalf("%d chunk files after a new write of old bytes, want 2 old + 2 new", n)
	}
	// The old chunks are counted once per referencing manifest, across orgs.
	if err := e.l.Delete(ctx, other, "b", "old"); err != nil {
		t.Fatal(err)
	}
	if st, err := e.l.GC(ctx); err != nil || st.Deleted != 0 {
		t.Fatalf("GC with an old chunk still referenced by one org: %+v %v", st, err)
	}
	read(e.org, "old")
	if err := e.l.Delete(ctx, e.org, "b", "old"); err != nil {
		t.Fatal(err)
	}
	if st, err := e.l.GC(ctx); err != nil || st.Deleted != 2 || e.chunkFiles(t) != 2 {
		t.Fatalf("GC after the last old reference went: %+v %v, %d files", st, err, e.chunkFiles(t))
	}
	read(e.org, "new")
}

// newOrg adds an org with a bucket "b" and returns its id.
func (e *env) newOrg(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	org, err := e.db.CreateOrg(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.CreateBucket(ctx, org.ID, "b"); err != nil {
		t.Fatal(err)
	}
	return org.ID
}
