package s3gw

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/objects"
)

// TestMetadataLimitOverS3 checks the object layer's metadata rule as S3
// clients meet it: 400 MetadataTooLarge for user metadata over 2 KiB (as
// S3) and for stored standard headers over their own 2 KiB, on every
// operation that stores metadata, with nothing stored.
func TestMetadataLimitOverS3(t *testing.T) {
	st := newStack(t)
	c := st.client(st.key)
	ctx := context.Background()
	mustBucket(t, c, "meta")
	putString(t, c, "meta", "src", "source")

	// The SDK at the limit and one byte over.
	at := map[string]string{"k": strings.Repeat("v", objects.MaxUserMeta-1)}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("meta"), Key: aws.String("at"), Body: strings.NewReader("x"), Metadata: at}); err != nil {
		t.Fatalf("user metadata at the limit: %v", err)
	}
	over := map[string]string{"k": strings.Repeat("v", objects.MaxUserMeta)}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("meta"), Key: aws.String("over"), Body: strings.NewReader("x"), Metadata: over}); apiCode(err) != "MetadataTooLarge" {
		t.Fatalf("user metadata over the limit: %v", err)
	}

	disposition := `attachment; filename="` + strings.Repeat("n", objects.MaxHeaderMeta) + `"`
	for _, tc := range []struct {
		name, method, path string
		hdr                map[string]string
	}{
		{"PutObject", "PUT", "/meta/long", map[string]string{"Content-Disposition": disposition}},
		{"PutObject, headers together", "PUT", "/meta/long", map[string]string{
			"Content-Type": strings.Repeat("t", 1100), "Cache-Control": strings.Repeat("c", 1100)}},
		{"CopyObject REPLACE", "PUT", "/meta/long", map[string]string{
			"x-amz-copy-source": "/meta/src", "x-amz-metadata-directive": "REPLACE", "Content-Disposition": disposition}},
		{"CreateMultipartUpload", "POST", "/meta/long?uploads", map[string]string{"Content-Disposition": disposition}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.method == "PUT" && tc.hdr["x-amz-copy-source"] == "" {
				body = []byte("data")
			}
			wantError(t, st.do(t, st.key, tc.method, tc.path, body, tc.hdr), 400, "MetadataTooLarge")
		})
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("meta"), Key: aws.String("long")}); apiCode(err) != "NotFound" {
		t.Errorf("meta/long after refused writes: %v", err)
	}
	if up, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("meta")}); err != nil || len(up.Uploads) != 0 {
		t.Errorf("uploads after a refused create: %+v, %v", up, err)
	}
	// A long but allowed Content-Disposition is stored and returned.
	ok := `attachment; filename="` + strings.Repeat("n", 1000) + `"`
	if r := st.do(t, st.key, "PUT", "/meta/fine", []byte("data"), map[string]string{"Content-Disposition": ok}); r.StatusCode != 200 {
		t.Fatalf("PUT with a 1 KB Content-Disposition: %d %s", r.StatusCode, readAll(t, r.Body))
	}
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("meta"), Key: aws.String("fine")})
	if err != nil || aws.ToString(h.ContentDisposition) != ok {
		t.Errorf("HEAD fine: %v", err)
	}
}
