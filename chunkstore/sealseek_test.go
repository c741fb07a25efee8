package chunkstore

import (
	"bytes"
	"crypto/rand"
	"io"
	"testing"
)

// TestSealReaderSeek: a remote backend hashes the body, rewinds and sends
// it, and resends it on a retry; every pass must yield the same bytes.
func TestSealReaderSeek(t *testing.T) {
	var key [32]byte
	rand.Read(key[:])
	for _, n := range []int{0, 1, 1000, 3*1024 + 7} {
		p := make([]byte, n)
		rand.Read(p)
		h := header{segSize: 1024, plen: int64(n)}
		rand.Read(h.salt[:])
		raw := h.marshal()
		c, err := newSegmentCipher(&key, ID{1}, &h, raw[:])
		if err != nil {
			t.Fatal(err)
		}
		r := &sealReader{c: c, h: &h, p: p, all: p, pending: raw[:], n: h.segments()}
		if r.Size() != h.sealedSize() {
			t.Fatalf("Size %d, want %d", r.Size(), h.sealedSize())
		}
		first, err := io.ReadAll(r)
		if err != nil || int64(len(first)) != r.Size() {
			t.Fatalf("first pass: %d bytes, %v", len(first), err)
		}
		for _, off := range []int64{0, 1, int64(HeaderSize), r.Size() / 2, r.Size()} {
			if got, err := r.Seek(off, io.SeekStart); err != nil || got != off {
				t.Fatalf("Seek(%d) = %d, %v", off, got, err)
			}
			if cur, _ := r.Seek(0, io.SeekCurrent); cur != off {
				t.Fatalf("position after Seek(%d) is %d", off, cur)
			}
			rest, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(rest, first[off:]) {
				t.Fatalf("n=%d: after Seek(%d): %d bytes differ, %v", n, off, len(rest), err)
			}
		}
		if end, err := r.Seek(0, io.SeekEnd); err != nil || end != r.Size() {
			t.Fatalf("Seek end = %d, %v", end, err)
		}
	}
}
