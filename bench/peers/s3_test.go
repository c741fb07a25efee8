package peers

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/internal/excdtest"
)

type s3Target struct {
	name string
	c    *s3.Client
}

func mustBucket(tb testing.TB, c *s3.Client, name string) {
	tb.Helper()
	_, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)})
	var owned interface{ ErrorCode() string }
	if err != nil && !(errors.As(err, &owned) && owned.ErrorCode() == "BucketAlreadyOwnedByYou") {
		tb.Fatal(err)
	}
}

// s3Rows runs the S3 workloads on excd and versitygw (posix backend on the
// same disk), each workload on both in turn, round after round, with the
// same client: aws-sdk-go-v2 with default settings, region us-east-1,
// path style, payload signed over http (internal/testutil.S3).
func s3Rows(b *testing.B, vgwBin string, rounds int) []*Row {
	ctx := context.Background()
	targets := []s3Target{
		{"excd", excdtest.Start(b, excdtest.Options{DataDir: b.TempDir()}).S3()},
		{"versitygw", startVersityGW(b, vgwBin, b.TempDir())},
	}
	for _, tg := range targets {
		mustBucket(b, tg.c, "bench")
	}

	const smallClients, mediumClients = 32, 16
	perSmall := sized(100, 2)
	perMedium := sized(40, 2)
	bigSize := int64(sized(256, 4)) << 20
	// The large object: pseudo-random bytes, stored once on each target
	// before the rounds; every round GETs it (from the page cache on both).
	big := make([]byte, bigSize)
	rand.NewChaCha8([32]byte{1}).Read(big)
	for _, tg := range targets {
		_, err := tg.c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String("big"),
			Body: bytes.NewReader(big), ContentLength: aws.Int64(bigSize)})
		must(b, err)
	}
	big = nil

	// phase runs op for clients × per keys on clients goroutines and
	// returns operations per second.
	phase := func(clients, per int, op func(key string) error) float64 {
		var failed atomic.Int64
		var mu sync.Mutex
		var first error
		el := timeIt(func() {
			var wg sync.WaitGroup
			for w := range clients {
				wg.Go(func() {
					for i := range per {
						if err := op(fmt.Sprintf("%d/%d", w, i)); err != nil {
							if failed.Add(1) == 1 {
								mu.Lock()
								first = err
								mu.Unlock()
							}
						}
					}
				})
			}
			wg.Wait()
		})
		if n := failed.Load(); n > 0 {
			b.Fatalf("%d of %d requests failed, the first: %v", n, clients*per, first)
		}
		return float64(clients*per) / el.Seconds()
	}
	small := make([]byte, 4096)
	var seq atomic.Int64
	getRow := &Row{Name: fmt.Sprintf("S3: 4 KiB GET, %d clients", smallClients), Unit: "/s", Goal: 1.5}
	headRow := &Row{Name: fmt.Sprintf("S3: 4 KiB HEAD, %d clients", smallClients), Unit: "/s", Goal: 1.5}
	putRow := &Row{Name: fmt.Sprintf("S3: 4 KiB PUT, %d clients", smallClients), Unit: "/s", Goal: 1.5}
	put64Row := &Row{Name: fmt.Sprintf("S3: 64 KiB PUT, %d clients", mediumClients), Unit: "/s", Goal: 1}
	bigRow := &Row{Name: fmt.Sprintf("S3: %d MiB GET, one stream", bigSize>>20), Unit: "MB/s", Goal: 1}
	type step struct {
		row *Row
		run func(c *s3.Client, prefix string) float64
	}
	steps := []step{
		{putRow, func(c *s3.Client, prefix string) float64 {
			return phase(smallClients, perSmall, func(k string) error {
				_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String(prefix + "s/" + k),
					Body: bytes.NewReader(small), ContentLength: aws.Int64(int64(len(small)))})
				return err
			})
		}},
		{getRow, func(c *s3.Client, prefix string) float64 {
			return phase(smallClients, perSmall, func(k string) error {
				out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bench"), Key: aws.String(prefix + "s/" + k)})
				if err != nil {
					return err
				}
				n, err := io.Copy(io.Discard, out.Body)
				out.Body.Close()
				if err == nil && n != int64(len(small)) {
					err = fmt.Errorf("GET %s: %d bytes", k, n)
				}
				return err
			})
		}},
		{headRow, func(c *s3.Client, prefix string) float64 {
			return phase(smallClients, perSmall, func(k string) error {
				_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bench"), Key: aws.String(prefix + "s/" + k)})
				return err
			})
		}},
		{put64Row, func(c *s3.Client, prefix string) float64 {
			return phase(mediumClients, perMedium, func(k string) error {
				p := make([]byte, 64<<10)
				// Distinct contents, so that nothing deduplicates.
				binary.LittleEndian.PutUint64(p, uint64(seq.Add(1)))
				_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String(prefix + "m/" + k),
					Body: bytes.NewReader(p), ContentLength: aws.Int64(int64(len(p)))})
				return err
			})
		}},
		{bigRow, func(c *s3.Client, prefix string) float64 {
			// 1 MiB reads, as transfer managers do; io.Discard is hidden
			// behind a plain Writer so CopyBuffer uses the buffer.
			buf := make([]byte, 1<<20)
			sink := struct{ io.Writer }{io.Discard}
			var n int64
			el := timeIt(func() {
				out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bench"), Key: aws.String("big")})
				must(b, err)
				n, err = io.CopyBuffer(sink, out.Body, buf)
				out.Body.Close()
				must(b, err)
			})
			if n != bigSize {
				b.Fatalf("GET big: %d bytes of %d", n, bigSize)
			}
			return float64(n) / el.Seconds() / 1e6
		}},
	}
	for r := range rounds {
		for _, s := range steps {
			for _, tg := range targets {
				s.row.Add(tg.name, s.run(tg.c, fmt.Sprintf("r%d/", r)))
			}
		}
		b.Logf("S3 round %d done, load %s", r+1, loadavg())
	}
	return []*Row{put64Row, bigRow, getRow, headRow, putRow}
}
