package daemon_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/internal/daemon"
	"excloud.dev/buckets/internal/excdtest"
	"excloud.dev/buckets/internal/testutil"
)

// A GET paused half way through its body and a file held open on the
// mount do not stop garbage collection: while each is held, the periodic
// collector frees the chunks of another deleted object, keeps the held
// object's (deleted too), and the holder then reads to the end correctly.
func TestHeldReadsDoNotStopGC(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and /dev/fuse")
	}
	dir := t.TempDir()
	mnt := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(mnt, 0o755)
	// The paused client must outlast the collections, not be cut off.
	d := startWith(t, daemon.Config{DataDir: dir, Mounts: []string{mnt}, IOIdleTimeout: time.Hour})
	ctx := context.Background()
	c := smallWindowClient(d)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("gcpin")}); err != nil {
		t.Fatal(err)
	}

	t.Run("S3 GET paused mid-body", func(t *testing.T) {
		heldAcrossGC(t, d, dir, c, 50, func() (io.Reader, func()) {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("gcpin"), Key: aws.String("held")})
			if err != nil {
				t.Fatal(err)
			}
			return out.Body, func() { out.Body.Close() }
		})
	})
	t.Run("file held open on the mount", func(t *testing.T) {
		heldAcrossGC(t, d, dir, c, 60, func() (io.Reader, func()) {
			f, err := os.Open(filepath.Join(mnt, "gcpin", "held"))
			if err != nil {
				t.Fatal(err)
			}
			return f, func() { f.Close() }
		})
	})
}

// heldAcrossGC stores "held" (24 MiB, 6 chunks) and "other" (8 MiB, 2
// chunks), opens held with open and reads its first 64 KiB, deletes both
// through S3, and runs the periodic collector until other's chunks are
// gone. Then held's must all be there, and the rest of it reads back.
func heldAcrossGC(t *testing.T, d *daemon.Daemon, dir string, c *s3.Client, seed uint64, open func() (io.Reader, func())) {
	ctx := context.Background()
	held := randBytes(24<<20, seed)
	put := func(key string, data []byte) {
		t.Helper()
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("gcpin"), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
	}
	before := chunkNames(t, dir)
	put("held", held)
	heldChunks := newNames(chunkNames(t, dir), before)
	put("other", randBytes(8<<20, seed+1))
	otherChunks := newNames(chunkNames(t, dir), before)
	for n := range heldChunks {
		delete(otherChunks, n)
	}
	if len(heldChunks) != 6 || len(otherChunks) != 2 {
		t.Fatalf("%d chunk files for held, %d for other; want 6 and 2", len(heldChunks), len(otherChunks))
	}

	r, release := open()
	defer release()
	got := make([]byte, 64<<10)
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"other", "held"} {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("gcpin"), Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	d.SetGCInterval(20 * time.Millisecond)
	waitChunks(t, dir, "other's chunks freed while held is open", func(have map[string]bool) bool {
		for n := range otherChunks {
			if have[n] {
				return false
			}
		}
		return true
	})
	d.SetGCInterval(-1)
	have := chunkNames(t, dir)
	for n := range heldChunks {
		if !have[n] {
			t.Fatalf("chunk %s of the object held open was collected", n)
		}
	}
	// A whole collection with the reader open returns at once and keeps
	// exactly the held object's chunks.
	if st, err := d.RunGC(ctx); err != nil || st.Deleted != 0 || st.Deferred != len(heldChunks) {
		t.Fatalf("collection with the reader open: %+v %v; want 0 deleted, %d deferred", st, err, len(heldChunks))
	}

	rest, err := io.ReadAll(r)
	if all := append(got, rest...); err != nil || !bytes.Equal(all, held) {
		t.Fatalf("held object after the collections: err %v, %d of %d bytes, equal %v", err, len(all), len(held), bytes.Equal(all, held))
	}
	release()
	// Closing is asynchronous to the server (FUSE release, the handler
	// noticing the client); once it is seen, held's chunks go too.
	d.SetGCInterval(20 * time.Millisecond)
	defer d.SetGCInterval(-1)
	waitChunks(t, dir, "held's chunks freed after it was closed", func(have map[string]bool) bool {
		for n := range heldChunks {
			if have[n] {
				return false
			}
		}
		return true
	})
}

func chunkNames(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, err := excdtest.ChunkFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]bool, len(files))
	for n := range files {
		out[n] = true
	}
	return out
}

func newNames(now, before map[string]bool) map[string]bool {
	out := map[string]bool{}
	for n := range now {
		if !before[n] {
			out[n] = true
		}
	}
	return out
}

// waitChunks polls the chunk directory until done holds; a minute is far
// beyond what a collection every 20 ms needs, and beyond the 30 s a
// collection once waited for readers.
func waitChunks(t *testing.T, dir, what string, done func(map[string]bool) bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		// A walk racing a deletion may fail; the next one will not.
		files, err := excdtest.ChunkFiles(dir)
		if err == nil {
			have := make(map[string]bool, len(files))
			for n := range files {
				have[n] = true
			}
			if done(have) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute (last walk: %d files, err %v)", what, len(files), err)
		}
		<-tick.C
	}
}

// smallWindowClient is an S3 client whose connections have a 64 KiB
// receive buffer, so a response it stops reading stays mostly on the server:
// its handler is still in the middle of the body, holding the object open.
func smallWindowClient(d *daemon.Daemon) *s3.Client {
	dialer := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return testutil.S3("http://"+d.Addr(), testAK, testSK, func(o *s3.Options) {
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.HTTPClient = &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	})
}
