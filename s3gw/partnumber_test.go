package s3gw

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestPartNumberSpellings checks that partNumber takes only the plain
// decimal form, as S3 answers anything else: 400 InvalidArgument, and
// nothing stored. "01" and "%2B1" (a literal "+1") were once read as 1.
func TestPartNumberSpellings(t *testing.T) {
	st := newStack(t)
	c := st.client(st.key)
	ctx := context.Background()
	mustBucket(t, c, "bkt")
	putString(t, c, "bkt", "whole", "one piece")
	upload, _ := createUpload(t, st, st.key, "bkt", "mp") // part 1 exists

	bad := []string{"01", "%2B1", "+1", "001", "0", "-1", "1.0", "1e0", "0x1", "%201", "1%20", "abc", "10001", "99999999999999999999", ""}
	for _, pn := range bad {
		t.Run("UploadPart/"+pn, func(t *testing.T) {
			wantError(t, st.do(t, st.key, "PUT", "/bkt/mp?uploadId="+upload+"&partNumber="+pn, []byte("replacement"), nil), 400, "InvalidArgument")
		})
		t.Run("UploadPartCopy/"+pn, func(t *testing.T) {
			wantError(t, st.do(t, st.key, "PUT", "/bkt/mp?uploadId="+upload+"&partNumber="+pn, nil, map[string]string{"x-amz-copy-source": "/bkt/whole"}), 400, "InvalidArgument")
		})
		t.Run("GetObject/"+pn, func(t *testing.T) {
			wantError(t, st.do(t, st.key, "GET", "/bkt/whole?partNumber="+pn, nil, nil), 400, "InvalidArgument")
		})
		t.Run("HeadObject/"+pn, func(t *testing.T) {
			if r := st.do(t, st.key, "HEAD", "/bkt/whole?partNumber="+pn, nil, nil); r.StatusCode != 400 {
				t.Errorf("HEAD ?partNumber=%s: %d, want 400", pn, r.StatusCode)
			}
		})
	}
	// The upload still has its one part, with the bytes first sent.
	parts, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("bkt"), Key: aws.String("mp"), UploadId: aws.String(upload)})
	if err != nil {
		t.Fatal(err)
	}
	if len(parts.Parts) != 1 || aws.ToInt32(parts.Parts[0].PartNumber) != 1 || aws.ToInt64(parts.Parts[0].Size) != int64(len("part one of mp")) {
		t.Fatalf("parts after the refused requests: %+v", parts.Parts)
	}
	// The plain forms work.
	if r := st.do(t, st.key, "PUT", "/bkt/mp?uploadId="+upload+"&partNumber=10000", []byte("last"), nil); r.StatusCode != 200 {
		t.Errorf("partNumber=10000: %d %s", r.StatusCode, readAll(t, r.Body))
	}
	if r := st.do(t, st.key, "GET", "/bkt/whole?partNumber=1", nil, nil); r.StatusCode != 200 || readAll(t, r.Body) != "one piece" {
		t.Errorf("GET ?partNumber=1: %d", r.StatusCode)
	}
}
