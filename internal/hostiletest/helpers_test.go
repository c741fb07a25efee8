package hostiletest

import (
	"context"
	"encoding/xml"
	"flag"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/internal/excdtest"
)

var long = flag.Bool("long", false, "run the slow-client tests against excd's shipped timeouts (20 s for headers, 2 min idle) instead of 1 s ones")

func init() {
	// The machines set AWS_CA_BUNDLE; SDK config loading would try to use it.
	os.Unsetenv("AWS_CA_BUNDLE")
}

// start runs one excd on a fresh data directory with a bucket.
func start(t *testing.T, bucket string) (*excdtest.Proc, string) {
	t.Helper()
	dir := t.TempDir()
	p := excdtest.Start(t, excdtest.Options{DataDir: dir})
	if bucket != "" {
		if _, err := p.S3().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Fatal(err)
		}
	}
	return p, dir
}

// signer signs as aws-sdk-go-v2's S3 client does (path escaped once).
var signer = v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })

var rootCreds = aws.Credentials{AccessKeyID: excdtest.AccessKey, SecretAccessKey: excdtest.SecretKey}

// newReq builds a request for endpoint+path (path and query already
// escaped); body may be nil.
func newReq(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// sign signs req with creds at the given time, payload UNSIGNED-PAYLOAD
// unless the caller set X-Amz-Content-Sha256.
func sign(t *testing.T, req *http.Request, creds aws.Credentials, region string, at time.Time) {
	t.Helper()
	payload := req.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		payload = "UNSIGNED-PAYLOAD"
		req.Header.Set("X-Amz-Content-Sha256", payload)
	}
	if err := signer.SignHTTP(context.Background(), creds, req, payload, "s3", region, at); err != nil {
		t.Fatal(err)
	}
}

// s3Error is the XML error body.
type s3Error struct {
	Status  int
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
	Raw     string
}

// do sends req and decodes the answer as an S3 error (Code empty when
// the body is not one).
func do(t *testing.T, req *http.Request) s3Error {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	e := s3Error{Status: resp.StatusCode, Raw: string(b)}
	if len(b) > 0 {
		xml.Unmarshal(b, &e)
	}
	return e
}

// countChunks counts chunk files in a data directory.
func countChunks(t *testing.T, dataDir string) int {
	t.Helper()
	files, err := excdtest.ChunkFiles(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	return len(files)
}

func xmlUnmarshal(b []byte, e *s3Error) error { return xml.Unmarshal(b, e) }
