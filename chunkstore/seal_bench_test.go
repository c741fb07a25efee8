package chunkstore

import (
	"bytes"
	"io"
	"testing"
)

// BenchmarkSealChunk is the CPU part of a chunk write (keyed id, per-chunk
// key, sealing every segment) with no backend, to tell CPU from disk cost.
func BenchmarkSealChunk(b *testing.B) {
	k, _ := DeriveKeys(bytes.Repeat([]byte{1}, MasterKeySize))
	s := &Store{keys: k, segSize: SegmentSize}
	p := make([]byte, MaxChunkSize)
	buf := make([]byte, 128<<10)
	b.SetBytes(MaxChunkSize)
	for b.Loop() {
		id := s.Sum("obench", p)
		h := header{segSize: SegmentSize, plen: MaxChunkSize}
		raw := h.marshal()
		c, err := newSegmentCipher(&k.Seal, id, &h, raw[:])
		if err != nil {
			b.Fatal(err)
		}
		r := &sealReader{c: c, h: &h, p: p, pending: raw[:], n: h.segments()}
		if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf); err != nil {
			b.Fatal(err)
		}
	}
}
