package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/internal/excdtest"
)

// daemon is an excd child process (internal/excdtest): GC off, its own
// temporary data directory, stopped by the benchmark's cleanup.
type daemon struct{ *excdtest.Proc }

func startDaemon(tb testing.TB, dataDir string) *daemon {
	tb.Helper()
	return &daemon{excdtest.Start(tb, excdtest.Options{DataDir: dataDir})}
}

// rss and peakRSS are the daemon's current and high-water resident set.
func (d *daemon) rss() int64     { return d.Status("VmRSS") }
func (d *daemon) peakRSS() int64 { return d.Status("VmHWM") }

// client is aws-sdk-go-v2 with default settings (excdtest.Proc.S3): it
// signs the payload over http and adds a CRC32 checksum to PUTs. Its region
// is one the SDK knows: for an unknown one such as "auto" the SDK compiles a
// partition regexp on every request, which on this 2-core machine took a
// third of all CPU in a small-object run and measured the client instead of
// the server. excd accepts any region in a signature.
func (d *daemon) client() *s3.Client { return d.S3() }

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
