package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// BenchmarkMediumObjects is issue 19's medium-object row: 16 clients PUT
// 4 KiB (for comparison), 64 KiB and then 128 KiB objects of distinct contents (nothing dedups),
// then GET the 64 KiB ones, then list them 1000 keys a page. Each PUT is
// acknowledged only once durable. Reports ops/s per phase and listed
// keys/s.
func BenchmarkMediumObjects(b *testing.B) {
	const clients = 16
	perClient := sized(200, 4)
	d := startDaemon(b, b.TempDir())
	c := d.client()
	mustBucket(b, c, "medium")
	ctx := context.Background()
	var seq atomic.Int64
	phase := func(name string, op func(key string) error) {
		var failed atomic.Int64
		cpu0 := d.cpuTime()
		start := time.Now()
		var wg sync.WaitGroup
		for w := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perClient {
					if err := op(fmt.Sprintf("%d/%d", w, i)); err != nil {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		b.ReportMetric(float64(clients*perClient)/time.Since(start).Seconds(), name+"/s")
		b.ReportMetric(float64((d.cpuTime()-cpu0).Microseconds())/float64(clients*perClient), name+"-cpu-µs/op")
		if failed.Load() > 0 {
			b.Errorf("%s: %d failures", name, failed.Load())
		}
	}
	put := func(prefix string, size int) func(string) error {
		return func(k string) error {
			p := make([]byte, size)
			binary.LittleEndian.PutUint64(p, uint64(seq.Add(1)))
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("medium"), Key: aws.String(prefix + k),
				Body: &sliceReader{p: p}, ContentLength: aws.Int64(int64(size))})
			return err
		}
	}
	round := 0
	for b.Loop() {
		round++
		p64, p128 := fmt.Sprintf("r%d/m64/", round), fmt.Sprintf("r%d/m128/", round)
		// 4 KiB, inside the manifest: what the larger sizes are held to.
		phase("put4k", put(fmt.Sprintf("r%d/s4/", round), 4<<10))
		phase("put64k", put(p64, 64<<10))
		phase("put128k", put(p128, 128<<10))
		phase("get64k", func(k string) error {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("medium"), Key: aws.String(p64 + k)})
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, out.Body)
			out.Body.Close()
			return err
		})
		start, listed, cpu0 := time.Now(), 0, d.cpuTime()
		p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("medium"), Prefix: aws.String(p64)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				b.Fatal(err)
			}
			listed += len(page.Contents)
		}
		if listed != clients*perClient {
			b.Fatalf("listed %d keys, want %d", listed, clients*perClient)
		}
		b.ReportMetric(float64(listed)/time.Since(start).Seconds(), "list64k-keys/s")
		b.ReportMetric(float64((d.cpuTime()-cpu0).Microseconds())/float64(listed), "list64k-cpu-µs/key")
	}
}

// BenchmarkGetObject256MiB is issue 19's large-GET row: one client reads
// one 256 MiB object, 1 MiB at a time (see BenchmarkGetObject1GiB).
func BenchmarkGetObject256MiB(b *testing.B) {
	d := startDaemon(b, b.TempDir())
	c := d.client()
	mustBucket(b, c, "bench")
	ctx := context.Background()
	size := int64(sized(256<<20, 8<<20))
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String("g"),
		Body: newGen(3, size), ContentLength: aws.Int64(size)}); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	sink := struct{ io.Writer }{io.Discard}
	b.SetBytes(size)
	cpu0 := d.cpuTime()
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
	b.ReportMetric(float64((d.cpuTime()-cpu0).Milliseconds())/float64(b.N)/(float64(size)/(1<<30)), "server-cpu-ms/GiB")
}

// cpuTime is the daemon's user plus system CPU time so far: on a machine
// shared with other work, CPU per operation varies far less than
// operations per second.
func (d *daemon) cpuTime() time.Duration { return procCPU(d.Pid()) }

// procCPU is process pid's user plus system CPU time so far, 0 if it is
// gone.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses: utime and
	// stime are the 12th and 13th of them, in clock ticks (100 per second
	// on Linux).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}

// postgresCPU is the CPU time so far of every process named postgres
// (the server the benchmark started, its backends included; a backend
// that has exited no longer counts, so phases compare only while the
// pool's connections live).
func postgresCPU() time.Duration {
	var t time.Duration
	comms, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, c := range comms {
		name, err := os.ReadFile(c)
		if err != nil || strings.TrimSpace(string(name)) != "postgres" {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(c)))
		if err == nil {
			t += procCPU(pid)
		}
	}
	return t
}
