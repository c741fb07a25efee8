package s3gw

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/tags"

	"excloud.dev/buckets/internal/testutil"
)

// sdkStatus is the HTTP status of an SDK call's failure (0 if none).
func sdkStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// objectTags reads an object's tags with GetObjectTagging.
func objectTags(t *testing.T, c *s3.Client, bucket, key string) map[string]string {
	t.Helper()
	out, err := c.GetObjectTagging(context.Background(), &s3.GetObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObjectTagging %s/%s: %v", bucket, key, err)
	}
	m := map[string]string{}
	for _, tg := range out.TagSet {
		m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return m
}

func tagSet(kv map[string]string) *types.Tagging {
	var ts types.Tagging
	for k, v := range kv {
		ts.TagSet = append(ts.TagSet, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	return &ts
}

// tagHeader encodes tags as x-amz-tagging, as the CLI builds it from a
// GetObjectTagging answer.
func tagHeader(kv map[string]string) string {
	q := url.Values{}
	for k, v := range kv {
		q.Set(k, v)
	}
	return q.Encode()
}

// TestObjectTagging drives object tagging with aws-sdk-go-v2: tags set on
// PutObject, counted on GET and HEAD, replaced and removed without touching
// the object, AWS's limits with AWS's codes, and carried (or replaced) by
// CopyObject.
func TestObjectTagging(t *testing.T) {
	st := newStack(t)
	c := st.client(st.key)
	ctx := context.Background()
	mustBucket(t, c, "tags")

	first := map[string]string{"project": "alpha", "owner": "bé a/b+c"}
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tags"), Key: aws.String("obj"),
		Body: strings.NewReader("tagged content"), Tagging: aws.String(tagHeader(first))})
	if err != nil {
		t.Fatal(err)
	}
	if got := objectTags(t, c, "tags", "obj"); !maps.Equal(got, first) {
		t.Fatalf("tags after PutObject: %v, want %v", got, first)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("tags"), Key: aws.String("obj")})
	if err != nil || aws.ToInt32(head.TagCount) != 2 {
		t.Fatalf("HeadObject tag count %v, %v", head.TagCount, err)
	}
	if _, out := getBytes(t, c, "tags", "obj"); aws.ToInt32(out.TagCount) != 2 {
		t.Errorf("GetObject tag count %v", out.TagCount)
	}

	// PutObjectTagging replaces the whole set and leaves the object alone.
	second := map[string]string{"stage": "done"}
	if _, err := c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("obj"), Tagging: tagSet(second)}); err != nil {
		t.Fatal(err)
	}
	if got := objectTags(t, c, "tags", "obj"); !maps.Equal(got, second) {
		t.Errorf("tags after PutObjectTagging: %v, want %v", got, second)
	}
	body, out := getBytes(t, c, "tags", "obj")
	if string(body) != "tagged content" || aws.ToString(out.ETag) != aws.ToString(put.ETag) ||
		!aws.ToTime(out.LastModified).Equal(aws.ToTime(head.LastModified)) || aws.ToInt32(out.TagCount) != 1 {
		t.Errorf("object after PutObjectTagging: %q etag %s modified %v count %v", body, aws.ToString(out.ETag), out.LastModified, out.TagCount)
	}

	// The limits: exactly at them is accepted (lengths count characters,
	// not bytes), one past is refused, and nothing stored changes.
	full := map[string]string{}
	for i := range 9 {
		full[fmt.Sprintf("k%d", i)] = "v"
	}
	full[strings.Repeat("é", 128)] = strings.Repeat("ü", 256)
	if _, err := c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("obj"), Tagging: tagSet(full)}); err != nil {
		t.Fatalf("10 tags at the length limits: %v", err)
	}
	if got := objectTags(t, c, "tags", "obj"); !maps.Equal(got, full) {
		t.Errorf("tags at the limits did not round-trip")
	}
	eleven := maps.Clone(full)
	eleven["extra"] = "x"
	for name, tc := range map[string]struct {
		tagging *types.Tagging
		code    string
	}{
		"11 tags":       {tagSet(eleven), "BadRequest"},
		"long key":      {tagSet(map[string]string{strings.Repeat("k", 129): "v"}), "InvalidTag"},
		"long value":    {tagSet(map[string]string{"k": strings.Repeat("v", 257)}), "InvalidTag"},
		"empty key":     {tagSet(map[string]string{"": "v"}), "InvalidTag"},
		"aws: prefix":   {tagSet(map[string]string{"aws:x": "v"}), "InvalidTag"},
		"bad char":      {tagSet(map[string]string{"a*b": "v"}), "InvalidTag"},
		"duplicate key": {&types.Tagging{TagSet: []types.Tag{{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("a"), Value: aws.String("2")}}}, "InvalidTag"},
	} {
		_, err := c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("obj"), Tagging: tc.tagging})
		if apiCode(err) != tc.code || sdkStatus(err) != 400 {
			t.Errorf("PutObjectTagging %s: %v, want 400 %s", name, err, tc.code)
		}
	}
	for name, tc := range map[string]struct{ header, code string }{
		"duplicate key": {"a=1&a=2", "InvalidArgument"},
		"bad encoding":  {"a=%zz", "InvalidArgument"},
		"11 tags":       {tagHeader(eleven), "BadRequest"},
		"long value":    {"k=" + strings.Repeat("v", 257), "InvalidTag"},
	} {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tags"), Key: aws.String("obj"),
			Body: strings.NewReader("must not replace"), Tagging: aws.String(tc.header)})
		if apiCode(err) != tc.code || sdkStatus(err) != 400 {
			t.Errorf("PutObject x-amz-tagging %s: %v, want 400 %s", name, err, tc.code)
		}
	}
	if got := objectTags(t, c, "tags", "obj"); !maps.Equal(got, full) {
		t.Errorf("refused requests changed the tags: %v", got)
	}
	if body, _ := getBytes(t, c, "tags", "obj"); string(body) != "tagged content" {
		t.Errorf("refused PutObject replaced the object: %q", body)
	}

	// CopyObject keeps the source's tags by default; REPLACE takes
	// x-amz-tagging (or none).
	copyObj := func(dst string, directive types.TaggingDirective, tagging string) error {
		in := &s3.CopyObjectInput{Bucket: aws.String("tags"), Key: aws.String(dst), CopySource: aws.String("tags/obj"), TaggingDirective: directive}
		if tagging != "" {
			in.Tagging = aws.String(tagging)
		}
		_, err := c.CopyObject(ctx, in)
		return err
	}
	if err := copyObj("copy-default", "", "ignored=1"); err != nil {
		t.Fatal(err)
	}
	if got := objectTags(t, c, "tags", "copy-default"); !maps.Equal(got, full) {
		t.Errorf("copy without directive: tags %v", got)
	}
	if err := copyObj("copy-replace", types.TaggingDirectiveReplace, "x=y"); err != nil {
		t.Fatal(err)
	}
	if got := objectTags(t, c, "tags", "copy-replace"); !maps.Equal(got, map[string]string{"x": "y"}) {
		t.Errorf("copy with REPLACE: tags %v", got)
	}
	if err := copyObj("copy-none", types.TaggingDirectiveReplace, ""); err != nil {
		t.Fatal(err)
	}
	if got := objectTags(t, c, "tags", "copy-none"); len(got) != 0 {
		t.Errorf("copy with REPLACE and no tags: %v", got)
	}
	if err := copyObj("copy-bad", "MERGE", ""); apiCode(err) != "InvalidArgument" {
		t.Errorf("unknown tagging directive: %v", err)
	}

	// DeleteObjectTagging empties the set; the object stays.
	if _, err := c.DeleteObjectTagging(ctx, &s3.DeleteObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("obj")}); err != nil {
		t.Fatal(err)
	}
	if got := objectTags(t, c, "tags", "obj"); len(got) != 0 {
		t.Errorf("tags after DeleteObjectTagging: %v", got)
	}
	head, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("tags"), Key: aws.String("obj")})
	if err != nil || head.TagCount != nil {
		t.Errorf("HeadObject after DeleteObjectTagging: count %v, %v", head.TagCount, err)
	}

	for name, err := range map[string]error{
		"get": func() error {
			_, err := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("missing")})
			return err
		}(),
		"put": func() error {
			_, err := c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("missing"), Tagging: tagSet(second)})
			return err
		}(),
	} {
		if apiCode(err) != "NoSuchKey" || sdkStatus(err) != http.StatusNotFound {
			t.Errorf("%s tagging of a missing key: %v", name, err)
		}
	}
}

