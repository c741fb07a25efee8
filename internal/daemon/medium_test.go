package daemon_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/internal/daemon"
	"excloud.dev/buckets/objects"
)

// TestMediumObjects: objects on both sides of the catalog's limits (kept
// in the manifest up to objects.InlineMax, as a body of their own up to
// objects.BodyMax, in chunk files above) behave the same through S3 and
// the mount: PUT, HEAD, GET, ranged GET, copy, overwrite, delete, and a
// file written through the mount. Only objects above BodyMax make chunk
// files.
func TestMediumObjects(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and /dev/fuse")
	}
	dir := t.TempDir()
	mnt := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(mnt, 0o755)
	d := startWith(t, daemon.Config{DataDir: dir, Mounts: []string{mnt}})
	ctx := context.Background()
	c := plainClient(d)
	bucket := aws.String("medium")
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	get := func(t *testing.T, key, rng string) ([]byte, error) {
		t.Helper()
		in := &s3.GetObjectInput{Bucket: bucket, Key: aws.String(key)}
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
	put := func(t *testing.T, key string, data []byte) {
		t.Helper()
		out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(key), Body: bytes.NewReader(data)})
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(`"%x"`, md5.Sum(data)); aws.ToString(out.ETag) != want {
			t.Errorf("ETag %s, want %s", aws.ToString(out.ETag), want)
		}
	}

	for i, tc := range []struct {
		name    string
		size    int
		chunked bool
	}{
		{"empty", 0, false},
		{"4KiB", 4 << 10, false},
		{"inline+1", objects.InlineMax + 1, false},
		{"64KiB", 64 << 10, false},
		{"128KiB", 128 << 10, false},
		{"body+1", objects.BodyMax + 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "obj-" + tc.name
			data := randBytes(tc.size, uint64(100+i))
			before := chunkNames(t, dir)
			put(t, key, data)
			if made := len(newNames(chunkNames(t, dir), before)); (made > 0) != tc.chunked {
				t.Errorf("PUT of %d bytes made %d chunk files", tc.size, made)
			}
			head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String(key)})
			if err != nil || aws.ToInt64(head.ContentLength) != int64(tc.size) {
				t.Fatalf("HEAD: %v, %v", head, err)
			}
			if got, err := get(t, key, ""); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("GET: %d bytes, %v", len(got), err)
			}
			if tc.size > 100 {
				if got, err := get(t, key, "bytes=10-20"); err != nil || !bytes.Equal(got, data[10:21]) {
					t.Errorf("GET bytes=10-20: %q, %v", got, err)
				}
				if got, err := get(t, key, "bytes=-100"); err != nil || !bytes.Equal(got, data[len(data)-100:]) {
					t.Errorf("GET bytes=-100: %d bytes, %v", len(got), err)
				}
			}
			// Through the mount.
			if got, err := os.ReadFile(filepath.Join(mnt, "medium", key)); err != nil || !bytes.Equal(got, data) {
				t.Errorf("read through the mount: %d bytes, %v", len(got), err)
			}
			// Copy, then delete the source: the copy keeps its bytes.
			if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: bucket, Key: aws.String(key + "-copy"),
				CopySource: aws.String("medium/" + key)}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: aws.String(key)}); err != nil {
				t.Fatal(err)
			}
			if _, err := get(t, key, ""); apiCode(err) != "NoSuchKey" {
				t.Errorf("GET after delete: %v", err)
			}
			if got, err := get(t, key+"-copy", ""); err != nil || !bytes.Equal(got, data) {
				t.Errorf("copy after its source's delete: %d bytes, %v", len(got), err)
			}
			// Overwrite with other bytes of the same size.
			other := randBytes(tc.size, uint64(200+i))
			put(t, key+"-copy", other)
			if got, err := get(t, key+"-copy", ""); err != nil || !bytes.Equal(got, other) {
				t.Errorf("GET after overwrite: %d bytes, %v", len(got), err)
			}
			// A file written through the mount reads back through S3.
			fname := key + "-file"
			if err := os.WriteFile(filepath.Join(mnt, "medium", fname), data, 0o644); err != nil {
				t.Fatal(err)
			}
			if got, err := get(t, fname, ""); err != nil || !bytes.Equal(got, data) {
				t.Errorf("file written on the mount, read through S3: %d bytes, %v", len(got), err)
			}
			// Appending through the mount starts from its bytes.
			f, err := os.OpenFile(filepath.Join(mnt, "medium", fname), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte("tail")); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			want := append(bytes.Clone(data), "tail"...)
			if got, err := get(t, fname, ""); err != nil || !bytes.Equal(got, want) {
				t.Errorf("appended file: %d bytes, want %d, %v", len(got), len(want), err)
			}
		})
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket})
	if err != nil || len(list.Contents) != 12 {
		t.Fatalf("listing: %d keys, %v", len(list.Contents), err)
	}
}
