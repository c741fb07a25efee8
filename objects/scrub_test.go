package objects_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/chunkstore/local"
	"excloud.dev/buckets/objects"
)

func chunkPath(t *testing.T, e *env, id chunkstore.ID) string {
	t.Helper()
	b, err := local.New(filepath.Join(e.dir, "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	return b.Path(id.String())
}

// TestScrub builds a healthy store (two objects sharing chunks, a multipart
// part), checks that scrub passes it, then corrupts one chunk and removes
// another and checks that scrub names exactly those.
func TestScrub(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	big := randBytes(chunk+100, 1) // two chunks
	m := e.put(t, "big", big)
	e.put(t, "dup", big) // same chunks: counts of 2
	other := e.put(t, "other", randBytes(chunk/2, 2))
	e.put(t, "small", []byte("inline")) // no chunk at all
	up, err := e.l.CreateMultipart(ctx, e.org, "b", "mp", objects.PutOptions{}.Meta)
	if err != nil {
		t.Fatal(err)
	}
	part := randBytes(chunk/4, 3)
	if _, err := e.l.UploadPart(ctx, e.org, "b", "mp", up.ID, 1, bytes.NewReader(part), objects.PartOptions{Size: int64(len(part))}); err != nil {
		t.Fatal(err)
	}

	rep, err := e.l.Scrub(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Damaged() {
		t.Fatalf("healthy store reported damaged: %+v", rep)
	}
	if rep.Chunks != 4 || rep.Objects != 4 || rep.Parts != 1 || rep.ReferencedIDs != 4 {
		t.Fatalf("scrub counted chunks=%d objects=%d parts=%d referenced=%d, want 4 4 1 4", rep.Chunks, rep.Objects, rep.Parts, rep.ReferencedIDs)
	}
	if want := int64(len(big) + chunk/2 + len(part)); rep.ChunkBytes != want {
		t.Fatalf("scrub authenticated %d bytes, want %d", rep.ChunkBytes, want)
	}

	// Flip one byte in the middle of the first chunk of "big".
	corrupt := m.Extents[0].Chunk
	p := chunkPath(t, e, corrupt)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x40
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// Remove the chunk of "other": its manifest now dangles.
	gone := other.Extents[0].Chunk
	if err := os.Remove(chunkPath(t, e, gone)); err != nil {
		t.Fatal(err)
	}

	rep, err = e.l.Scrub(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Damaged() {
		t.Fatal("scrub missed the damage")
	}
	if len(rep.Corrupt) != 1 || rep.Corrupt[0].Chunk != corrupt {
		t.Errorf("corrupt = %+v, want exactly %s", rep.Corrupt, corrupt)
	}
	if len(rep.Missing) != 1 || rep.Missing[0].Chunk != gone || rep.Missing[0].Ref != "b/other" {
		t.Errorf("missing = %+v, want exactly %s used by b/other", rep.Missing, gone)
	}
	if len(rep.Mismatched) != 0 {
		t.Errorf("mismatched = %+v, want none (counts were not touched)", rep.Mismatched)
	}
}

// TestScrubBodies: objects kept in the catalog as bodies (and a copy
// sharing one) scrub clean: their counts match and nothing is reported
// missing for want of a chunk file.
func TestScrubBodies(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.put(t, "a", randBytes(64<<10, 1))
	e.put(t, "b", randBytes(objects.BodyMax, 2))
	if _, err := e.l.Copy(ctx, e.org, "b", "a", "b", "a-copy", objects.CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	rep, err := e.l.Scrub(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Damaged() || rep.Chunks != 0 || rep.ReferencedIDs != 0 || rep.Objects != 3 || rep.Bodies != 2 {
		t.Fatalf("scrub of bodies: %+v", rep)
	}
	if want := int64(64<<10 + objects.BodyMax); rep.BodyBytes != want {
		t.Fatalf("scrub read %d bytes of bodies, want %d", rep.BodyBytes, want)
	}
}

// TestBodiesStayOutOfManifests: the manifests a put, an open and a mount
// write hand out carry no body bytes (the mount keeps them per inode), while
// the object still reads back whole.
func TestBodiesStayOutOfManifests(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := randBytes(100<<10, 9)
	if m := e.put(t, "k", data); m.Inline != nil || m.BodyID.IsZero() {
		t.Fatalf("put's manifest: %d inline bytes, body %v", len(m.Inline), m.BodyID)
	}
	o, err := e.l.Open(ctx, e.org, "b", "k")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.Manifest.Inline != nil {
		t.Fatalf("open's manifest carries %d body bytes", len(o.Manifest.Inline))
	}
	if got, err := e.get(t, "k", 0, -1); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %d bytes, %v", len(got), err)
	}
	w, err := e.l.OpenWriter(ctx, e.org, "b", "k", false)
	if err != nil {
		t.Fatal(err)
	}
	if b := w.Base(); b == nil || b.Inline != nil {
		t.Fatalf("writer's base: %+v", b)
	}
	if _, err := w.WriteAt(ctx, []byte("edit"), 10); err != nil {
		t.Fatal(err)
	}
	m, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Inline != nil || w.Base().Inline != nil || m.BodyID.IsZero() {
		t.Fatalf("committed manifest: %d inline bytes, body %v", len(m.Inline), m.BodyID)
	}
	copy(data[10:], "edit")
	if got, err := e.get(t, "k", 0, -1); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("edited file read back: %d bytes, %v", len(got), err)
	}
}
