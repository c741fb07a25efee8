package chunkstore

// SetSegmentSize makes s write chunks with small segments, so tests can
// cover every segment boundary with a few hundred bytes. Readers take the
// segment size from the header, so such chunks read back normally.
func SetSegmentSize(s *Store, n int) { s.segSize = int64(n) }
