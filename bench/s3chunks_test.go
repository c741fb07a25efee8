package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/internal/excdtest"
)

// BenchmarkChunkBackends: the same daemon with its chunks in its data
// directory (local), in an S3 object store (s3: a second excd on this
// machine, so the figures include that server's own work: it authenticates,
// seals and stores every chunk object again), and in the store behind a
// read cache (s3+cache). Each reports one client's PUT and GET of a large
// object (GET twice: the second is what the read cache serves), and 32
// clients' PUTs and GETs of 4 KiB objects (kept inline in their manifests,
// so the chunk store is not involved: a control) and of 64 KiB objects
// (one chunk each), 50 per client.
//
// The large object is 1 GiB; EXC_BENCH_CHUNKS_SIZE (bytes) sizes it down on
// a slow machine, and -short makes it 8 MiB.
func BenchmarkChunkBackends(b *testing.B) {
	size := objectSize()
	if v := os.Getenv("EXC_BENCH_CHUNKS_SIZE"); v != "" && !testing.Short() {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	for _, cfg := range []string{"local", "s3", "s3+cache"} {
		b.Run(cfg, func(b *testing.B) {
			opts := excdtest.Options{DataDir: b.TempDir()}
			if cfg != "local" {
				cs := excdtest.StartChunkStore(b)
				opts.Args, opts.Env = cs.Args("bench"), cs.Env()
				if cfg == "s3+cache" {
					opts.Args = append(opts.Args, "--chunk-cache", b.TempDir(), "--chunk-cache-size", strconv.FormatInt(2*size+1<<30, 10))
				}
			}
			d := &daemon{excdtest.Start(b, opts)}
			c := d.client()
			mustBucket(b, c, "bench")
			ctx := context.Background()
			for b.Loop() {
				t0 := time.Now()
				if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String("big"),
					Body: newGen(7, size), ContentLength: aws.Int64(size)}); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(size)/1e6/time.Since(t0).Seconds(), "put-MB/s")
				buf := make([]byte, 1<<20)
				sink := struct{ io.Writer }{io.Discard}
				for _, pass := range []string{"get1", "get2"} {
					t0 = time.Now()
					out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bench"), Key: aws.String("big")})
					if err != nil {
						b.Fatal(err)
					}
					n, err := io.CopyBuffer(sink, out.Body, buf)
					out.Body.Close()
					if err != nil || n != size {
						b.Fatalf("%s: %d bytes, %v", pass, n, err)
					}
					b.ReportMetric(float64(size)/1e6/time.Since(t0).Seconds(), pass+"-MB/s")
				}
				for _, objSize := range []int{4 << 10, 64 << 10} {
					smallPhases(b, c, objSize, sized(50, 5))
				}
			}
		})
	}
}

// smallPhases: 32 clients PUT, then GET, perClient objects of objSize
// each, distinct contents; reports ops/s per phase.
func smallPhases(b *testing.B, c *s3.Client, objSize, perClient int) {
	const clients = 32
	ctx := context.Background()
	var seq atomic.Int64
	prefix := fmt.Sprintf("s%d/", objSize)
	run := func(name string, op func(key string) error) {
		var failed atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for w := range clients {
			wg.Go(func() {
				for i := range perClient {
					if err := op(fmt.Sprintf("%s%d/%d", prefix, w, i)); err != nil {
						failed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		b.ReportMetric(float64(clients*perClient)/time.Since(start).Seconds(), fmt.Sprintf("%s%dk/s", name, objSize>>10))
		if failed.Load() > 0 {
			b.Errorf("%s %d KiB: %d failures", name, objSize>>10, failed.Load())
		}
	}
	run("put", func(k string) error {
		p := make([]byte, objSize)
		binary.LittleEndian.PutUint64(p, uint64(seq.Add(1)))
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String(k),
			Body: &sliceReader{p: p}, ContentLength: aws.Int64(int64(objSize))})
		return err
	})
	run("get", func(k string) error {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bench"), Key: aws.String(k)})
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, out.Body)
		out.Body.Close()
		return err
	})
}
