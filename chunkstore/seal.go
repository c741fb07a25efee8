package chunkstore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// Chunk file layout, version 1 (docs/format.md, "Chunk files"):
//
//	chunk   = header || segment_0 || … || segment_(n-1)
//	header  = magic "EXCK" (4) || version 0x01 (1) || segment size (4, BE)
//	          || plaintext length (8, BE) || salt (32)
//	segment = AES-256-GCM(ciphertext || tag (16))
//
// n = max(1, ceil(plaintext length / segment size)): an empty chunk has one
// empty final segment, so that even it authenticates its header.
const (
	// FormatVersion is the chunk file format version written in the header.
	FormatVersion = 1
	// SegmentSize is the plaintext size of every segment but the last. A
	// 4 KiB random read decrypts at most one segment.
	SegmentSize = 64 << 10
	// SaltSize is the length of the random per-chunk salt in the header.
	SaltSize = 32
	// HeaderSize is the length of the chunk header in bytes.
	HeaderSize = len(chunkMagic) + 1 + 4 + 8 + SaltSize
	// TagSize is the GCM authentication tag appended to each segment.
	TagSize = 16
	// SegmentOverhead is what sealing adds to each segment.
	SegmentOverhead = TagSize

	// maxSegmentSize bounds the segment size a reader accepts from a header,
	// and so the memory one open chunk can make us allocate.
	maxSegmentSize = 1 << 20

	nonceSize = 12
	// labelSegmentKey derives each chunk's AEAD key from Keys.Seal and the
	// chunk's salt (docs/format.md, "Keys").
	labelSegmentKey = "excloud-buckets v1 chunk-seal segment-key"
	// aadSize = chunk id || header || segment index (8, BE) || final flag (1).
	aadSize = IDSize + HeaderSize + 8 + 1
)

const chunkMagic = "EXCK"

// ErrCorrupt reports a chunk file that fails authentication or does not
// parse: tampered, truncated, extended, swapped with another chunk's file, or
// damaged. Errors wrapping it name the chunk. Data that fails to verify is
// never returned.
var ErrCorrupt = errors.New("chunk is corrupt")

// ErrRange reports a read range outside the chunk's plaintext.
var ErrRange = errors.New("range outside chunk")

// header is the decoded fixed-size chunk header.
type header struct {
	segSize int64
	plen    int64
	salt    [SaltSize]byte
}

func (h *header) marshal() [HeaderSize]byte {
	var b [HeaderSize]byte
	copy(b[:], chunkMagic)
	b[4] = FormatVersion
	binary.BigEndian.PutUint32(b[5:9], uint32(h.segSize))
	binary.BigEndian.PutUint64(b[9:17], uint64(h.plen))
	copy(b[17:], h.salt[:])
	return b
}

// parseHeader decodes and sanity-checks a header. The header is only
// authenticated once a segment opens (it is part of every segment's AAD), so
// the checks here exist to bound what a forged header can make us do.
func parseHeader(b []byte) (header, error) {
	var h header
	if len(b) != HeaderSize {
		return h, fmt.Errorf("header is %d bytes, want %d: %w", len(b), HeaderSize, ErrCorrupt)
	}
	if string(b[:4]) != chunkMagic {
		return h, fmt.Errorf("bad magic %q: %w", b[:4], ErrCorrupt)
	}
	if b[4] != FormatVersion {
		return h, fmt.Errorf("unsupported format version %d: %w", b[4], ErrCorrupt)
	}
	seg := binary.BigEndian.Uint32(b[5:9])
	if seg == 0 || seg > maxSegmentSize {
		return h, fmt.Errorf("segment size %d out of range: %w", seg, ErrCorrupt)
	}
	plen := binary.BigEndian.Uint64(b[9:17])
	if plen > MaxChunkSize {
		return h, fmt.Errorf("plaintext length %d exceeds %d: %w", plen, MaxChunkSize, ErrCorrupt)
	}
	h.segSize, h.plen = int64(seg), int64(plen)
	copy(h.salt[:], b[17:])
	return h, nil
}

// segments is the number of segments in the chunk.
func (h *header) segments() int64 {
	if h.plen == 0 {
		return 1
	}
	return (h.plen + h.segSize - 1) / h.segSize
}

// plainLen is the plaintext length of segment i.
func (h *header) plainLen(i int64) int64 {
	return min(h.segSize, h.plen-i*h.segSize)
}

// segmentOffset is where segment i starts in the chunk file.
func (h *header) segmentOffset(i int64) int64 {
	return int64(HeaderSize) + i*(h.segSize+SegmentOverhead)
}

// sealedSize is the size of the whole chunk file.
func (h *header) sealedSize() int64 {
	return int64(HeaderSize) + h.plen + h.segments()*SegmentOverhead
}

// SealedSize is the size of the chunk file that Put writes for n bytes of
// plaintext.
func SealedSize(n int64) int64 {
	h := header{segSize: SegmentSize, plen: n}
	return h.sealedSize()
}

// segmentCipher seals and opens the segments of one chunk. Its AEAD key is
// derived from the seal key and the chunk's random salt, so the segment index
// can serve as the nonce: a nonce repeats under one key only if two chunks
// draw the same 256-bit salt.
type segmentCipher struct {
	aead  cipher.AEAD
	aad   [aadSize]byte
	nonce [nonceSize]byte
}

func newSegmentCipher(sealKey *[32]byte, id ID, h *header, rawHeader []byte) (*segmentCipher, error) {
	key, err := hkdf.Key(sha256.New, sealKey[:], h.salt[:], labelSegmentKey, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	c := &segmentCipher{aead: aead}
	copy(c.aad[:], id[:])
	copy(c.aad[IDSize:], rawHeader)
	return c, nil
}

// bind sets nonce and AAD for segment i. The AAD carries the chunk id (a file
// renamed to another chunk's name fails), the header (a changed length, segment
// size or salt fails), the index (reordered segments fail) and the final flag
// (a truncated or extended chunk fails at its new last segment).
func (c *segmentCipher) bind(i int64, final bool) {
	binary.BigEndian.PutUint64(c.nonce[4:], uint64(i))
	binary.BigEndian.PutUint64(c.aad[IDSize+HeaderSize:], uint64(i))
	c.aad[aadSize-1] = 0
	if final {
		c.aad[aadSize-1] = 1
	}
}

// seal appends the sealed segment i of plaintext p to dst.
func (c *segmentCipher) seal(dst, p []byte, i int64, final bool) []byte {
	c.bind(i, final)
	return c.aead.Seal(dst, c.nonce[:], p, c.aad[:])
}

// open appends the plaintext of sealed segment i to dst, which may be
// sealed[:0] to decrypt in place.
func (c *segmentCipher) open(dst, sealed []byte, i int64, final bool) ([]byte, error) {
	c.bind(i, final)
	p, err := c.aead.Open(dst, c.nonce[:], sealed, c.aad[:])
	if err != nil {
		return nil, fmt.Errorf("segment %d: authentication failed: %w", i, ErrCorrupt)
	}
	return p, nil
}
