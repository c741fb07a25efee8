package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const (
	benchAK = "EXCBENCH000000000001"
	benchSK = "benchsecret00000000000000000000000000000"
)

var (
	buildOnce sync.Once
	excdBin   string
	buildErr  error
)

// daemon is an excd child process.
type daemon struct {
	cmd      *exec.Cmd
	endpoint string
	dataDir  string
}

func startDaemon(tb testing.TB, dataDir string, extra ...string) *daemon {
	tb.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "excd-bench-bin")
		if err != nil {
			buildErr = err
			return
		}
		excdBin = filepath.Join(dir, "excd")
		out, err := exec.Command("go", "build", "-o", excdBin, "excloud.dev/buckets/cmd/excd").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	args := append([]string{"--data-dir", dataDir, "--listen", "127.0.0.1:0", "--admin-socket", "-"}, extra...)
	cmd := exec.Command(excdBin, args...)
	cmd.Env = append(os.Environ(), "EXC_ROOT_ACCESS_KEY="+benchAK, "EXC_ROOT_SECRET_KEY="+benchSK)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	d := &daemon{cmd: cmd, dataDir: dataDir}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if ep, ok := strings.CutPrefix(sc.Text(), "excd: S3 endpoint "); ok {
				found <- ep
			}
		}
	}()
	select {
	case d.endpoint = <-found:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		tb.Fatal("excd did not start")
	}
	tb.Cleanup(d.stop)
	return d
}

func (d *daemon) stop() {
	if d.cmd.ProcessState != nil {
		return
	}
	d.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-done
	}
}

// rss is the daemon's current resident set size in bytes.
func (d *daemon) rss() int64 { return d.status("VmRSS:") }

// peakRSS is the daemon's high-water resident set size in bytes.
func (d *daemon) peakRSS() int64 { return d.status("VmHWM:") }

// status reads one kB field of /proc/<pid>/status, in bytes.
func (d *daemon) status(field string) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return -1
}

// client is aws-sdk-go-v2 with default settings: it signs the payload over
// http and adds a CRC32 checksum to PUTs. The region is one the SDK knows:
// for an unknown one such as "auto" the SDK compiles a partition regexp on
// every request, which on this 2-core machine took a third of all CPU in a
// small-object run and measured the client instead of the server. excd
// accepts any region in a signature.
func (d *daemon) client() *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(d.endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(benchAK, benchSK, ""),
	})
}

func mustBucket(tb testing.TB, c *s3.Client, name string) {
	tb.Helper()
	_, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)})
	var owned interface{ ErrorCode() string }
	if err != nil && !(errors.As(err, &owned) && owned.ErrorCode() == "BucketAlreadyOwnedByYou") {
		tb.Fatal(err)
	}
}

// genReader is a seekable stream of size bytes that costs no more than a
// memory copy to produce, so the client measures the server, not itself.
// It copies from a fixed pattern whose period (1 MiB + 7) is not a divisor
// of the chunk size, and stamps the seed and offset into every 4 KiB, so
// neither chunks within an object nor objects of different seeds dedup.
type genReader struct {
	seed, size, off int64
}

var pattern = func() []byte {
	p := make([]byte, 1<<20+7)
	x := uint64(0x9e3779b97f4a7c15)
	for i := range p {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		p[i] = byte(x)
	}
	return p
}()

func newGen(seed, size int64) *genReader { return &genReader{seed: seed, size: size} }

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), g.size-g.off))
	for i := 0; i < n; {
		i += copy(p[i:n], pattern[(g.off+int64(i))%int64(len(pattern)):])
	}
	// Stamp (seed, offset) over the first 16 bytes of each 4 KiB block,
	// copying only the part inside p, so the bytes do not depend on how the
	// caller splits its reads.
	var stamp [16]byte
	end := g.off + int64(n)
	for pos := g.off &^ 4095; pos < end; pos += 4096 {
		binary.LittleEndian.PutUint64(stamp[:], uint64(g.seed))
		binary.LittleEndian.PutUint64(stamp[8:], uint64(pos))
		a, z := max(pos, g.off), min(pos+16, end)
		if a < z {
			copy(p[a-g.off:z-g.off], stamp[a-pos:z-pos])
		}
	}
	g.off += int64(n)
	return n, nil
}

func (g *genReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += g.off
	case io.SeekEnd:
		off += g.size
	}
	if off < 0 {
		return 0, errors.New("negative seek")
	}
	g.off = off
	return off, nil
}
