package objects_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/objects"
)

func (e *env) part(t *testing.T, key, id string, n int, data []byte) *catalog.UploadPart {
	t.Helper()
	p, err := e.l.UploadPart(context.Background(), e.org, "b", key, id, n, bytes.NewReader(data), objects.PartOptions{Size: int64(len(data))})
	if err != nil {
		t.Fatalf("part %d: %v", n, err)
	}
	return p
}

func TestMultipartComplete(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	up, err := e.l.CreateMultipart(ctx, e.org, "b", "big", catalog.Manifest{ContentType: "video/x-test", Meta: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	p1 := randBytes(objects.MinPartSize, 1)
	p2old := randBytes(objects.MinPartSize+3, 2)
	p2 := randBytes(objects.MinPartSize+1, 3)
	p3 := []byte("x")
	// Parts arrive in any order; a part uploaded again replaces the first.
	e.part(t, "big", up.ID, 3, p3)
	e.part(t, "big", up.ID, 2, p2old)
	e1 := e.part(t, "big", up.ID, 1, p1)
	e2 := e.part(t, "big", up.ID, 2, p2)
	e3 := e.part(t, "big", up.ID, 3, p3)
	if e1.ETag != quotedMD5(p1) {
		t.Errorf("part etag %s, want %s", e1.ETag, quotedMD5(p1))
	}
	_, parts, more, err := e.l.ListParts(ctx, e.org, "b", "big", up.ID, 0, 2)
	if err != nil || !more || len(parts) != 2 || parts[0].Number != 1 {
		t.Fatalf("list parts page: %v %v %v", parts, more, err)
	}
	ups, _, err := e.l.ListUploads(ctx, e.org, "b", "", "", "", 10)
	if err != nil || len(ups) != 1 || ups[0].ID != up.ID {
		t.Fatalf("list uploads: %v %v", ups, err)
	}
	chunksBefore := e.chunkFiles(t)
	m, err := e.l.CompleteMultipart(ctx, e.org, "b", "big", up.ID, []objects.CompletePart{
		{1, e1.ETag}, {2, strings.Trim(e2.ETag, `"`)}, {3, e3.ETag}, // quoted or not
	}, objects.CompleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e.chunkFiles(t) != chunksBefore {
		t.Error("completion wrote chunk files")
	}
	h := md5.New()
	for _, p := range [][]byte{p1, p2, p3} {
		s := md5.Sum(p)
		h.Write(s[:])
	}
	if want := fmt.Sprintf("\"%x-3\"", h.Sum(nil)); m.ETag != want {
		t.Errorf("etag %s, want %s", m.ETag, want)
	}
	if m.ContentType != "video/x-test" || m.Meta["k"] != "v" || len(m.Parts) != 3 {
		t.Errorf("completed manifest %+v", m)
	}
	want := append(append(append([]byte{}, p1...), p2...), p3...)
	if got, err := e.get(t, "big", 0, -1); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("completed object: %v", err)
	}
	// The replaced part's chunks are garbage; the object's are not.
	st, err := e.l.GC(ctx)
	if err != nil || st.Deleted != 2 {
		t.Fatalf("GC after completion: %+v %v (want the replaced part's 2 chunks)", st, err)
	}
	if got, _ := e.get(t, "big", 0, -1); !bytes.Equal(got, want) {
		t.Fatal("GC damaged the completed object")
	}
	if _, err := e.l.CompleteMultipart(ctx, e.org, "b", "big", up.ID, []objects.CompletePart{{1, e1.ETag}}, objects.CompleteOptions{}); !errors.Is(err, catalog.ErrNoSuchUpload) {
		t.Errorf("complete twice: %v", err)
	}
}

func TestMultipartErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	up, err := e.l.CreateMultipart(ctx, e.org, "b", "k", catalog.Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	small := e.part(t, "k", up.ID, 1, []byte("small"))
	big := e.part(t, "k", up.ID, 2, randBytes(objects.MinPartSize, 5))
	cases := []struct {
		name  string
		parts []objects.CompletePart
		want  error
	}{
		{"no parts", nil, objects.ErrInvalidPart},
		{"descending", []objects.CompletePart{{2, big.ETag}, {1, small.ETag}}, objects.ErrInvalidPartOrder},
		{"repeated", []objects.CompletePart{{2, big.ETag}, {2, big.ETag}}, objects.ErrInvalidPartOrder},
		{"missing part", []objects.CompletePart{{2, big.ETag}, {3, big.ETag}}, objects.ErrInvalidPart},
		{"wrong etag", []objects.CompletePart{{2, `"00000000000000000000000000000000"`}}, objects.ErrInvalidPart},
		{"small part not last", []objects.CompletePart{{1, small.ETag}, {2, big.ETag}}, objects.ErrEntityTooSmall},
	}
	for _, c := range cases {
		if _, err := e.l.CompleteMultipart(ctx, e.org, "b", "k", up.ID, c.parts, objects.CompleteOptions{}); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	for _, n := range []int{0, objects.MaxParts + 1} {
		if _, err := e.l.UploadPart(ctx, e.org, "b", "k", up.ID, n, bytes.NewReader(nil), objects.PartOptions{Size: 0}); !errors.Is(err, objects.ErrInvalidPartNumber) {
			t.Errorf("part number %d: %v", n, err)
		}
	}
	if _, err := e.l.UploadPart(ctx, e.org, "b", "other-key", up.ID, 1, bytes.NewReader(nil), objects.PartOptions{Size: 0}); !errors.Is(err, catalog.ErrNoSuchUpload) {
		t.Errorf("part for another key: %v", err)
	}
	if _, err := e.l.UploadPart(ctx, e.org, "b", "k", "nosuchupload", 1, bytes.NewReader(nil), objects.PartOptions{Size: 0}); !errors.Is(err, catalog.ErrNoSuchUpload) {
		t.Errorf("part for a missing upload: %v", err)
	}
	wrong := md5.Sum([]byte("no"))
	if _, err := e.l.UploadPart(ctx, e.org, "b", "k", up.ID, 3, bytes.NewReader([]byte("abc")), objects.PartOptions{Size: 3, ContentMD5: wrong[:]}); !errors.Is(err, objects.ErrBadDigest) {
		t.Errorf("part with bad md5: %v", err)
	}
	// Failed completions changed nothing: the upload still completes.
	if _, err := e.l.CompleteMultipart(ctx, e.org, "b", "k", up.ID, []objects.CompletePart{{2, big.ETag}}, objects.CompleteOptions{}); err != nil {
		t.Fatalf("valid completion after failed ones: %v", err)
	}
}

func TestMultipartAbortFreesChunks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	up, err := e.l.CreateMultipart(ctx, e.org, "b", "k", catalog.Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	e.part(t, "k", up.ID, 1, randBytes(objects.MinPartSize, 7))
	if err := e.l.AbortMultipart(ctx, e.org, "b", "k", up.ID); err != nil {
		t.Fatal(err)
	}
	if st, err := e.l.GC(ctx); err != nil || st.Deleted != 2 || e.chunkFiles(t) != 0 {
		t.Fatalf("GC after abort: %+v %v", st, err)
	}
	if err := e.l.AbortMultipart(ctx, e.org, "b", "k", up.ID); !errors.Is(err, catalog.ErrNoSuchUpload) {
		t.Errorf("abort twice: %v", err)
	}
}

func TestUploadPartCopyIsMetadataOnly(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src := randBytes(3*chunk, 11)
	e.put(t, "src", src)
	e.put(t, "tiny", []byte("inline source"))
	up, err := e.l.CreateMultipart(ctx, e.org, "b", "dst", catalog.Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	before := e.chunkFiles(t)
	// A range that straddles a chunk boundary.
	a, n := int64(chunk-100), int64(objects.MinPartSize)
	p1, err := e.l.UploadPartCopy(ctx, e.org, "b", "dst", up.ID, 1, "b", "src", a, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.chunkFiles(t) != before {
		t.Error("part copy of a chunked source wrote chunk files")
	}
	p2, err := e.l.UploadPartCopy(ctx, e.org, "b", "dst", up.ID, 2, "b", "tiny", 0, -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]int64{{0, 3*chunk + 1}, {5, math.MaxInt64}, {math.MaxInt64, math.MaxInt64}, {math.MaxInt64, 1}} {
		if _, err := e.l.UploadPartCopy(ctx, e.org, "b", "dst", up.ID, 3, "b", "src", r[0], r[1], nil); !errors.Is(err, objects.ErrInvalidRange) {
			t.Errorf("copy range %d+%d past the end: %v", r[0], r[1], err)
		}
	}
	if _, err := e.l.CompleteMultipart(ctx, e.org, "b", "dst", up.ID, []objects.CompletePart{{1, p1.ETag}, {2, p2.ETag}}, objects.CompleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{}, src[a:a+n]...), "inline source"...)
	if got, err := e.get(t, "dst", 0, -1); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("object from copied parts: %v", err)
	}
	// Deleting the source keeps the copy whole.
	if err := e.l.Delete(ctx, e.org, "b", "src"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := e.get(t, "dst", 0, -1); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("copy after source deleted and GC: %v", err)
	}
}