// TestMultipartCopyCarriesTags does what `aws s3 cp s3://b/big s3://b/copy`
// does for an object above the CLI's multipart threshold: read the source's
// tags, start an upload carrying them, copy the parts, complete.
func TestMultipartCopyCarriesTags(t *testing.T) {
	st := newStack(t)
	c := st.client(st.key)
	ctx := context.Background()
	mustBucket(t, c, "bkt")
	data := randBytes(151, 6*mib+100)
	src := map[string]string{"team": "data", "keep": "forever"}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("big"),
		Body: bytes.NewReader(data), Tagging: aws.String(tagHeader(src))}); err != nil {
		t.Fatal(err)
	}

	got := objectTags(t, c, "bkt", "big")
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("big-copy"), Tagging: aws.String(tagHeader(got))})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for i, rng := range []string{fmt.Sprintf("bytes=0-%d", 5*mib-1), fmt.Sprintf("bytes=%d-%d", 5*mib, len(data)-1)} {
		out, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("bkt"), Key: aws.String("big-copy"), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), CopySource: aws.String("bkt/big"), CopySourceRange: aws.String(rng)})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag})
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("big-copy"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatal(err)
	}
	if got := objectTags(t, c, "bkt", "big-copy"); !maps.Equal(got, src) {
		t.Errorf("copy's tags %v, want %v", got, src)
	}
	if body, out := getBytes(t, c, "bkt", "big-copy"); !bytes.Equal(body, data) || aws.ToInt32(out.TagCount) != 2 {
		t.Errorf("copy: %d bytes (equal %v), tag count %v", len(body), bytes.Equal(body, data), out.TagCount)
	}
}

