package objects_test

import (
	"context"
	"testing"
)

// BenchmarkScrub reports how fast scrub reads and authenticates chunk data
// (MB/s of plaintext), 64 MiB in 16 chunks.
func BenchmarkScrub(b *testing.B) {
	e := newEnv(b)
	const objs = 8
	for i := range objs {
		e.put(b, "o"+string(rune('a'+i)), randBytes(2*chunk, uint64(i)))
	}
	b.SetBytes(objs * 2 * chunk)
	b.ResetTimer()
	for b.Loop() {
		rep, err := e.l.Scrub(context.Background())
		if err != nil || rep.Damaged() || rep.Chunks != 2*objs {
			b.Fatalf("%+v %v", rep, err)
		}
	}
}
