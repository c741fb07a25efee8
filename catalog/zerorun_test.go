package catalog

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"excloud.dev/buckets/chunkstore"
)

// A hole is one zero-run extent whatever its size; values with one are
// version 2, values without keep version 1's bytes.
func TestZeroRunEncoding(t *testing.T) {
	sparse := manifest("s", 1)
	sparse.Extents = append(sparse.Extents, ZeroRun(4<<40), Extent{Chunk: chunk(2), Length: 10})
	sparse.Size += 4<<40 + 10
	enc := encodeManifest(sparse)
	if enc[0] != manifestV2 {
		t.Fatalf("manifest with a zero run has version %d, want %d", enc[0], manifestV2)
	}
	got, err := decodeManifest(enc)
	if err != nil || !reflect.DeepEqual(got, sparse) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if len(got.Chunks()) != 2 {
		t.Fatalf("Chunks() = %v: a zero run references no chunk", got.Chunks())
	}
	if head, err := decodeManifestHead(enc); err != nil || head.Size != sparse.Size {
		t.Fatalf("head = %+v, %v", head, err)
	}

	dense := manifest("d", 1, 2)
	if enc := encodeManifest(dense); enc[0] != manifestV1 {
		t.Fatalf("manifest without zero runs has version %d, want %d", enc[0], manifestV1)
	}

	// No v1 writer produced a zero id: in a v1 value it is damage.
	v1 := bytes.Clone(enc)
	v1[0] = manifestV1
	if _, err := decodeManifest(v1); !errors.Is(err, errCorrupt) {
		t.Fatalf("v1 manifest with a zero id: %v, want corrupt", err)
	}

	p := &UploadPart{Number: 1, Size: 1 << 30, Extents: []Extent{ZeroRun(1 << 30)}}
	pe := encodePart(p)
	if pe[0] != partV2 {
		t.Fatalf("part with a zero run has version %d", pe[0])
	}
	if gp, err := decodePart(pe); err != nil || !reflect.DeepEqual(gp, p) {
		t.Fatalf("part round trip: %+v, %v", gp, err)
	}
	pe[0] = partV1
	if _, err := decodePart(pe); !errors.Is(err, errCorrupt) {
		t.Fatalf("v1 part with a zero id: %v, want corrupt", err)
	}
}

// Storing and replacing a sparse manifest counts only its real chunks.
func TestZeroRunRefCounts(t *testing.T) {
	db, b := newTestBucket(t)
	m := manifest("s", 1)
	m.Extents = append(m.Extents, ZeroRun(1<<40))
	m.Size += 1 << 40
	mustPut(t, db, b, "sparse", m)
	if n := refCount(t, db, 1); n != 1 {
		t.Fatalf("chunk 1 count %d, want 1", n)
	}
	if n, err := db.RefCount(ctx, chunkstore.ID{}); err != nil || n != 0 {
		t.Fatalf("zero id count %d, %v; want none", n, err)
	}
	got, err := db.Object(ctx, b.ID, "sparse")
	if err != nil || !reflect.DeepEqual(got.Extents, m.Extents) {
		t.Fatalf("stored extents %+v, %v", got, err)
	}
	if _, err := db.DeleteObject(ctx, b, "sparse"); err != nil {
		t.Fatal(err)
	}
	if n := refCount(t, db, 1); n != 0 {
		t.Fatalf("chunk 1 count %d after delete, want 0", n)
	}
}
