package seeded

import (
	"bytes"
	"testing"
)

// Test content from Bytes is random for every seed, 0 included (a zero
// seed once gave all-zero "random" chunks that deduplicated), and differs
// between seeds.
func TestBytesRandomForEverySeed(t *testing.T) {
	zeros := make([]byte, 64)
	seen := map[string]uint64{}
	for seed := range uint64(16) {
		b := Bytes(seed, 64)
		if bytes.Equal(b, zeros) {
			t.Fatalf("Bytes(%d) is zeros", seed)
		}
		if other, dup := seen[string(b)]; dup {
			t.Fatalf("Bytes(%d) equals Bytes(%d)", seed, other)
		}
		seen[string(b)] = seed
		if !bytes.Equal(Bytes(seed, 10), b[:10]) {
			t.Fatalf("Bytes(%d) is not a prefix-stable stream", seed)
		}
	}
}