// TestMinioTagging sets and reads tags with minio-go's own tagging calls.
func TestMinioTagging(t *testing.T) {
	st := newStack(t)
	mc := testutil.Minio(t, st.srv.URL, st.key.ID, st.key.Secret)
	ctx := context.Background()
	if err := mc.MakeBucket(ctx, "mtags", minio.MakeBucketOptions{Region: "auto"}); err != nil {
		t.Fatal(err)
	}
	if _, err := mc.PutObject(ctx, "mtags", "o", strings.NewReader("x"), 1, minio.PutObjectOptions{UserTags: map[string]string{"a": "1"}}); err != nil {
		t.Fatal(err)
	}
	tg, err := tags.MapToObjectTags(map[string]string{"b": "2", "c": "3"})
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.PutObjectTagging(ctx, "mtags", "o", tg, minio.PutObjectTaggingOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := mc.GetObjectTagging(ctx, "mtags", "o", minio.GetObjectTaggingOptions{})
	if err != nil || !maps.Equal(got.ToMap(), map[string]string{"b": "2", "c": "3"}) {
		t.Errorf("minio GetObjectTagging: %v, %v", got, err)
	}
	if err := mc.RemoveObjectTagging(ctx, "mtags", "o", minio.RemoveObjectTaggingOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := mc.GetObjectTagging(ctx, "mtags", "o", minio.GetObjectTaggingOptions{}); err != nil || len(got.ToMap()) != 0 {
		t.Errorf("after RemoveObjectTagging: %v, %v", got, err)
	}
}

// TestPutObjectTaggingDigests: a PutObjectTagging body that does not match
// its Content-MD5 or checksum header is BadDigest and changes nothing.
func TestPutObjectTaggingDigests(t *testing.T) {
	st := newStack(t)
	c := st.client(st.key)
	mustBucket(t, c, "dig")
	putString(t, c, "dig", "o", "x")
	body := []byte(`<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>`)
	for name, hdr := range map[string]map[string]string{
		"Content-MD5":          {"Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="}, // MD5 of ""
		"x-amz-checksum-crc32": {"x-amz-checksum-crc32": "AAAAAA=="},
	} {
		wantError(t, st.do(t, st.key, "PUT", "/dig/o?tagging", body, hdr), 400, "BadDigest")
		if got := objectTags(t, c, "dig", "o"); len(got) != 0 {
			t.Errorf("%s mismatch: tags %v were set", name, got)
		}
	}
	if r := st.do(t, st.key, "PUT", "/dig/o?tagging", body, nil); r.StatusCode != 200 {
		t.Errorf("without digests: %d %s", r.StatusCode, readAll(t, r.Body))
	}
}
