package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const gib = 1 << 30

// objectSize is the size of the large objects: 1 GiB, or 8 MiB under
// -short, which CI passes to run every benchmark once (-benchtime 1x) so
// that one that no longer compiles, panics or fails fails CI. Figures from
// -short runs mean nothing.
func objectSize() int64 {
	if testing.Short() {
		return 8 << 20
	}
	return gib
}

// sized is full, or short under -short (see objectSize).
func sized(full, short int) int {
	if testing.Short() {
		return short
	}
	return full
}

// BenchmarkPutObject1GiB is one client uploading one 1 GiB object.
func BenchmarkPutObject1GiB(b *testing.B) {
	d := startDaemon(b, b.TempDir())
	c := d.client()
	mustBucket(b, c, "bench")
	size := objectSize()
	b.SetBytes(size)
	i := 0
	for b.Loop() {
		i++
		_, err := c.PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String("bench"), Key: aws.String(fmt.Sprintf("put%d", i)),
			Body: newGen(int64(i), size), ContentLength: aws.Int64(size),
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetObject1GiB is one client downloading one 1 GiB object.
func BenchmarkGetObject1GiB(b *testing.B) {
	d := startDaemon(b, b.TempDir())
	c := d.client()
	mustBucket(b, c, "bench")
	ctx := context.Background()
	size := objectSize()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String("g"),
		Body: newGen(1, size), ContentLength: aws.Int64(size)}); err != nil {
		b.Fatal(err)
	}
	// The client reads 1 MiB at a time, as transfer managers do. io.Discard
	// is hidden behind a plain Writer: as a ReaderFrom it would make
	// CopyBuffer ignore buf and read 8 KiB at a time, and the client's
	// syscalls, on the same two cores, would be what is measured.
	buf := make([]byte, 1<<20)
	sink := struct{ io.Writer }{io.Discard}
	b.SetBytes(size)
	for b.Loop() {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bench"), Key: aws.String("g")})
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(sink, out.Body, buf)
		out.Body.Close()
		if err != nil || n != size {
			b.Fatalf("got %d bytes: %v", n, err)
		}
	}
}

// BenchmarkCopyObject1GiB is a server-side copy of a 1 GiB object.
func BenchmarkCopyObject1GiB(b *testing.B) {
	d := startDaemon(b, b.TempDir())
	c := d.client()
	mustBucket(b, c, "bench")
	ctx := context.Background()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String("src"),
		Body: newGen(2, objectSize()), ContentLength: aws.Int64(objectSize())}); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("bench"), Key: aws.String(fmt.Sprintf("copy%d", i)),
			CopySource: aws.String("bench/src")}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSmallObjects: 32 concurrent clients, 4 KiB objects, PUT then GET
// then HEAD. Each PUT is acknowledged only once durable. Reports ops/s and
// p99 latency of each phase; then the same PUTs of 64 KiB objects (past the
// inline size: each is a chunk file).
func BenchmarkSmallObjects(b *testing.B) {
	const clients = 32
	perClient := sized(250, 5)
	d := startDaemon(b, b.TempDir())
	c := d.client()
	mustBucket(b, c, "small")
	ctx := context.Background()
	body := make([]byte, 4096)
	phase := func(name string, op func(key string) error) {
		lat := make([][]time.Duration, clients)
		var failed atomic.Int64
		start := time.Now()
		var wg sync.WaitGroup
		for w := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perClient {
					t0 := time.Now()
					if err := op(fmt.Sprintf("o/%d/%d", w, i)); err != nil {
						failed.Add(1)
					}
					lat[w] = append(lat[w], time.Since(t0))
				}
			}()
		}
		wg.Wait()
		el := time.Since(start)
		all := slices.Concat(lat...)
		slices.Sort(all)
		p99 := all[len(all)*99/100]
		b.ReportMetric(float64(len(all))/el.Seconds(), name+"/s")
		b.ReportMetric(float64(p99.Microseconds())/1000, name+"-p99-ms")
		if failed.Load() > 0 {
			b.Errorf("%s: %d failures", name, failed.Load())
		}
	}
	for b.Loop() {
		phase("put", func(k string) error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("small"), Key: aws.String(k),
				Body: &sliceReader{p: body}, ContentLength: aws.Int64(4096)})
			return err
		})
		phase("get", func(k string) error {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("small"), Key: aws.String(k)})
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, out.Body)
			out.Body.Close()
			return err
		})
		phase("head", func(k string) error {
			_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("small"), Key: aws.String(k)})
			return err
		})
		var seq atomic.Int64
		phase("put64k", func(k string) error {
			p := make([]byte, 64<<10)
			// Distinct contents, so that no chunk deduplicates.
			binary.LittleEndian.PutUint64(p, uint64(seq.Add(1)))
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("small"), Key: aws.String("m/" + k),
				Body: &sliceReader{p: p}, ContentLength: aws.Int64(int64(len(p)))})
			return err
		})
	}
}

// sliceReader is a seekable reader over a shared buffer, fresh per request.
type sliceReader struct {
	p   []byte
	off int64
}

func (r *sliceReader) Read(p []byte) (int, error) {
	if r.off >= int64(len(r.p)) {
		return 0, io.EOF
	}
	n := copy(p, r.p[r.off:])
	r.off += int64(n)
	return n, nil
}

func (r *sliceReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += r.off
	case io.SeekEnd:
		off += int64(len(r.p))
	}
	r.off = off
	return off, nil
}

// BenchmarkConcurrentUploadRSS: 16 clients each upload 1 GiB at once; reports
// the daemon's peak RSS.
func BenchmarkConcurrentUploadRSS(b *testing.B) {
	const clients = 16
	d := startDaemon(b, b.TempDir())
	c := d.client()
	mustBucket(b, c, "rss")
	size := objectSize()
	b.SetBytes(clients * size)
	for b.Loop() {
		var wg sync.WaitGroup
		for w := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("rss"),
					Key: aws.String(fmt.Sprintf("u%d", w)), Body: newGen(int64(100+w), size), ContentLength: aws.Int64(size)})
				if err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	b.ReportMetric(float64(d.peakRSS())/(1<<20), "peak-RSS-MiB")
}
