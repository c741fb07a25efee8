package faulttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"excloud.dev/buckets/internal/seeded"
	"excloud.dev/buckets/internal/testutil"
)

// The machine's CA bundle variable points at a file the SDK would load for
// every client; these tests speak plain HTTP to loopback.
func init() { os.Unsetenv("AWS_CA_BUNDLE") }

const bucket = "faults"

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts filesystems and runs excd as another user")
	}
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory; a full tmpfs
// answers ENOSPC like a full disk.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unmount(t, dir) })
	return dir
}

// mountExt4 makes an ext4 image of size bytes (no blocks reserved for root,
// which the daemon runs as) and loop-mounts it. Where mkfs.ext4 or loop
// devices are missing, as in many containers, it skips, saying that the
// real-filesystem case went untested; .ci/run makes loop devices where the
// kernel offers /dev/loop-control and then sets EXC_TEST_REQUIRE_EXT4=1,
// which turns the skip into a failure.
func mountExt4(t *testing.T, size int64) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "fs.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	skip := t.Skipf
	if os.Getenv("EXC_TEST_REQUIRE_EXT4") != "" {
		skip = t.Fatalf
	}
	const untested = "the full disk on a real ext4 filesystem is NOT tested here (only tmpfs)"
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-m", "0", img).CombinedOutput(); err != nil {
		skip("%s: mkfs.ext4 failed (install e2fsprogs): %v: %s", untested, err, out)
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-o", "loop", img, dir).CombinedOutput(); err != nil {
		skip("%s: no loop device (a container without /dev/loop*; .ci/run makes them where /dev/loop-control exists): %v: %s", untested, err, out)
	}
	t.Cleanup(func() { unmount(t, dir) })
	return dir
}

func unmount(t *testing.T, dir string) {
	// The daemon's own cleanup (registered later, so run earlier) has
	// stopped it; a lazy unmount still succeeds if something lingers.
	if err := syscall.Unmount(dir, 0); err != nil {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	}
}

// data returns n reproducible bytes that differ per seed, so no two test
// objects share chunks (the store deduplicates equal chunks).
func data(seed uint64, n int) []byte { return seeded.Bytes(seed, n) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func put(ctx context.Context, c *s3.Client, key string, b []byte) error {
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(b)})
	return err
}

// get reads key, or the range "bytes=a-b" when rng is not "".
func get(ctx context.Context, c *s3.Client, key, rng string) ([]byte, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if rng != "" {
		in.Range = aws.String(rng)
	}
	out, err := c.GetObject(ctx, in)
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// s3Err is the S3 error code and HTTP status of err; "" and 0 when err is
// not an S3 error response.
func s3Err(err error) (code string, status int) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, status
}

// wantS3Err fails unless err is the S3 error code with status.
func wantS3Err(t *testing.T, what string, err error, code string, status int) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: succeeded, want %s (%d)", what, code, status)
		return
	}
	if c, s := s3Err(err); c != code || s != status {
		t.Errorf("%s: %v (code %q, status %d), want %s (%d)", what, err, c, s, code, status)
	}
}

// waitLog waits up to a minute (generous: a loaded machine) for the log to
// contain s: the daemon logs a request after the response has been sent.
func waitLog(l *testutil.LogBuffer, s string) bool {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if l.Contains(s) {
			return true
		}
	}
	return false
}

// withTimeout runs fn, failing the test if it takes longer than d: a FUSE
// call on a full disk must fail, not hang.
func withTimeout(t *testing.T, what string, d time.Duration, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s: still blocked after %v", what, d)
		return nil
	}
}
