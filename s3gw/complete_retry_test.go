package s3gw

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"excloud.dev/buckets/objects"
)

// TestCompleteMultipartRetry: a CompleteMultipartUpload sent again after
// a success (its response lost) gets 200 and the same ETag and checksum, as
// from S3; a different part list or another key gets NoSuchUpload, and the
// object is untouched either way.
func TestCompleteMultipartRetry(t *testing.T) {
	st := newStack(t)
	c := st.client(st.key)
	ctx := context.Background()
	mustBucket(t, c, "retry")
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("retry"), Key: aws.String("obj"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := randBytes(301, 5*mib), randBytes(302, 1000)
	var parts []types.CompletedPart
	for i, p := range [][]byte{p1, p2} {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("retry"), Key: aws.String("obj"), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag, ChecksumCRC32C: out.ChecksumCRC32C})
	}
	complete := func(key string, ps []types.CompletedPart) (*s3.CompleteMultipartUploadOutput, error) {
		return c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("retry"), Key: aws.String(key), UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: ps}})
	}
	first, err := complete("obj", parts)
	if err != nil {
		t.Fatal(err)
	}
	want := multipartETag(p1, p2)
	if aws.ToString(first.ETag) != want {
		t.Fatalf("ETag %s, want %s", aws.ToString(first.ETag), want)
	}
	for i := range 2 {
		again, err := complete("obj", parts)
		if err != nil {
			t.Fatalf("retry %d: %v", i, err)
		}
		if aws.ToString(again.ETag) != want || aws.ToString(again.ChecksumCRC32C) != aws.ToString(first.ChecksumCRC32C) || again.ChecksumType != first.ChecksumType {
			t.Errorf("retry %d: etag %s crc32c %s type %s, first %s %s %s", i, aws.ToString(again.ETag), aws.ToString(again.ChecksumCRC32C), again.ChecksumType,
				want, aws.ToString(first.ChecksumCRC32C), first.ChecksumType)
		}
	}
	if _, err := complete("obj", parts[:1]); apiCode(err) != "NoSuchUpload" || sdkStatus(err) != 404 {
		t.Errorf("retry with another part list: %v", err)
	}
	if _, err := complete("other", parts); apiCode(err) != "NoSuchUpload" {
		t.Errorf("retry naming another key: %v", err)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("retry"), Key: aws.String("other")}); err == nil {
		t.Error("a retry naming another key created it")
	}
	if got, out := getBytes(t, c, "retry", "obj"); !bytes.Equal(got, append(p1, p2...)) || aws.ToString(out.ETag) != want {
		t.Errorf("object after retries: %d bytes, etag %s", len(got), aws.ToString(out.ETag))
	}
}

// TestCompletedUploadsBounded checks the retention and the size bound of the
// completion records.
func TestCompletedUploadsBounded(t *testing.T) {
	var c completedUploads
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	parts := []objects.CompletePart{{Number: 1, ETag: `"abc"`}}
	k := completedKey{"o", "b", "u1"}
	c.add(k, &completedUpload{key: "k", parts: partsDigest(parts), etag: `"e"`, at: t0})
	if _, ok := c.lookup(k, "k", []objects.CompletePart{{Number: 1, ETag: "abc"}}, t0.Add(completedRetention-time.Second)); !ok {
		t.Error("unquoted ETags of the same list, within retention: not found")
	}
	if _, ok := c.lookup(k, "k", parts, t0.Add(completedRetention)); ok {
		t.Error("found after the retention")
	}
	for i := range completedMax + 5 {
		c.add(completedKey{"o", "b", string(rune('a'+i%26)) + itoa(int64(i))}, &completedUpload{key: "k", at: t0})
	}
	if len(c.byKey) != completedMax || len(c.order) != completedMax {
		t.Errorf("%d records, %d in order; bound %d", len(c.byKey), len(c.order), completedMax)
	}
}
