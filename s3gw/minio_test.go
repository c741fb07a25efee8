package s3gw

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/minio/minio-go/v7"

	"excloud.dev/buckets/internal/testutil"
)

// TestMinioStreamingUpload uses minio-go, which over plain HTTP signs bodies
// chunk by chunk (aws-chunked), so the gateway must store the decoded bytes
// and strip "aws-chunked" from Content-Encoding.
func TestMinioStreamingUpload(t *testing.T) {
	st := newStack(t)
	c := testutil.Minio(t, st.srv.URL, st.key.ID, st.key.Secret)
	ctx := context.Background()
	if err := c.MakeBucket(ctx, "mcbucket", minio.MakeBucketOptions{Region: "auto"}); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("minio streams "), 20000) // ~280 KiB, several signed chunks
	if _, err := c.PutObject(ctx, "mcbucket", "dir/obj", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
		ContentType:     "application/x-test",
		ContentEncoding: "gzip",
		UserMetadata:    map[string]string{"k": "v"},
	}); err != nil {
		t.Fatal(err)
	}
	obj, err := c.GetObject(ctx, "mcbucket", "dir/obj", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}
	info, err := c.StatObject(ctx, "mcbucket", "dir/obj", minio.StatObjectOptions{})
	if err != nil || info.ContentType != "application/x-test" || info.Metadata.Get("Content-Encoding") != "gzip" || info.UserMetadata["K"] != "v" {
		t.Errorf("stat: %+v, %v", info, err)
	}
	var n int
	for o := range c.ListObjects(ctx, "mcbucket", minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil || o.Key != "dir/obj" {
			t.Errorf("list: %+v", o)
		}
		n++
	}
	if n != 1 {
		t.Errorf("listed %d objects", n)
	}
	if err := c.RemoveObject(ctx, "mcbucket", "dir/obj", minio.RemoveObjectOptions{}); err != nil {
		t.Error(err)
	}
	if err := c.RemoveBucket(ctx, "mcbucket"); err != nil {
		t.Error(err)
	}
}
