package s3gw

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/catalog"
)

// capture signs a request as st.do would and returns a function that sends
// it again, byte for byte, with extra headers added after signing: what an
// eavesdropper on a plain-HTTP hop, or a logging proxy, could replay
// within the skew window.
func capture(t *testing.T, st *stack, k catalog.AccessKey, method, path string, body []byte) func(extra map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, st.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	req.Header.Set("x-amz-content-sha256", payload)
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: k.ID, SecretAccessKey: k.Secret}, req, payload, "s3", "auto", time.Now()); err != nil {
		t.Fatal(err)
	}
	return func(extra map[string]string) *http.Response {
		t.Helper()
		again, err := http.NewRequest(method, st.srv.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		again.Header = req.Header.Clone()
		for name, v := range extra {
			again.Header.Set(name, v)
		}
		resp, err := st.srv.Client().Do(again)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
}

// wantHeadersNotSigned checks the response S3 gives for an unsigned x-amz-*
// header: 403 AccessDenied with its message.
func wantHeadersNotSigned(t *testing.T, resp *http.Response) {
	t.Helper()
	body := readAll(t, resp.Body)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "<Code>AccessDenied</Code>") ||
		!strings.Contains(body, "There were headers present in the request which were not signed") {
		t.Fatalf("replay with an unsigned x-amz-copy-source: %d %s", resp.StatusCode, body)
	}
}

// TestReplayWithUnsignedCopySource replays a signed PutObject and a signed
// UploadPart with an unsigned x-amz-copy-source added. Before header
// authentication refused unsigned x-amz-* headers, the router took the
// added header at its word: the PutObject became a CopyObject of another
// bucket's object, the UploadPart an UploadPartCopy.
func TestReplayWithUnsignedCopySource(t *testing.T) {
	st := newStack(t)
	c := st.client(st.key)
	ctx := context.Background()
	mustBucket(t, c, "private")
	mustBucket(t, c, "drop")
	secret := "the contents of private/secret"
	putString(t, c, "private", "secret", secret)
	// The key that signed the captured requests may read private: the
	// replay would copy with its rights, not the attacker's.
	k := st.newKey(t, catalog.AccessKey{})

	t.Run("PutObject", func(t *testing.T) {
		replay := capture(t, st, k, "PUT", "/drop/upload.txt", []byte("harmless"))
		wantHeadersNotSigned(t, replay(map[string]string{"x-amz-copy-source": "/private/secret"}))
		if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("drop"), Key: aws.String("upload.txt")}); apiCode(err) != "NotFound" {
			t.Fatalf("after the refused replay, drop/upload.txt: %v (want NotFound: nothing written)", err)
		}
		// The same capture without the added header is a valid PutObject.
		if r := replay(nil); r.StatusCode != 200 {
			t.Fatalf("original request: %d %s", r.StatusCode, readAll(t, r.Body))
		}
		if got, _ := getBytes(t, c, "drop", "upload.txt"); string(got) != "harmless" {
			t.Fatalf("drop/upload.txt = %q", got)
		}
	})

	t.Run("UploadPart", func(t *testing.T) {
		r := st.do(t, k, "POST", "/drop/assembled?uploads", nil, nil)
		var init initiateMultipartUploadResult
		if err := xml.Unmarshal([]byte(readAll(t, r.Body)), &init); err != nil || init.UploadID == "" {
			t.Fatalf("create upload: %d %v", r.StatusCode, err)
		}
		replay := capture(t, st, k, "PUT", "/drop/assembled?partNumber=1&uploadId="+init.UploadID, []byte("part one"))
		wantHeadersNotSigned(t, replay(map[string]string{"x-amz-copy-source": "private/secret"}))
		parts, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("drop"), Key: aws.String("assembled"), UploadId: aws.String(init.UploadID)})
		if err != nil {
			t.Fatal(err)
		}
		if len(parts.Parts) != 0 {
			t.Fatalf("after the refused replay the upload has %d parts (want none); first is %d bytes", len(parts.Parts), aws.ToInt64(parts.Parts[0].Size))
		}
		if r := replay(nil); r.StatusCode != 200 {
			t.Fatalf("original request: %d %s", r.StatusCode, readAll(t, r.Body))
		}
		parts, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("drop"), Key: aws.String("assembled"), UploadId: aws.String(init.UploadID)})
		if err != nil || len(parts.Parts) != 1 || aws.ToInt64(parts.Parts[0].Size) != int64(len("part one")) {
			t.Fatalf("after the original request: %+v, %v", parts, err)
		}
	})
}
