package chunkstore_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc64"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"excloud.dev/buckets/chunkstore"
)

// Benchmarks measure; they assert nothing about speed. Results and the
// targets they are compared with are in docs/benchmarks.md.
//
// Besides wall-clock MB/s, each reports MB/cpu-s: bytes per second of CPU
// time the process used (user + system, all threads). On a machine shared
// with other work, wall-clock figures swing with the load; CPU-time figures
// do not, so ratios between them are the ones to compare.

// cpuMeter starts measuring the process's CPU time; the returned func
// reports bytesPerOp·b.N per CPU-second.
func cpuMeter(b *testing.B, bytesPerOp int64) func() {
	start := cpuTime()
	return func() {
		if d := cpuTime() - start; d > 0 {
			b.ReportMetric(float64(bytesPerOp)*float64(b.N)/d.Seconds()/1e6, "MB/cpu-s")
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const benchChunks = 64 // 64 × 4 MiB = 256 MiB per operation

// chunkSeq makes every benchmark chunk distinct, so that Put never dedups.
var chunkSeq atomic.Uint64

func uniqueChunk(buf []byte) {
	binary.LittleEndian.PutUint64(buf, chunkSeq.Add(1))
}

// forEachChunk runs fn for chunks 0..n-1 on workers goroutines, each with
// its own 4 MiB buffer, as the object layer pipelines a stream's chunks.
func forEachChunk(b *testing.B, n, workers int, bufs [][]byte, fn func(buf []byte, i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(bufs[w], i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func benchBuffers(workers int) [][]byte {
	bufs := make([][]byte, workers)
	for i := range bufs {
		bufs[i] = pseudoRandom(uint64(100+i), chunkstore.MaxChunkSize)
	}
	return bufs
}

// BenchmarkStoreWrite: Sum + Put (seal, write, fsync, link, dir fsync) of
// 256 MiB per op.
// The 4×GOMAXPROCS variant shows what overlapping fsyncs buys when the disk,
// not the CPU, is the limit.
func BenchmarkStoreWrite(b *testing.B) {
	for _, workers := range []int{1, runtime.GOMAXPROCS(0), 4 * runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("goroutines=%d", workers), func(b *testing.B) {
			s, _ := newStore(b, 0)
			bufs := benchBuffers(workers)
			b.SetBytes(benchChunks * chunkstore.MaxChunkSize)
			b.ResetTimer()
			defer cpuMeter(b, benchChunks*chunkstore.MaxChunkSize)()
			for range b.N {
				forEachChunk(b, benchChunks, workers, bufs, func(buf []byte, _ int) error {
					uniqueChunk(buf)
					return s.Put(ctx, s.Sum(testOrg, buf), buf)
				})
				b.StopTimer()
				deleteAll(b, s)
				b.StartTimer()
			}
		})
	}
}

func deleteAll(b *testing.B, s *chunkstore.Store) {
	var ids []chunkstore.ID
	s.List(ctx, func(id chunkstore.ID, _ int64) error { ids = append(ids, id); return nil })
	for _, id := range ids {
		if err := s.Delete(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStoreRead: verified full reads of 256 MiB of chunks from files
// in the page cache.
func BenchmarkStoreRead(b *testing.B) {
	s, _ := newStore(b, 0)
	workers := runtime.GOMAXPROCS(0)
	bufs := benchBuffers(workers)
	ids := make([]chunkstore.ID, benchChunks)
	forEachChunk(b, benchChunks, workers, bufs, func(buf []byte, i int) error {
		uniqueChunk(buf)
		ids[i] = s.Sum(testOrg, buf)
		return s.Put(ctx, ids[i], buf)
	})
	for _, workers := range []int{1, workers} {
		b.Run(fmt.Sprintf("goroutines=%d", workers), func(b *testing.B) {
			b.SetBytes(benchChunks * chunkstore.MaxChunkSize)
			defer cpuMeter(b, benchChunks*chunkstore.MaxChunkSize)()
			for range b.N {
				forEachChunk(b, benchChunks, workers, bufs, func(buf []byte, i int) error {
					r, err := s.Open(ctx, ids[i], 0, -1)
					if err != nil {
						return err
					}
					defer r.Close()
					// Read into a caller buffer, as the S3 and FUSE paths do.
					_, err = io.ReadFull(r, buf)
					return err
				})
			}
		})
	}
}

// BenchmarkRandomRead reads 4 KiB at random 4 KiB-aligned offsets (the
// kernel's page reads through FUSE) of a 1 GiB object stored as 256 chunks,
// and reports what each read costs the backend and the cipher.
func BenchmarkRandomRead(b *testing.B) {
	const nChunks = 256
	s, _ := newStore(b, 0)
	workers := runtime.GOMAXPROCS(0)
	bufs := benchBuffers(workers)
	ids := make([]chunkstore.ID, nChunks)
	forEachChunk(b, nChunks, workers, bufs, func(buf []byte, i int) error {
		uniqueChunk(buf)
		ids[i] = s.Sum(testOrg, buf)
		return s.Put(ctx, ids[i], buf)
	})
	b.Run("4KiB", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		buf := make([]byte, 4096)
		const pages = nChunks * chunkstore.MaxChunkSize / 4096
		before := s.Stats()
		b.SetBytes(4096)
		b.ResetTimer()
		cpu := cpuMeter(b, 4096)
		for range b.N {
			off := rng.Int64N(pages) * 4096
			r, err := s.Open(ctx, ids[off/chunkstore.MaxChunkSize], off%chunkstore.MaxChunkSize, 4096)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(r, buf); err != nil {
				b.Fatal(err)
			}
			r.Close()
		}
		b.StopTimer()
		cpu()
		after := s.Stats()
		b.ReportMetric(float64(after.BytesReadFromBackend-before.BytesReadFromBackend)/float64(b.N), "backend-B/read")
		b.ReportMetric(float64(after.BytesDecrypted-before.BytesDecrypted)/float64(b.N), "decrypted-B/read")
	})
}

// BenchmarkStage measures, on one core, the stages a chunk passes through,
// as the yardstick for the store's throughput.
func BenchmarkStage(b *testing.B) {
	seg := pseudoRandom(1, chunkstore.SegmentSize)
	chunk := pseudoRandom(2, chunkstore.MaxChunkSize)
	key := make([]byte, 32)
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, aead.NonceSize())
	aad := make([]byte, 90)
	sealed := aead.Seal(nil, nonce, seg, aad)
	b.Run("AES-256-GCM-seal-64KiB", func(b *testing.B) {
		dst := make([]byte, 0, len(sealed))
		b.SetBytes(int64(len(seg)))
		defer cpuMeter(b, int64(len(seg)))()
		for b.Loop() {
			aead.Seal(dst[:0], nonce, seg, aad)
		}
	})
	b.Run("AES-256-GCM-open-64KiB", func(b *testing.B) {
		dst := make([]byte, 0, len(seg))
		b.SetBytes(int64(len(seg)))
		defer cpuMeter(b, int64(len(seg)))()
		for b.Loop() {
			if _, err := aead.Open(dst[:0], nonce, sealed, aad); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, h := range []struct {
		name string
		new  func() hash.Hash
	}{
		{"SHA-256-4MiB", sha256.New},
		{"MD5-4MiB", md5.New},
		{"HMAC-SHA-256-4MiB", func() hash.Hash { return hmac.New(sha256.New, key) }},
		{"CRC64-NVME-4MiB", func() hash.Hash { return crc64.New(crc64.MakeTable(0x9a6c9329ac4bc9b5)) }},
	} {
		b.Run(h.name, func(b *testing.B) {
			d := h.new()
			b.SetBytes(int64(len(chunk)))
			defer cpuMeter(b, int64(len(chunk)))()
			for b.Loop() {
				d.Reset()
				d.Write(chunk)
				d.Sum(nil)
			}
		})
	}
}

// BenchmarkDiskWrite is the disk's own figure for what a chunk write asks
// of it: create a file, write 4 MiB, fsync, fsync the directory, remove
// it. No chunk store code runs.
func BenchmarkDiskWrite(b *testing.B) {
	dir := b.TempDir()
	p := pseudoRandom(3, chunkstore.MaxChunkSize)
	b.SetBytes(chunkstore.MaxChunkSize)
	defer cpuMeter(b, chunkstore.MaxChunkSize)()
	for i := 0; b.Loop(); i++ {
		name := filepath.Join(dir, fmt.Sprint(i))
		f, err := os.Create(name)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Write(p); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		d, _ := os.Open(dir)
		d.Sync()
		d.Close()
		os.Remove(name)
	}
}
