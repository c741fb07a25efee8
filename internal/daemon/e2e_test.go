package daemon_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"

	"excloud.dev/buckets/internal/daemon"
	"excloud.dev/buckets/internal/seeded"
	"excloud.dev/buckets/internal/testutil"
)

const (
	testAK = "EXCTESTKEY0000000001"
	testSK = "testsecret0000000000000000000000000000ab"
)

func init() {
	// The machines set AWS_CA_BUNDLE; SDK config loading would try to use it.
	os.Unsetenv("AWS_CA_BUNDLE")
}

func start(t *testing.T, dir string) *daemon.Daemon {
	t.Helper()
	d, err := daemon.Start(daemon.Config{
		DataDir:       dir,
		Listen:        "127.0.0.1:0",
		RootAccessKey: testAK,
		RootSecretKey: testSK,
		GCInterval:    -1,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// awsClient is aws-sdk-go-v2 with its default settings (request checksums
// "when supported", so PUTs carry CRC32 checksums), pointed at the daemon.
func awsClient(d *daemon.Daemon, secret string) *s3.Client {
	return testutil.S3("http://"+d.Addr(), testAK, secret)
}

func minioClient(t *testing.T, d *daemon.Daemon) *minio.Client {
	return testutil.Minio(t, d.Addr(), testAK, testSK)
}

var apiCode = testutil.APICode

// randBytes: the shared seeded content (internal/seeded).
func randBytes(n int, seed uint64) []byte { return seeded.Bytes(seed, n) }

func TestAWSSDKRoundTrip(t *testing.T) {
	dir := t.TempDir()
	d := start(t, dir)
	c := awsClient(d, testSK)
	ctx := context.Background()

	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatal(err)
	}
	objects := map[string][]byte{
		"a.txt":            []byte("hello"),
		"dir/b.bin":        randBytes(10<<20+3, 1),
		"dir/sub/c":        randBytes(5000, 2),
		"empty":            nil,
		"we ird+key%/é~ok": []byte("odd names sign correctly"),
	}
	for k, v := range objects {
		out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("photos"), Key: aws.String(k),
			Body: bytes.NewReader(v), ContentType: aws.String("application/x-test"),
			Metadata: map[string]string{"origin": "sdk"}})
		if err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
		if want := fmt.Sprintf("\"%x\"", md5.Sum(v)); aws.ToString(out.ETag) != want {
			t.Errorf("put %q: etag %s, want %s", k, aws.ToString(out.ETag), want)
		}
	}
	for k, v := range objects {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String(k)})
		if err != nil {
			t.Fatalf("get %q: %v", k, err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(got, v) {
			t.Fatalf("get %q: %v, equal %v", k, err, bytes.Equal(got, v))
		}
		if aws.ToString(out.ContentType) != "application/x-test" || out.Metadata["origin"] != "sdk" {
			t.Errorf("get %q: content-type %q metadata %v", k, aws.ToString(out.ContentType), out.Metadata)
		}
	}
	// Ranges.
	big := objects["dir/b.bin"]
	for _, rg := range []struct {
		h    string
		a, b int
	}{{"bytes=0-0", 0, 1}, {"bytes=100-199", 100, 200}, {"bytes=4194300-4194310", 4194300, 4194311}, {"bytes=-10", len(big) - 10, len(big)}, {fmt.Sprintf("bytes=%d-", len(big)-5), len(big) - 5, len(big)}} {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("dir/b.bin"), Range: aws.String(rg.h)})
		if err != nil {
			t.Fatalf("range %s: %v", rg.h, err)
		}
		got, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if !bytes.Equal(got, big[rg.a:rg.b]) {
			t.Errorf("range %s: %d bytes, want %d", rg.h, len(got), rg.b-rg.a)
		}
		if want := fmt.Sprintf("bytes %d-%d/%d", rg.a, rg.b-1, len(big)); aws.ToString(out.ContentRange) != want {
			t.Errorf("range %s: Content-Range %q, want %q", rg.h, aws.ToString(out.ContentRange), want)
		}
	}
	_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("a.txt"), Range: aws.String("bytes=5-")})
	if apiCode(err) != "InvalidRange" {
		t.Errorf("unsatisfiable range: %v", err)
	}
	// Head.
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("photos"), Key: aws.String("dir/b.bin")})
	if err != nil || aws.ToInt64(h.ContentLength) != int64(len(big)) {
		t.Fatalf("head: %v", err)
	}
	// Listing with a delimiter.
	l, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("photos"), Delimiter: aws.String("/")})
	if err != nil {
		t.Fatal(err)
	}
	var keys, prefixes []string
	for _, o := range l.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	for _, p := range l.CommonPrefixes {
		prefixes = append(prefixes, aws.ToString(p.Prefix))
	}
	if strings.Join(keys, ",") != "a.txt,empty,we ird+key%/é~ok" && strings.Join(keys, ",") != "a.txt,empty" {
		t.Errorf("keys %q", keys)
	}
	if !strings.Contains(strings.Join(prefixes, ","), "dir/") {
		t.Errorf("common prefixes %q", prefixes)
	}
	// Paging with max-keys through the paginator.
	var all []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("photos"), MaxKeys: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			all = append(all, aws.ToString(o.Key))
		}
	}
	if len(all) != len(objects) {
		t.Errorf("paged listing %d keys, want %d: %q", len(all), len(objects), all)
	}
	// Errors a user meets.
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("missing")})
	var nsk *types.NoSuchKey
	if !errors.As(err, &nsk) {
		t.Errorf("missing key: %v", err)
	}
	_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("nobucket")})
	if apiCode(err) != "NoSuchBucket" {
		t.Errorf("missing bucket: %v", err)
	}
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("nobucket")})
	if err == nil {
		t.Error("head of missing bucket succeeded")
	}
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("photos")})
	if apiCode(err) != "BucketNotEmpty" {
		t.Errorf("delete non-empty bucket: %v", err)
	}
	_, err = awsClient(d, "wrongsecret000000000000000000000000000000").ListBuckets(ctx, &s3.ListBucketsInput{})
	if apiCode(err) != "SignatureDoesNotMatch" {
		t.Errorf("wrong secret: %v", err)
	}
	// Delete is idempotent.
	for range 2 {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("photos"), Key: aws.String("a.txt")}); err != nil {
			t.Fatalf("delete: %v", err)
		}
	}
	delete(objects, "a.txt")

	// A restart keeps every object.
	d.Close()
	d = start(t, dir)
	c = awsClient(d, testSK)
	for k, v := range objects {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String(k)})
		if err != nil {
			t.Fatalf("after restart, get %q: %v", k, err)
		}
		got, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if !bytes.Equal(got, v) {
			t.Fatalf("after restart, %q differs", k)
		}
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("a.txt")}); !errors.As(err, &nsk) {
		t.Errorf("deleted key after restart: %v", err)
	}
	for k := range objects {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("photos"), Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatalf("delete emptied bucket: %v", err)
	}
	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 0 {
		t.Fatalf("buckets after delete: %v %v", lb, err)
	}
}

