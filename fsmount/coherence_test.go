package fsmount_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func (e *env) s3Put(t testing.TB, key string, body []byte) {
	t.Helper()
	_, err := e.s3.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String("b"), Key: aws.String(key), Body: bytes.NewReader(body),
	})
	if err != nil {
		t.Fatalf("s3 put %s: %v", key, err)
	}
}

func (e *env) s3Get(t testing.TB, key string) ([]byte, string) {
	t.Helper()
	out, err := e.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("s3 get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return b, aws.ToString(out.ETag)
}

func (e *env) s3Keys(t testing.TB) []string {
	t.Helper()
	out, err := e.s3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("b")})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

// TestCoherenceS3ToMount: every S3 change is visible through the mount as
// soon as the S3 call returns, although the kernel caches entries,
// attributes and pages.
func TestCoherenceS3ToMount(t *testing.T) {
	e := newEnv(t)
	p := e.p("k")
	e.s3Put(t, "k", []byte("one"))
	// Fill the kernel's caches.
	for range 2 {
		if b, err := os.ReadFile(p); err != nil || string(b) != "one" {
			t.Fatalf("read %q %v", b, err)
		}
	}
	e.s3Put(t, "k", []byte("second version"))
	if b, err := os.ReadFile(p); err != nil || string(b) != "second version" {
		t.Fatalf("after S3 overwrite: %q %v", b, err)
	}
	if fi, _ := os.Stat(p); fi.Size() != int64(len("second version")) {
		t.Fatalf("stat after S3 overwrite: %d", fi.Size())
	}
	// Same size, different bytes: only the page cache could hide it.
	e.s3Put(t, "k", []byte("SECOND VERSION"))
	if b, _ := os.ReadFile(p); string(b) != "SECOND VERSION" {
		t.Fatalf("after same-size overwrite: %q", b)
	}
	// Copy over it.
	e.s3Put(t, "src", []byte("copied"))
	if _, err := e.s3.CopyObject(context.Background(), &s3.CopyObjectInput{
		Bucket: aws.String("b"), Key: aws.String("k"), CopySource: aws.String("b/src"),
	}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "copied" {
		t.Fatalf("after copy: %q", b)
	}
	// Delete → ENOENT.
	if _, err := e.s3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("b"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("after S3 delete: %v", err)
	}
	// A negative entry is cached now; a put makes it appear.
	e.s3Put(t, "k", []byte("back"))
	if b, err := os.ReadFile(p); err != nil || string(b) != "back" {
		t.Fatalf("after S3 re-create: %q %v", b, err)
	}
	// a/b/c makes the directories a and a/b appear, in a listed directory.
	os.ReadDir(e.bdir)
	if _, err := os.Stat(e.p("a")); !os.IsNotExist(err) {
		t.Fatal("a exists too early")
	}
	e.s3Put(t, "a/b/c", []byte("deep"))
	if fi, err := os.Stat(e.p("a/b")); err != nil || !fi.IsDir() {
		t.Fatalf("a/b after S3 put of a/b/c: %v", err)
	}
	ents, _ := os.ReadDir(e.bdir)
	var names []string
	for _, de := range ents {
		names = append(names, de.Name())
	}
	if !slices.Contains(names, "a") {
		t.Fatalf("listing %v lacks a", names)
	}
	// CompleteMultipartUpload over the cached "back": the mount reads the
	// assembled object at once.
	part1 := bytes.Repeat([]byte("p1"), 5<<19) // 5 MiB, the minimum part
	part2 := []byte("and the last part")
	ctx := context.Background()
	up, err := e.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("b"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for i, body := range [][]byte{part1, part2} {
		out, err := e.s3.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("b"), Key: aws.String("k"), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
	}
	if _, err := e.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("b"), Key: aws.String("k"),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(p); err != nil || !bytes.Equal(b, append(part1, part2...)) {
		t.Fatalf("after CompleteMultipartUpload: %d bytes, %v", len(b), err)
	}
	// New bucket over S3 appears at the root.
	os.ReadDir(e.mnt)
	if _, err := e.s3.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("newbucket")}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(e.mnt + "/newbucket"); err != nil || !fi.IsDir() {
		t.Fatalf("bucket created over S3: %v", err)
	}
}

// TestCoherenceMountToS3: bytes closed or fsynced through the mount are
// what S3 returns at once, with the MD5 ETag for sequential writes.
func TestCoherenceMountToS3(t *testing.T) {
	e := newEnv(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 600_000) // 9.6 MB: three chunks
	if err := os.WriteFile(e.p("w"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, etag := e.s3Get(t, "w")
	if !bytes.Equal(got, data) {
		t.Fatalf("S3 GET after close: %d bytes", len(got))
	}
	if want := fmt.Sprintf(`"%x"`, md5.Sum(data)); etag != want {
		t.Fatalf("ETag %s, want MD5 %s", etag, want)
	}
	// fsync without close
	f, _ := os.OpenFile(e.p("w"), os.O_RDWR, 0)
	f.WriteAt([]byte("PATCH"), 100)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	got, etag = e.s3Get(t, "w")
	if string(got[100:105]) != "PATCH" {
		t.Fatal("S3 GET after fsync lacks the write")
	}
	if !strings.HasSuffix(etag, `-1"`) {
		t.Fatalf("ETag %s of a patched file", etag)
	}
	f.Close()
	// directory rename → only new keys over S3
	os.MkdirAll(e.p("dir/sub"), 0o755)
	for i := range 5 {
		os.WriteFile(e.p(fmt.Sprintf("dir/sub/f%d", i)), []byte("x"), 0o644)
	}
	if err := os.Rename(e.p("dir"), e.p("moved")); err != nil {
		t.Fatal(err)
	}
	keys := e.s3Keys(t)
	want := []string{"moved/", "moved/sub/", "moved/sub/f0", "moved/sub/f1", "moved/sub/f2", "moved/sub/f3", "moved/sub/f4", "w"}
	if !slices.Equal(keys, want) {
		t.Fatalf("S3 keys after rename %v, want %v", keys, want)
	}
}
