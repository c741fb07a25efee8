package chunkstore

import (
	"crypto/hmac"
	"crypto/sha256"
)

// SetSegmentSize makes s write chunks with small segments, so tests can
// cover every segment boundary with a few hundred bytes. Readers take the
// segment size from the header, so such chunks read back normally.
func SetSegmentSize(s *Store, n int) { s.segSize = int64(n) }

// SumV1 is a chunk id as format version 1 of chunk ids made it (HMAC-SHA-256
// under the id key, the same for every org), for tests of stores written
// before ids were keyed per org.
func SumV1(s *Store, p []byte) ID {
	m := hmac.New(sha256.New, s.keys.ID[:])
	m.Write(p)
	var id ID
	m.Sum(id[:0])
	return id
}
