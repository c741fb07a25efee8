package sigv4_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/encoding/httpbinding"
	"golang.org/x/net/http/httpguts"

	"excloud.dev/buckets/s3gw/sigv4"
)

// skipHeaders are headers the differential fuzz leaves to the signer and
// net/http: framing and hop-by-hop headers net/http rewrites on the wire,
// and the ones the signer sets itself.
var skipHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Connection": true,
	"Te": true, "Trailer": true, "Upgrade": true, "Expect": true, "Authorization": true,
	"X-Amz-Date": true, "X-Amz-Content-Sha256": true, "X-Amz-Security-Token": true,
	"Proxy-Connection": true, "Keep-Alive": true,
}

// signedWire builds a request the way aws-sdk-go-v2's S3 client does (path
// escaped once, query as given), signs it with the SDK's v4 signer, and
// returns its wire bytes; ok is false for inputs no client can send.
func signedWire(method, key, rawQuery, hname, hval, secret, region string, at time.Time) ([]byte, bool) {
	if !httpguts.ValidHeaderFieldName(method) || method == http.MethodConnect {
		return nil, false
	}
	if _, err := url.ParseQuery(rawQuery); err != nil {
		return nil, false
	}
	u := &url.URL{Scheme: "http", Host: testHost, Path: "/bucket/" + key,
		RawPath: "/bucket/" + httpbinding.EscapePath(key, false), RawQuery: rawQuery}
	req := &http.Request{Method: method, URL: u, Host: testHost, Header: http.Header{}, Body: http.NoBody}
	req.Header.Set("X-Amz-Content-Sha256", sigv4.UnsignedPayload)
	if hname != "" {
		cn := http.CanonicalHeaderKey(hname)
		if !httpguts.ValidHeaderFieldName(hname) || !httpguts.ValidHeaderFieldValue(hval) || skipHeaders[cn] {
			return nil, false
		}
		req.Header.Add(hname, hval)
	}
	// The SDK caches derived keys by access key id and day without
	// looking at the secret, so each secret gets its own key id.
	creds := aws.Credentials{AccessKeyID: "AK" + hexSHA256([]byte(secret))[:18], SecretAccessKey: secret}
	if err := awsSigner.SignHTTP(context.Background(), creds, req, sigv4.UnsignedPayload, "s3", region, at); err != nil {
		return nil, false
	}
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		return nil, false
	}
	return buf.Bytes(), true
}

func validRegion(r string) bool {
	if r == "" || len(r) > 32 {
		return false
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// FuzzCanonicalRequest is a differential fuzz of canonical request
// building: whatever method, key, query, extra header, secret, region and
// time a client uses, a request signed by aws-sdk-go-v2's v4 signer and
// sent through net/http must verify here, twice (the canonicalizer is
// deterministic), and must stop verifying when the server's secret is
// different. Inputs the SDK or net/http refuse are skipped.
func FuzzCanonicalRequest(f *testing.F) {
	f.Add("GET", "k", "", "", "", testSecret, testRegion, uint32(0))
	f.Add("PUT", "a b+c/ü~", "uploadId=abc%2Bdef%2F%3D%3D&partNumber=7", "X-Amz-Meta-Color", "  deep   blue  ", testSecret, "auto", uint32(1))
	f.Add("GET", "", "list-type=2&prefix=a+b%2Bc%2F&delimiter=%2F&start-after=x*y", "Range", "bytes=0-9", "s", "eu-central-1", uint32(86400))
	f.Add("POST", "x", "delete", "Content-Md5", "1B2M2Y8AsgTpgAGjIX2ttA==", "k/e+y=", "us-east-1", uint32(3600))
	f.Add("HEAD", "dir//f%20?#", "versions&key-marker=k&max-keys=10&max-keys=2", "X-Amz-Copy-Source", "/b/a%2Fb?versionId=null", testSecret, testRegion, uint32(7))
	f.Add("DELETE", "../..", "a/b=a-b&a-b=a/b&=x&y=", "If-None-Match", "*", testSecret, testRegion, uint32(99))
	f.Add("GET", "k", "X-Amz-Meta-X=1&acl", "x-amz-meta-\u00e9", "v", testSecret, testRegion, uint32(5))
	f.Fuzz(func(t *testing.T, method, key, rawQuery, hname, hval, secret, region string, secs uint32) {
		if !validRegion(region) || secret == "" {
			return
		}
		at := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(secs) * time.Second)
		w, ok := signedWire(method, key, rawQuery, hname, hval, secret, region, at)
		if !ok {
			return
		}
		parse := func() *http.Request {
			r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(w)))
			if err != nil {
				return nil
			}
			return r
		}
		r := parse()
		if r == nil {
			return // net/http's server would refuse it before any handler
		}
		with := func(s string) sigv4.SecretFunc {
			return func(context.Context, string) (string, error) { return s, nil }
		}
		if _, err := sigv4.Verify(r, at, with(secret)); err != nil {
			t.Fatalf("SDK-signed request refused: %v\n%s", err, w)
		}
		if _, err := sigv4.Verify(parse(), at, with(secret)); err != nil {
			t.Fatalf("second verification of the same bytes refused: %v", err)
		}
		if _, err := sigv4.Verify(parse(), at, with(secret+"x")); !errors.Is(err, sigv4.ErrSignatureMismatch) {
			t.Fatalf("verified under another secret: %v", err)
		}
	})
}

// FuzzVerifyArbitrary hands Verify arbitrary request heads: a request
// line and headers as a client could put on the wire. It must not panic,
// and nothing without a valid signature verifies: the only secret is
// testSecret, and the fuzzer cannot produce an HMAC under it by chance.
func FuzzVerifyArbitrary(f *testing.F) {
	f.Add(string(wire(f, awsRequest(f, http.MethodGet, "k", url.Values{"acl": {""}}, nil, hexSHA256(nil), fixedTime))))
	f.Add(string(wire(f, awsPresign(f, http.MethodGet, "k", url.Values{"versionId": {"1"}}, "900", fixedTime))))
	f.Add("GET /bucket/k HTTP/1.1\r\nHost: h\r\nAuthorization: AWS4-HMAC-SHA256 Credential=" + testAK + "/20250601/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("0", 64) + "\r\nX-Amz-Date: 20250601T123456Z\r\nX-Amz-Content-Sha256: UNSIGNED-PAYLOAD\r\n\r\n")
	f.Add("PUT /b/%zz?%zz HTTP/1.1\r\nHost: h\r\nDate: Sun, 01 Jun 2025 12:34:56 GMT\r\n\r\n")
	f.Fuzz(func(t *testing.T, head string) {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head)))
		if err != nil {
			return
		}
		res, err := sigv4.Verify(r, fixedTime, lookup)
		if err == nil && !strings.Contains(head, "Signature") {
			t.Fatalf("verified an unsigned request: %+v", res)
		}
	})
}