func TestMinioRoundTrip(t *testing.T) {
	d := start(t, t.TempDir())
	c := minioClient(t, d)
	ctx := context.Background()
	if err := c.MakeBucket(ctx, "minio-bkt", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int{"small": 100, "medium": 6 << 20, "zero": 0}
	for k, n := range sizes {
		data := randBytes(n, uint64(n))
		if _, err := c.PutObject(ctx, "minio-bkt", k, bytes.NewReader(data), int64(n), minio.PutObjectOptions{ContentType: "text/plain"}); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
		obj, err := c.GetObject(ctx, "minio-bkt", k, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj)
		obj.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("get %s: %v equal %v", k, err, bytes.Equal(got, data))
		}
		if n > 10 {
			opts := minio.GetObjectOptions{}
			opts.SetRange(3, 9)
			obj, err := c.GetObject(ctx, "minio-bkt", k, opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(obj)
			obj.Close()
			if err != nil || !bytes.Equal(got, data[3:10]) {
				t.Fatalf("range get %s: %v", k, err)
			}
		}
	}
	var listed []string
	for o := range c.ListObjects(ctx, "minio-bkt", minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		listed = append(listed, o.Key)
	}
	if strings.Join(listed, ",") != "medium,small,zero" {
		t.Errorf("listed %q", listed)
	}
	for k := range sizes {
		if err := c.RemoveObject(ctx, "minio-bkt", k, minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.StatObject(ctx, "minio-bkt", "small", minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "NoSuchKey" {
		t.Errorf("stat deleted: %v", err)
	}
	if err := c.RemoveBucket(ctx, "minio-bkt"); err != nil {
		t.Fatal(err)
	}
}
