package catalog

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// benchKey names key i of a bucket: 1000 "directories" of 1000 files (fewer
// in small buckets), so a delimiter listing has common prefixes that each
// hide many keys.
func benchKey(i int) string { return fmt.Sprintf("dir%04d/file%07d.jpg", i/1000, i) }

// loadBucket writes n objects straight into Badger with a WriteBatch (the
// same keys and values PutObject writes, without a transaction per key).
func loadBucket(b *testing.B, db *DB, bucket Bucket, n int) {
	b.Helper()
	wb := db.bdb().NewWriteBatch()
	defer wb.Cancel()
	m := manifest("0123456789abcdef0123456789abcdef", 1)
	m.ModTime = time.Now().UTC()
	val := encodeManifest(m)
	for i := range n {
		if err := wb.Set(objectKey(bucket.ID, benchKey(i)), val); err != nil {
			b.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkList compares a 1000-key page from the middle of a 1M-key bucket
// with the same page of a 1k-key bucket: the cost must not depend on the
// bucket's size. Run with:
//
//	go test -run '^$' -bench . -benchtime 2s ./catalog/
func BenchmarkList(b *testing.B) {
	db, err := Open(Options{Dir: b.TempDir(), EncryptionKey: testKey()})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	org, _ := db.CreateOrg(ctx, "bench")
	small, _ := db.CreateBucket(ctx, org.ID, "small")
	big, _ := db.CreateBucket(ctx, org.ID, "big")
	// A third bucket between them, so neither sits at the end of the key space.
	after, _ := db.CreateBucket(ctx, org.ID, "after")
	start := time.Now()
	loadBucket(b, db, small, 1000)
	loadBucket(b, db, big, 1_000_000)
	loadBucket(b, db, after, 1000)
	b.Logf("loaded 1,002,000 keys in %v", time.Since(start).Round(time.Millisecond))

	page := func(bucket Bucket, o ListOptions, want int) func(*testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				r, err := db.List(ctx, bucket.ID, o)
				if err != nil {
					b.Fatal(err)
				}
				if n := len(r.Objects) + len(r.CommonPrefixes); n != want {
					b.Fatalf("page of %d, want %d", n, want)
				}
			}
			b.ReportMetric(float64(want)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		}
	}
	b.Run("page/1k-bucket", page(small, ListOptions{StartAfter: benchKey(499), MaxKeys: 1000}, 500))
	b.Run("page/1k-bucket-full", page(small, ListOptions{MaxKeys: 1000}, 1000))
	b.Run("page/1M-bucket-middle", page(big, ListOptions{StartAfter: benchKey(500_000), MaxKeys: 1000}, 1000))
	// 1000 common prefixes, each hiding 1000 keys: seeking past them keeps
	// the page at 1000 seeks instead of 1M steps.
	b.Run("delimiter/1M-bucket", page(big, ListOptions{Delimiter: "/", MaxKeys: 1000}, 1000))
	b.Run("delimiter/1k-bucket", page(small, ListOptions{Delimiter: "/", MaxKeys: 1000}, 1))

	b.Run("full-listing/1M-bucket", func(b *testing.B) {
		total := 0
		for b.Loop() {
			o := ListOptions{MaxKeys: 1000}
			for {
				r, err := db.List(ctx, big.ID, o)
				if err != nil {
					b.Fatal(err)
				}
				total += len(r.Objects)
				if !r.IsTruncated {
					break
				}
				o.ContinueAfter = r.Next
			}
		}
		if total != 1_000_000*b.N {
			b.Fatalf("listed %d keys", total)
		}
		b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "keys/s")
	})
}

// BenchmarkPutObject measures PutObject with SyncWrites on, serially and from
// parallel writers (whose commits share fsyncs).
func BenchmarkPutObject(b *testing.B) {
	db, err := Open(Options{Dir: b.TempDir(), EncryptionKey: testKey(), SyncWrites: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	org, _ := db.CreateOrg(ctx, "bench")
	bucket, _ := db.CreateBucket(ctx, org.ID, "b")
	var n atomic.Int64
	put := func(b *testing.B) {
		i := n.Add(1)
		if _, err := db.PutObject(ctx, bucket, benchKey(int(i)), manifest("e", int(i%64)), Condition{}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			put(b)
		}
	})
	b.Run("parallel-16", func(b *testing.B) {
		b.SetParallelism(8) // × GOMAXPROCS (2) = 16 writers
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				put(b)
			}
		})
	})
}

// BenchmarkMountCommit measures the catalog commits the FUSE mount makes
// (WithoutSync: durable at the next fsync), one at a time as a single
// process's file operations arrive: a put, a rename and a delete.
func BenchmarkMountCommit(b *testing.B) {
	db, err := Open(Options{Dir: b.TempDir(), EncryptionKey: testKey(), SyncWrites: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	org, _ := db.CreateOrg(ctx, "bench")
	bucket, _ := db.CreateBucket(ctx, org.ID, "b")
	c := WithoutSync(ctx)
	// Each step works on the keys the one before it left: put k, rename k
	// to renamed/k, delete renamed/k.
	steps := []struct {
		name string
		op   func(i int) error
	}{
		{"put", func(i int) error {
			_, err := db.PutObject(c, bucket, benchKey(i), manifest("e", i%64), Condition{})
			return err
		}},
		{"rename", func(i int) error { return db.RenameObject(c, bucket, benchKey(i), "renamed/"+benchKey(i)) }},
		{"delete", func(i int) error {
			_, err := db.DeleteObject(c, bucket, "renamed/"+benchKey(i))
			return err
		}},
	}
	done := make([]int, len(steps))
	for s, step := range steps {
		b.Run(step.name, func(b *testing.B) {
			for b.Loop() {
				if s > 0 && done[s] >= done[s-1] {
					b.Skip("ran out of keys")
				}
				done[s]++
				if err := step.op(done[s]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNames measures the FUSE mount's lookup (catalog.Names) in a
// bucket whose keys are spread over several on-disk tables, as after an
// untar of a source tree: the cost must not grow with the tables that do not
// hold the name.
func BenchmarkNames(b *testing.B) {
	db, err := Open(Options{Dir: b.TempDir(), EncryptionKey: testKey(), memTableSize: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	org, _ := db.CreateOrg(ctx, "bench")
	bucket, _ := db.CreateBucket(ctx, org.ID, "b")
	const n = 20000
	c := WithoutSync(ctx)
	small := &Manifest{ETag: `"e"`, Size: 4096, Inline: make([]byte, 4096)} // inline, like most source files
	for i := range n {
		if _, err := db.PutObject(c, bucket, benchKey(i), small, Condition{}); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%d tables", len(db.bdb().Tables()))
	var i int
	for b.Loop() {
		i = (i + 7919) % n
		ns, err := db.Names(ctx, bucket.ID, benchKey(i))
		if err != nil || ns[0].Object == nil {
			b.Fatal(ns, err)
		}
	}
}
