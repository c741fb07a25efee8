package s3gw

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/net/http/httpguts"
)

// requestFuzzStack is one real stack (Badger, chunk files, object layer)
// for every input of one fuzz target, with a bucket, an object and an open
// multipart upload (its id returned) for the inputs to act on. Each target
// makes its own: the stack is cleaned up when the target ends.
func requestFuzzStack(f *testing.F) (*stack, string) {
	st := newStack(f)
	c := st.client(st.key)
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("fzz")}); err != nil {
		f.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("fzz"), Key: aws.String("k"), Body: strings.NewReader("0123456789")}); err != nil {
		f.Fatal(err)
	}
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("fzz"), Key: aws.String("mp")})
	if err != nil {
		f.Fatal(err)
	}
	return st, aws.ToString(up.UploadId)
}

// FuzzSignedRequest sends arbitrary correctly signed requests (method,
// path, query, extra "Name: value" header lines, body) through the whole gateway: the
// router, every handler's parameter and header parsing, and the object
// layer behind it. Whatever the input, the answer is never a 500 (a
// panic or an unclassified error) and every error carries an S3 XML body.
// The literal UPLOADID in a path or query stands for a real open upload.
func FuzzSignedRequest(f *testing.F) {
	st, uploadID := requestFuzzStack(f)
	seeds := []struct{ method, path, query, hdrs, body string }{
		{"GET", "/fzz/k", "", "Range: bytes=2-", ""},
		{"GET", "/fzz", "list-type=2&max-keys=1&continuation-token=%%%", "", ""},
		{"GET", "/fzz", "list-type=2&continuation-token=____", "", ""},
		{"PUT", "/fzz/copy", "", "X-Amz-Copy-Source: /fzz/k?versionId=null", ""},
		{"PUT", "/fzz/mp", "partNumber=1&uploadId=UPLOADID", "X-Amz-Copy-Source: /fzz/k\nX-Amz-Copy-Source-Range: bytes=5-9223372036854775807", ""},
		{"PUT", "/fzz/mp", "partNumber=10001&uploadId=UPLOADID", "", "x"},
		{"PUT", "/fzz/mp", "partNumber=2&uploadId=UPLOADID", "X-Amz-Checksum-Crc32: AAAAAA==", "data"},
		{"POST", "/fzz/mp", "uploadId=UPLOADID", "", "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>"},
		{"POST", "/fzz", "delete", "Content-Md5: AAAAAAAAAAAAAAAAAAAAAA==", "<Delete><Object><Key>k2</Key></Object></Delete>"},
		{"PUT", "/fzz/" + strings.Repeat("k", 1025), "", "", ""},
		{"PUT", "/fzz/m", "", "X-Amz-Meta-A: " + strings.Repeat("v", 2100), ""},
		{"GET", "/fzz/k", "partNumber=1", "If-None-Match: *", ""},
		{"POST", "/fzz/new", "uploads", "X-Amz-Checksum-Algorithm: CRC64NVME", ""},
		{"GET", "/fzz", "uploads&max-uploads=-1&key-marker=%00", "", ""},
		{"GET", "/fzz/mp", "uploadId=UPLOADID&max-parts=99999999999999999999&part-number-marker=-3", "", ""},
		{"DELETE", "/fzz/nope", "versionId=x", "", ""},
		{"PUT", "/Bad..Name", "", "", "<CreateBucketConfiguration><LocationConstraint>x</LocationConstraint></CreateBucketConfiguration>"},
		{"HEAD", "/fzz/k", "", "If-Modified-Since: Mon, 02 Jan 2006 15:04:05 GMT", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, s.hdrs, []byte(s.body))
	}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: st.key.ID, SecretAccessKey: st.key.Secret}
	h := st.srv.Config.Handler
	f.Fuzz(func(t *testing.T, method, path, query, hdrs string, body []byte) {
		if !httpguts.ValidHeaderFieldName(method) || method == http.MethodConnect || len(body) > 1<<16 {
			return
		}
		path = strings.ReplaceAll(path, "UPLOADID", uploadID)
		query = strings.ReplaceAll(query, "UPLOADID", uploadID)
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "?#") {
			return
		}
		raw := "http://" + st.srv.Listener.Addr().String() + path
		if query != "" {
			raw += "?" + query
		}
		req, err := http.NewRequest(method, raw, bytes.NewReader(body))
		if err != nil {
			return // not a URL a client can send
		}
		for line := range strings.SplitSeq(hdrs, "\n") {
			hname, hval, ok := strings.Cut(line, ": ")
			if !ok {
				continue
			}
			cn := http.CanonicalHeaderKey(hname)
			if !httpguts.ValidHeaderFieldName(hname) || !httpguts.ValidHeaderFieldValue(hval) || cn == "Host" || cn == "Authorization" || cn == "Content-Length" ||
				cn == "Transfer-Encoding" || cn == "Expect" || cn == "X-Amz-Date" || cn == "X-Amz-Content-Sha256" {
				return
			}
			req.Header.Add(hname, hval)
		}
		sum := sha256.Sum256(body)
		payload := hex.EncodeToString(sum[:])
		req.Header.Set("X-Amz-Content-Sha256", payload)
		if err := signer.SignHTTP(context.Background(), creds, req, payload, "s3", "auto", time.Now()); err != nil {
			return
		}
		if !serveWire(t, h, req, fmt.Sprintf("%s %s?%s %q", method, path, query, hdrs)) {
			return
		}
	})
}

// serveWire sends req to h through the wire format and back, as the server
// would read it, and fails t if the answer is a 5xx other than 501, or an
// error without an S3 error document (HEAD answers have no body); what
// names the request in the failure. It reports false, serving nothing,
// for a request that does not survive the round trip.
func serveWire(t *testing.T, h http.Handler, req *http.Request, what string) bool {
	t.Helper()
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		return false
	}
	sreq, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		return false
	}
	sreq.RemoteAddr = "127.0.0.1:1"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, sreq)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 500 && res.StatusCode != http.StatusNotImplemented {
		t.Fatalf("%s answered %d:\n%s", what, res.StatusCode, b)
	}
	if res.StatusCode >= 400 && req.Method != http.MethodHead {
		var e struct {
			Code string `xml:"Code"`
		}
		if err := xml.Unmarshal(b, &e); err != nil || e.Code == "" {
			t.Fatalf("%s answered %d without an S3 error body: %q", what, res.StatusCode, b)
		}
	}
	return true
}
