package chunkstore

import (
	"encoding/hex"
	"fmt"
)

// IDSize is the length in bytes of a chunk id.
const IDSize = 32

// ID names a chunk: HMAC-SHA-256 of its plaintext under its org's chunk-id
// key (docs/format.md, "Chunk ids"; chunks written before version 2 keep ids
// under the store-wide id key). Equal plaintext in one org gives an equal
// id, so a chunk is stored once per org; without the key the id says nothing
// about the content.
type ID [IDSize]byte

// String returns the id as 64 lowercase hex digits, the form used in chunk
// file names.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the zero value (no chunk).
func (id ID) IsZero() bool { return id == ID{} }

// ParseID parses the 64-hex-digit form returned by String.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*IDSize {
		return id, fmt.Errorf("chunkstore: parse id %q: want %d hex digits", s, 2*IDSize)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("chunkstore: parse id %q: %w", s, err)
	}
	return id, nil
}
