package faulttest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"excloud.dev/buckets/internal/excdtest"
	"excloud.dev/buckets/internal/fsutil"
	"excloud.dev/buckets/internal/testutil"
)

// Sizes for the disk-full tests: a 64 MiB filesystem with 16 MiB kept free
// holds a few multi-chunk objects before the reserve is reached, so the
// whole test writes well under 100 MiB.
const (
	fsSize  = 64 << 20
	reserve = 16 << 20
	bigSize = 9 << 20 // three chunks, the last one short
)

// TestDiskFull fills the data directory's filesystem through S3, then to
// the last byte with a file of its own, and checks what a client sees:
// writes refused with 507 InsufficientStorage (ENOSPC through FUSE), reads,
// HEAD and LIST working, earlier objects byte-exact, the daemon alive; and
// once space is freed, writes working again, before and after a restart.
func TestDiskFull(t *testing.T) {
	requireRoot(t)
	for _, fs := range []struct {
		name  string
		mount func(*testing.T, int64) string
	}{
		{"tmpfs", mountTmpfs},
		{"ext4-loop", mountExt4},
	} {
		t.Run(fs.name, func(t *testing.T) {
			diskFull(t, fs.mount(t, fsSize))
		})
	}
}

func diskFull(t *testing.T, root string) {
	ctx := ctxT(t)
	dataDir := filepath.Join(root, "data")
	var mnt string
	if _, err := os.Stat("/dev/fuse"); err == nil {
		mnt = t.TempDir()
	}
	var log testutil.LogBuffer
	opts := excdtest.Options{DataDir: dataDir, Mount: mnt, Stderr: &log,
		Args: []string{"--min-free-space", fmt.Sprint(reserve)}}
	p := excdtest.Start(t, opts)
	c := p.S3()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}

	// Objects stored before the disk fills: these must survive it intact.
	before := map[string][]byte{
		"before/big":   data(1, bigSize),
		"before/small": data(2, 1000), // inline in the catalog
	}
	for k, b := range before {
		if err := put(ctx, c, k, b); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}

	// 1. Fill through S3 with multi-chunk objects until refused.
	var filled []string
	for i := 0; ; i++ {
		if i == fsSize/bigSize+2 {
			t.Fatalf("%d objects of %d bytes accepted on a %d-byte filesystem", i, bigSize, fsSize)
		}
		key := fmt.Sprintf("fill/%d", i)
		err := put(ctx, c, key, data(uint64(100+i), bigSize))
		if err == nil {
			filled = append(filled, key)
			continue
		}
		wantS3Err(t, "PUT of a multi-chunk object on a full disk", err, "InsufficientStorage", 507)
		break
	}
	if len(filled) < 2 {
		t.Fatalf("only %d objects of %d bytes fit on a %d-byte filesystem with %d reserved", len(filled), bigSize, fsSize, reserve)
	}
	avail, _ := fsutil.Available(root)
	t.Logf("S3 fill: %d objects of %d bytes stored, then 507; %d bytes left free", len(filled), bigSize, avail)
	if avail < reserve {
		t.Errorf("only %d bytes free after S3 uploads were refused; the reserve is %d", avail, reserve)
	}
	// Deleting still works at the reserve: it may use half of it.
	last := filled[len(filled)-1]
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(last)}); err != nil {
		t.Errorf("DELETE at the reserve: %v", err)
	}
	filled = filled[:len(filled)-1]

	// 2. Bring the disk to just above the reserve with a file, then fill
	// the rest with small objects, which live in the catalog only: they
	// too stop at the reserve with 507, before Badger meets a full disk.
	filler := filepath.Join(root, "filler")
	avail, _ = fsutil.Available(root)
	if over := avail - reserve - 512<<10; over > 0 {
		if err := os.WriteFile(filler+"-top", make([]byte, over), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	small := 0
	for ; ; small++ {
		if small == 2000 {
			t.Fatalf("%d inline objects accepted with %d bytes free at the start", small, reserve+512<<10)
		}
		err := put(ctx, c, fmt.Sprintf("small/%d", small), data(uint64(1000+small), 8000))
		if err != nil {
			wantS3Err(t, "PUT of a small object at the reserve", err, "InsufficientStorage", 507)
			break
		}
	}
	avail, _ = fsutil.Available(root)
	t.Logf("small fill: %d objects of 8000 bytes stored, then 507; %d bytes left free", small, avail)

	// 3. Fill the rest with a file the test can delete, as another program
	// on the same disk would.
	fillDisk(t, filler)
	if avail, _ := fsutil.Available(root); avail > 64<<10 {
		t.Fatalf("filler left %d bytes free", avail)
	}

	// Every write is refused with 507, none kills the daemon.
	writes := []struct {
		what string
		do   func() error
	}{
		{"PUT multi-chunk", func() error { return put(ctx, c, "full/big", data(4, bigSize)) }},
		{"PUT small (inline)", func() error { return put(ctx, c, "full/small", data(5, 100)) }},
		{"PUT empty", func() error { return put(ctx, c, "full/empty", nil) }},
		{"CreateMultipartUpload", func() error {
			_, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("full/mpu")})
			return err
		}},
		{"CopyObject", func() error {
			_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("full/copy"),
				CopySource: aws.String(bucket + "/before/small")})
			return err
		}},
		{"CreateBucket", func() error {
			_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("full-new")})
			return err
		}},
		{"DeleteObject (disk at 0 free)", func() error {
			_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(filled[0])})
			return err
		}},
	}
	for _, w := range writes {
		wantS3Err(t, w.what+" on a full disk", w.do(), "InsufficientStorage", 507)
		if p.Exited() {
			t.Fatalf("excd exited after %s on a full disk; log:\n%s", w.what, log.String())
		}
	}
	if mnt != "" {
		fuseWriteFull(t, filepath.Join(mnt, bucket))
	}
	checkReads(t, p, before, mnt)

	// 4. A restart on the full disk: the catalog opens without writing,
	// and reads work.
	if err := p.Stop(); err != nil {
		t.Fatalf("stop on a full disk: %v; log:\n%s", err, log.String())
	}
	p = excdtest.Start(t, opts)
	c = p.S3()
	checkReads(t, p, before, mnt)
	wantS3Err(t, "PUT small after restart on a full disk", put(ctx, c, "full/small", data(5, 100)), "InsufficientStorage", 507)

	// 5. Free the space: writes work again, through S3 and FUSE.
	for _, f := range []string{filler, filler + "-top"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	// The filler gave back less than the reserve: deleting the S3 fill and
	// collecting its chunks frees the rest, as an operator would.
	for _, k := range filled {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)}); err != nil {
			t.Fatalf("delete %s after freeing space: %v", k, err)
		}
	}
	gc, err := p.AdminClient().GC(ctx)
	if err != nil {
		t.Fatalf("gc: %v", err)
	}
	avail, _ = fsutil.Available(root)
	t.Logf("after deleting the filler and the S3 fill and a GC (%d chunks deleted): %d bytes free", gc.Deleted, avail)
	after := map[string][]byte{"after/big": data(6, 4<<20+1), "after/small": data(7, 10)}
	for k, b := range after {
		if err := put(ctx, c, k, b); err != nil {
			t.Fatalf("put %s after freeing space: %v", k, err)
		}
		before[k] = b
	}
	if mnt != "" {
		b := data(8, 5<<20)
		path := filepath.Join(mnt, bucket, "after-fuse")
		if err := withTimeout(t, "FUSE write after freeing space", time.Minute, func() error { return os.WriteFile(path, b, 0o644) }); err != nil {
			t.Fatalf("FUSE write after freeing space: %v", err)
		}
		before["after-fuse"] = b
	}
	checkReads(t, p, before, mnt)

	// 6. And a clean restart keeps everything.
	if err := p.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	p = excdtest.Start(t, opts)
	checkReads(t, p, before, mnt)
	if err := put(ctx, p.S3(), "after/restart", data(9, 100)); err != nil {
		t.Fatalf("put after restart: %v", err)
	}
}

