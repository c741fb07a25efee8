package sigv4_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"excloud.dev/buckets/s3gw/sigv4"
)

const (
	testAK     = "EXCTESTKEY0000000001"
	testSecret = "tHiS/is+a=SECRET/key0123456789abcdefghi"
	testRegion = "us-east-1"
	testHost   = "127.0.0.1:9000"
)

// lookup is the SecretFunc under test: one known key.
func lookup(_ context.Context, ak string) (string, error) {
	if ak == testAK {
		return testSecret, nil
	}
	return "", fmt.Errorf("%w: %q", sigv4.ErrInvalidAccessKeyID, ak)
}

// fixedTime is the signing time of the aws-sdk-go-v2 cases.
var fixedTime = time.Date(2025, 6, 1, 12, 34, 56, 0, time.UTC)

var awsCreds = aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSecret}

// awsSigner is configured as aws-sdk-go-v2's S3 client configures it: the
// S3 path is escaped once by the serializer and not again by the signer.
var awsSigner = v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// wire serializes a client request as net/http sends it.
func wire(t testing.TB, req *http.Request) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatalf("writing request: %v", err)
	}
	return buf.Bytes()
}

// serve parses wire bytes as net/http's server does, so Verify sees what
// it would see in production: Host moved to r.Host, the escaped path in
// r.URL, HTTP chunking removed.
func serve(t testing.TB, b []byte) *http.Request {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("parsing request: %v", err)
	}
	return r
}

// roundTrip is wire then serve.
func roundTrip(t testing.TB, req *http.Request) *http.Request {
	t.Helper()
	return serve(t, wire(t, req))
}

// readAll reads a verified body, returning what was read and the first
// error other than io.EOF.
func readAll(res *sigv4.Result) ([]byte, error) {
	return io.ReadAll(res.Body)
}
