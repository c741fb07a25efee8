// Package seeded makes the reproducible content that the test harnesses
// upload and check: any byte of a seed's stream is computed from the seed
// and its position alone, so a checker names a version by its seed instead
// of keeping its bytes, and checks a full or ranged read of it at any
// offset.
package seeded

import "encoding/binary"

// Word is the 8 bytes at word index w of seed's stream (bytes 8w..8w+7,
// little endian): splitmix64 of seed+(w+1)·γ, a counter-based generator,
// so a position costs about a nanosecond and needs none before it. Seed 0
// is all zeros, which the crash harness uses for holes.
func Word(seed, w uint64) uint64 {
	if seed == 0 {
		return 0
	}
	z := seed + (w+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Fill writes seed's bytes at positions [pos, pos+len(p)) into p.
func Fill(p []byte, seed uint64, pos int64) {
	for len(p) > 0 {
		w := uint64(pos) / 8
		if r := pos % 8; r != 0 || len(p) < 8 {
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], Word(seed, w))
			n := copy(p, b[r:])
			p, pos = p[n:], pos+int64(n)
			continue
		}
		n := len(p) / 8
		for i := range n {
			binary.LittleEndian.PutUint64(p[8*i:], Word(seed, w+uint64(i)))
		}
		p, pos = p[8*n:], pos+int64(8*n)
	}
}

// Bytes is n bytes of reproducible, incompressible test content that
// differs per seed, so two seeds never deduplicate by accident. It is the
// stream of seed+1: callers count seeds from 0, whose own stream is zeros.
func Bytes(seed uint64, n int) []byte {
	p := make([]byte, n)
	Fill(p, seed+1, 0)
	return p
}
