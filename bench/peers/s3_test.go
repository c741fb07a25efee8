package peers

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/internal/excdtest"
)

type s3Target struct {
	name string
	c    *s3.Client
	pid  int // the server's, for its CPU time
}

func mustBucket(tb testing.TB, c *s3.Client, name string) {
	tb.Helper()
	_, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)})
	var owned interface{ ErrorCode() string }
	if err != nil && !(errors.As(err, &owned) && owned.ErrorCode() == "BucketAlreadyOwnedByYou") {
		tb.Fatal(err)
	}
}

// serverCPU holds, after s3Rows, a line per S3 row with each server's CPU
// time (user + system, /proc/PID/stat: 10 ms ticks) per request or per
// GiB, round by round.
var serverCPU []string

// s3Rows runs the S3 workloads on excd and versitygw (posix backend on the
// same disk), each workload on both in turn, round after round, with the
// same client: aws-sdk-go-v2 with default settings, region us-east-1,
// path style, payload signed over http (internal/testutil.S3).
func s3Rows(b *testing.B, vgwBin string, rounds int) []*Row {
	serverCPU = nil
	ctx := context.Background()
	excd := excdtest.Start(b, excdtest.Options{DataDir: b.TempDir()})
	vgwC, vgwPid := startVersityGW(b, vgwBin, b.TempDir())
	targets := []s3Target{
		{"excd", excd.S3(), excd.Pid()},
		{"versitygw", vgwC, vgwPid},
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
	// units is how many of what the server's CPU is reported per
	// (requests, or GiB for the large GET) one run of a row does.
	units := map[*Row]float64{putRow: float64(smallClients * perSmall), getRow: float64(smallClients * perSmall),
		headRow: float64(smallClients * perSmall), put64Row: float64(mediumClients * perMedium), bigRow: float64(bigSize) / (1 << 30)}
	// The servers' CPU per unit, each round's: what a row costs each
	// side, which the load of the machine moves far less than a rate.
	cpu := map[string][]time.Duration{}
	for r := range rounds {
		for _, s := range steps {
			for _, tg := range targets {
				c0 := procCPU(tg.pid)
				s.row.Add(tg.name, s.run(tg.c, fmt.Sprintf("r%d/", r)))
				k := s.row.Name + "\x00" + tg.name
				cpu[k] = append(cpu[k], time.Duration(float64(procCPU(tg.pid)-c0)/units[s.row]))
			}
		}
		b.Logf("S3 round %d done, load %s", r+1, loadavg())
	}
	for _, s := range steps {
		unit := "µs per request"
		if s.row == bigRow {
			unit = "ms per GiB"
		}
		var cells []string
		for _, tg := range targets {
			var fs []string
			for _, d := range cpu[s.row.Name+"\x00"+tg.name] {
				if s.row == bigRow {
					fs = append(fs, fmt.Sprintf("%.0f", float64(d)/float64(time.Millisecond)))
				} else {
					fs = append(fs, fmt.Sprintf("%.0f", float64(d)/float64(time.Microsecond)))
				}
			}
			cells = append(cells, tg.name+" "+strings.Join(fs, " / "))
		}
		serverCPU = append(serverCPU, fmt.Sprintf("%s, %s by round: %s", s.row.Name, unit, strings.Join(cells, "; ")))
	}
	return []*Row{put64Row, bigRow, getRow, headRow, putRow}
}
