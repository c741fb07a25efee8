package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/catalog/kv/pgkv"
	"excloud.dev/buckets/internal/excdtest"
	"excloud.dev/buckets/internal/pgtest"
)

// s3Engine is one excd measured by BenchmarkEngines: its catalog in its
// data directory (Badger) or in a PostgreSQL database (url).
type s3Engine struct {
	name, dir, url string
	d              *daemon
	c              *s3.Client
}

func (e *s3Engine) start(b *testing.B) {
	b.Helper()
	e.d = &daemon{excdtest.Start(b, excdtest.Options{DataDir: e.dir, Catalog: e.url})}
	e.c = e.d.client()
}

// openCatalog opens the catalog of e's stopped daemon, where the daemon
// keeps it: PostgreSQL values are sealed with the key excd derives from
// its master key.
func (e *s3Engine) openCatalog(b *testing.B) *catalog.DB {
	b.Helper()
	if e.url == "" {
		return excdtest.OpenCatalog(b, e.dir, quiet)
	}
	keys := excdtest.Keys(b, e.dir)
	eng, err := pgkv.Open(context.Background(), e.url, pgkv.Options{Key: keys.CatalogPG[:], Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	db, err := catalog.OpenEngine(eng, quiet)
	if err != nil {
		b.Fatal(err)
	}
	return db
}

// load adds n empty objects named k%08d to bucket through the catalog of
// e's stopped daemon, as loadOffline does, and starts the daemon again.
func (e *s3Engine) load(b *testing.B, bucket string, n int) {
	b.Helper()
	if err := e.d.Stop(); err != nil {
		b.Fatal(err)
	}
	db := e.openCatalog(b)
	ctx := catalog.WithoutSync(context.Background())
	key, err := db.AccessKey(ctx, excdtest.AccessKey)
	if err != nil {
		b.Fatal(err)
	}
	bk, err := db.Bucket(ctx, key.OrgID, bucket)
	if err != nil {
		// On PostgreSQL: the daemon created the bucket elsewhere, in a
		// daemon that ignored --catalog.
		b.Fatalf("%s: bucket %s not in the catalog the daemon was given: %v", e.name, bucket, err)
	}
	m := &catalog.Manifest{ETag: `"d41d8cd98f00b204e9800998ecf8427e"`, ModTime: time.Now().UTC(),
		Checksums: map[string]string{"CRC32": "AAAAAA=="}}
	spread(b, 32, n, func(i int) error {
		_, err := db.PutObject(ctx, bk, fmt.Sprintf("k%08d", i), m, catalog.Condition{})
		return err
	})
	if err := db.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	e.start(b)
}

// BenchmarkEngines: excd with its catalog on Badger and on PostgreSQL (a
// durable server: fsync and synchronous_commit on, as Badger syncs), side
// by side in one run: 32 aws-sdk-go-v2 clients PUT, then GET, then HEAD
// 4 KiB objects, and one client lists a 100k-key bucket (ListObjectsV2,
// pages of 1000). Each phase runs on one daemon then the other, so a slow
// moment of the shared machine does not land on one engine only. Reports
// each engine's rate and p99, and PostgreSQL's rate over Badger's (issue
// targets: PUT ≥ 0.5, GET and HEAD ≥ 0.7; listing ≥ 50k keys/s).
func BenchmarkEngines(b *testing.B) {
	const clients = 32
	per, listKeys := sized(250, 5), sized(100_000, 2_000)
	ctx := context.Background()
	// Badger means Badger here, whatever the environment points the test
	// suites at.
	b.Setenv(pgtest.CatalogEnv, "")
	srv := durablePG(b)
	// pg is excd as configured by default (pgkv.DefaultMaxConns
	// connections); pg4, with EXC_BENCH_POOL4=1, has pgxpool's own default
	// on this 2-core machine, max(4, NumCPU), set with pgx's
	// pool_max_conns in the URL, to show what the pool's size does for 32
	// clients (docs/benchmarks.md has its figures; it doubles the run).
	engines := []*s3Engine{
		{name: "badger", dir: b.TempDir()},
		{name: "pg", dir: b.TempDir(), url: srv.NewDB(b)},
	}
	if os.Getenv("EXC_BENCH_POOL4") != "" {
		engines = append(engines, &s3Engine{name: "pg4", dir: b.TempDir(), url: srv.NewDB(b) + "&pool_max_conns=4"})
	}
	for _, e := range engines {
		e.start(b)
		mustBucket(b, e.c, "small")
		mustBucket(b, e.c, "big")
		t0 := time.Now()
		e.load(b, "big", listKeys)
		b.Logf("%s: loaded %d keys through the catalog in %v", e.name, listKeys, time.Since(t0).Round(time.Millisecond))
	}
	body := make([]byte, 4096)
	type phase struct {
		name string
		op   func(c *s3.Client, key string) error
	}
	phases := []phase{
		{"put", func(c *s3.Client, k string) error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("small"), Key: aws.String(k),
				Body: &sliceReader{p: body}, ContentLength: aws.Int64(int64(len(body)))})
			return err
		}},
		{"get", func(c *s3.Client, k string) error {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("small"), Key: aws.String(k)})
			if err != nil {
				return err
			}
			n, err := io.Copy(io.Discard, out.Body)
			out.Body.Close()
			if err == nil && n != int64(len(body)) {
				err = fmt.Errorf("%s: got %d bytes", k, n)
			}
			return err
		}},
		{"head", func(c *s3.Client, k string) error {
			_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("small"), Key: aws.String(k)})
			return err
		}},
	}
	rates := map[string][]float64{}
	record := func(e *s3Engine, what, unit string, rate float64, ms float64, msName string) {
		rates[e.name+"-"+what] = append(rates[e.name+"-"+what], rate)
		b.ReportMetric(rate, e.name+"-"+unit)
		b.ReportMetric(ms, e.name+"-"+msName)
	}
	for b.Loop() {
		for _, ph := range phases {
			for _, e := range engines {
				cpu0, pg0 := e.d.cpuTime(), postgresCPU()
				rate, p99 := concurrently(b, clients, per, func(w, i int) error {
					return ph.op(e.c, fmt.Sprintf("o/%d/%d", w, i))
				})
				record(e, ph.name, ph.name+"/s", rate, float64(p99.Microseconds())/1000, ph.name+"-p99-ms")
				// CPU per request, which the machine's other work
				// disturbs far less than the rate: what each engine
				// costs excd and the database server.
				ops := float64(clients * per)
				b.ReportMetric(float64((e.d.cpuTime()-cpu0).Microseconds())/ops, e.name+"-"+ph.name+"-excd-cpu-us/op")
				b.ReportMetric(float64((postgresCPU()-pg0).Microseconds())/ops, e.name+"-"+ph.name+"-postgres-cpu-us/op")
			}
		}
		for _, e := range engines {
			t0 := time.Now()
			n := 0
			var slowest time.Duration
			p := s3.NewListObjectsV2Paginator(e.c, &s3.ListObjectsV2Input{Bucket: aws.String("big")})
			for p.HasMorePages() {
				p0 := time.Now()
				out, err := p.NextPage(ctx)
				if err != nil {
					b.Fatal(err)
				}
				slowest = max(slowest, time.Since(p0))
				n += len(out.Contents)
			}
			if n != listKeys {
				b.Fatalf("%s: listed %d keys, want %d", e.name, n, listKeys)
			}
			record(e, "list", "list-keys/s", float64(n)/time.Since(t0).Seconds(),
				float64(slowest.Microseconds())/1000, "list-page-max-ms")
		}
	}
	for _, what := range []string{"put", "get", "head", "list"} {
		for _, e := range engines[1:] {
			b.ReportMetric(mean(rates[e.name+"-"+what])/mean(rates["badger-"+what]), e.name+"/badger-"+what)
		}
	}
	for _, e := range engines {
		b.ReportMetric(float64(e.d.peakRSS())/(1<<20), e.name+"-peak-RSS-MiB")
	}
}
