package bench

import (
	"context"
	"crypto/md5"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/catalog/kv/pgkv"
	"excloud.dev/buckets/internal/pgtest"
)

// The catalog engines side by side: what a small object's PUT, GET and a
// listing cost in the catalog alone, on Badger and on PostgreSQL, so that
// the S3 figures (BenchmarkEngines) can be split into what the engine
// bounds and what the rest of the daemon does. A 4 KiB object is kept
// inline in its manifest, so its PUT is one catalog transaction and its
// GET one read: at this size the catalog is most of the work.

// engineCase is one catalog to measure.
type engineCase struct {
	name string
	open func(b *testing.B) *catalog.DB
}

// quiet is the catalogs' logger: their warnings are not the figures.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// durablePG starts the benchmark's PostgreSQL server: fsync and
// synchronous_commit on, as a production server runs, since Badger syncs
// its commits too (pgtest's default server does not sync at all).
func durablePG(b *testing.B) *pgtest.Server {
	return pgtest.StartWith(b, pgtest.Options{Durable: true})
}

// catalogEngines are Badger as excd opens it (synced writes) and pgkv
// with the pool excd gives it (MaxConns 0: pgkv.DefaultMaxConns) and with
// one connection per client.
func catalogEngines(srv *pgtest.Server) []engineCase {
	key := make([]byte, 32)
	pg := func(maxConns int32) func(b *testing.B) *catalog.DB {
		return func(b *testing.B) *catalog.DB {
			eng, err := pgkv.Open(context.Background(), srv.NewDB(b), pgkv.Options{Key: key, MaxConns: maxConns, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			db, err := catalog.OpenEngine(eng, quiet)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			return db
		}
	}
	return []engineCase{
		{"badger", func(b *testing.B) *catalog.DB {
			db, err := catalog.Open(catalog.Options{Dir: filepath.Join(b.TempDir(), "catalog"),
				EncryptionKey: key, SyncWrites: true, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			return db
		}},
		{"pg", pg(0)},
		{"pg32", pg(32)},
	}
}

// smallManifest is the manifest of a 4 KiB object, inline as objects.Put
// writes it.
func smallManifest(body []byte) *catalog.Manifest {
	sum := md5.Sum(body)
	return &catalog.Manifest{Size: int64(len(body)), ETag: fmt.Sprintf(`"%x"`, sum), ModTime: time.Now().UTC(),
		Inline: body, Checksums: map[string]string{"CRC32": "AAAAAA=="}}
}

// concurrently runs op(w, i) for i in [0, per) on each of clients workers
// and returns the rate and the 99th percentile latency; it fails b on the
// first error.
func concurrently(b *testing.B, clients, per int, op func(w, i int) error) (rate float64, p99 time.Duration) {
	b.Helper()
	lat := make([][]time.Duration, clients)
	var failed atomic.Int64
	var first atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				t0 := time.Now()
				if err := op(w, i); err != nil {
					failed.Add(1)
					first.CompareAndSwap(nil, err)
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d operations failed, first: %v", n, clients*per, first.Load())
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	return float64(len(all)) / el.Seconds(), all[len(all)*99/100]
}

// BenchmarkCatalogEngines: 32 goroutines PUT (a 4 KiB inline manifest,
// synced), then GET (one read of the manifest), then one goroutine lists a
// 100k-key bucket in pages of 1000, on each engine in turn, phase by
// phase, so a slow moment of the shared machine does not land on one
// engine only. Reports each engine's ops/s and p99, and PostgreSQL's rate
// over Badger's.
func BenchmarkCatalogEngines(b *testing.B) {
	const clients = 32
	per, listKeys := sized(250, 5), sized(100_000, 2_000)
	ctx := context.Background()
	cases := catalogEngines(durablePG(b))
	dbs := make([]*catalog.DB, len(cases))
	bks := make([]catalog.Bucket, len(cases))
	bigs := make([]catalog.Bucket, len(cases))
	for i, c := range cases {
		dbs[i] = c.open(b)
		org, err := dbs[i].CreateOrg(ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if bks[i], err = dbs[i].CreateBucket(ctx, org.ID, "small"); err != nil {
			b.Fatal(err)
		}
		big, err := dbs[i].CreateBucket(ctx, org.ID, "big")
		bigs[i] = big
		if err != nil {
			b.Fatal(err)
		}
		// The listed bucket is filled without syncs (they are not what
		// is measured), the way loadOffline fills it.
		t0 := time.Now()
		m := smallManifest(nil)
		nctx := catalog.WithoutSync(ctx)
		concurrently(b, clients, listKeys/clients+1, func(w, j int) error {
			if k := j*clients + w; k < listKeys {
				_, err := dbs[i].PutObject(nctx, big, fmt.Sprintf("k%08d", k), m, catalog.Condition{})
				return err
			}
			return nil
		})
		if err := dbs[i].Sync(ctx); err != nil {
			b.Fatal(err)
		}
		b.Logf("%s: loaded %d keys in %v", c.name, listKeys, time.Since(t0).Round(time.Millisecond))
	}
	body := make([]byte, 4096)
	rates := map[string][]float64{}
	for b.Loop() {
		for _, phase := range []struct {
			name string
			run  func(i int) (float64, time.Duration)
		}{
			{"put", func(i int) (float64, time.Duration) {
				return concurrently(b, clients, per, func(w, j int) error {
					_, err := dbs[i].PutObject(ctx, bks[i], fmt.Sprintf("o/%d/%d", w, j), smallManifest(body), catalog.Condition{})
					return err
				})
			}},
			{"get", func(i int) (float64, time.Duration) {
				return concurrently(b, clients, per, func(w, j int) error {
					m, err := dbs[i].Object(ctx, bks[i].ID, fmt.Sprintf("o/%d/%d", w, j))
					if err == nil && len(m.Inline) != len(body) {
						err = fmt.Errorf("got %d bytes", len(m.Inline))
					}
					return err
				})
			}},
			{"list", func(i int) (float64, time.Duration) {
				t0 := time.Now()
				n, after := 0, ""
				var slowest time.Duration
				for {
					p0 := time.Now()
					res, err := dbs[i].List(ctx, bigs[i].ID, catalog.ListOptions{ContinueAfter: after})
					if err != nil {
						b.Fatal(err)
					}
					slowest = max(slowest, time.Since(p0))
					n += len(res.Objects)
					if !res.IsTruncated {
						break
					}
					after = res.Next
				}
				if n != listKeys {
					b.Fatalf("%s: listed %d keys, want %d", cases[i].name, n, listKeys)
				}
				return float64(n) / time.Since(t0).Seconds(), slowest
			}},
		} {
			for i, c := range cases {
				rate, p99 := phase.run(i)
				rates[c.name+"-"+phase.name] = append(rates[c.name+"-"+phase.name], rate)
				unit := phase.name + "/s"
				if phase.name == "list" {
					unit = "list-keys/s"
				}
				b.ReportMetric(rate, c.name+"-"+unit)
				// For the listing: its slowest page.
				b.ReportMetric(float64(p99.Microseconds())/1000, c.name+"-"+phase.name+"-p99-ms")
			}
		}
	}
	for _, phase := range []string{"put", "get", "list"} {
		for _, c := range cases[1:] {
			b.ReportMetric(mean(rates[c.name+"-"+phase])/mean(rates["badger-"+phase]), c.name+"/badger-"+phase)
		}
	}
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(max(1, len(xs)))
}
