package pgkv

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"excloud.dev/buckets/catalog/kv"
	"excloud.dev/buckets/catalog/kv/kvtest"
	"excloud.dev/buckets/internal/pgtest"
)

// BenchmarkEngine measures the engine alone on the test server (fsync off:
// the figures bound the engine's round trips and sealing, not a disk):
// single-key writes and reads from 32 goroutines, each its own
// transaction, and a full listing.
func BenchmarkEngine(b *testing.B) {
	ctx := context.Background()
	e := open(b, pgtest.DB(b), Options{MaxConns: 32})
	value := make([]byte, 300) // about a small object's manifest
	var written atomic.Int64
	key := func(i int64) []byte { return fmt.Appendf(nil, "o/%012d", i) }

	b.Run("Set32", func(b *testing.B) {
		b.SetParallelism(max(1, 32/runtimeProcs()))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				k := key(written.Add(1))
				if err := kvtest.Update(ctx, e, func(tx kv.Txn) error { return tx.Set(k, value) }); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("Get32", func(b *testing.B) {
		n := written.Load()
		if n == 0 {
			b.Skip("nothing written")
		}
		var next atomic.Int64
		b.SetParallelism(max(1, 32/runtimeProcs()))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				k := key(next.Add(1)%n + 1)
				if err := e.View(ctx, func(r kv.Reader) error { _, err := r.Get(k); return err }); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("List", func(b *testing.B) {
		n := 100_000
		if testing.Short() {
			n = 2_000
		}
		for i := 0; i < n; i += 1000 {
			if err := kvtest.Update(ctx, e, func(tx kv.Txn) error {
				for j := i; j < min(i+1000, n); j++ {
					if err := tx.Set(fmt.Appendf(nil, "l/%09d", j), value); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		for b.Loop() {
			seen := 0
			if err := e.View(ctx, func(r kv.Reader) error {
				it := r.Iterate(kv.IterOptions{Prefix: []byte("l/"), Prefetch: 1000})
				for it.Seek(nil); it.Valid(); it.Next() {
					if _, err := it.Value(); err != nil {
						return err
					}
					seen++
				}
				return it.Close()
			}); err != nil {
				b.Fatal(err)
			}
			if seen != n {
				b.Fatalf("listed %d keys, want %d", seen, n)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "keys/s")
	})
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