// fillDisk writes path until the filesystem is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 256<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill: %v", err)
			}
			break
		}
	}
	// ext4 may still have a few blocks in small writes' reach.
	small := make([]byte, 4096)
	for {
		if _, err := f.Write(small); err != nil {
			break
		}
	}
	f.Sync()
}

// fuseWriteFull checks that writes through the mount fail with ENOSPC (at
// write, fsync or close: the FUSE file buffers up to a chunk) rather than
// hang or claim success, both for a multi-chunk file and a small one.
func fuseWriteFull(t *testing.T, dir string) {
	t.Helper()
	for _, c := range []struct {
		name string
		size int
	}{{"fuse-big", bigSize}, {"fuse-small", 1000}} {
		b := data(uint64(50+c.size), c.size)
		path := filepath.Join(dir, c.name)
		var stage string
		err := withTimeout(t, "FUSE write on a full disk", time.Minute, func() error {
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				stage = "open"
				return err
			}
			if _, err := f.Write(b); err != nil {
				stage = "write"
				f.Close()
				return err
			}
			if err := f.Sync(); err != nil {
				stage = "fsync"
				f.Close()
				return err
			}
			stage = "close"
			return f.Close()
		})
		if !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("FUSE %s of %d bytes on a full disk: %v at %s, want ENOSPC", c.name, c.size, err, stage)
			continue
		}
		t.Logf("FUSE %s of %d bytes on a full disk: ENOSPC at %s", c.name, c.size, stage)
	}
}

// checkReads reads every object in want through S3 (GET byte-exact, HEAD,
// LIST) and, with a mount, through FUSE.
func checkReads(t *testing.T, p *excdtest.Proc, want map[string][]byte, mnt string) {
	t.Helper()
	ctx := ctxT(t)
	c := p.S3()
	for k, b := range want {
		got, err := get(ctx, c, k, "")
		if err != nil {
			t.Errorf("GET %s: %v", k, err)
		} else if !bytes.Equal(got, b) {
			t.Errorf("GET %s: %d bytes differ from the %d stored", k, len(got), len(b))
		}
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
		if err != nil {
			t.Errorf("HEAD %s: %v", k, err)
		} else if aws.ToInt64(h.ContentLength) != int64(len(b)) {
			t.Errorf("HEAD %s: length %d, want %d", k, aws.ToInt64(h.ContentLength), len(b))
		}
		if mnt != "" {
			f, err := os.Open(filepath.Join(mnt, bucket, k))
			if err != nil {
				t.Errorf("FUSE open %s: %v", k, err)
				continue
			}
			got, err := io.ReadAll(f)
			f.Close()
			if err != nil || !bytes.Equal(got, b) {
				t.Errorf("FUSE read %s: %d bytes, err %v; want the %d stored", k, len(got), err, len(b))
			}
		}
	}
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("LIST: %v", err)
	}
	listed := map[string]types.Object{}
	for _, o := range out.Contents {
		listed[aws.ToString(o.Key)] = o
	}
	for k, b := range want {
		if o, ok := listed[k]; !ok || aws.ToInt64(o.Size) != int64(len(b)) {
			t.Errorf("LIST: %s missing or of the wrong size", k)
		}
	}
}
