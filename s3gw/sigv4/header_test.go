package sigv4_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/httpbinding"
	"github.com/minio/minio-go/v7/pkg/s3utils"
	"github.com/minio/minio-go/v7/pkg/signer"

	"excloud.dev/buckets/s3gw/sigv4"
)

// testKeys are object keys whose encoding has tripped up S3 servers.
var testKeys = []string{
	"plain.txt",
	"a+b=c",
	"with space/and  two",
	"100%25 literal %",
	"tilde~under_score-dot.",
	"日本語/ü/emoji-😀",
	"ctrl\x01\x1f\x7f\ttab\nnl",
	"a//b///c",
	"/leading-slash",
	"dir/",
	"sub-delims!$&'()*,;=:@",
	"q?mark#hash[br]{x}|^`\"<>\\",
}

// testQueries are decoded query parameters signed along with the path.
var testQueries = []url.Values{
	nil,
	{"acl": {""}},
	{"uploadId": {"abc+def/=="}, "partNumber": {"7"}},
	{"list-type": {"2"}, "prefix": {"a b+c/ü~"}, "delimiter": {"/"}, "start-after": {"x*y"}},
	{"versions": {""}, "key-marker": {"k"}, "max-keys": {"10", "2"}},
}

// awsRequest builds a request the way aws-sdk-go-v2's S3 serializer does
// (path escaped once with smithy's httpbinding) and signs it with
// v4.Signer.SignHTTP.
func awsRequest(t testing.TB, method, key string, q url.Values, body []byte, payloadHash string, at time.Time) *http.Request {
	t.Helper()
	u := &url.URL{
		Scheme:  "http",
		Host:    testHost,
		Path:    "/bucket/" + key,
		RawPath: "/bucket/" + httpbinding.EscapePath(key, false),
	}
	if q != nil {
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequest(method, u.String(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.URL = u
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	req.Header.Set("X-Amz-Meta-Color", "  deep   blue  ")
	if err := awsSigner.SignHTTP(context.Background(), awsCreds, req, payloadHash, "s3", testRegion, at); err != nil {
		t.Fatal(err)
	}
	return req
}

// minioRequest builds a request the way minio-go does (s3utils.EncodePath,
// s3utils.QueryEncode) and signs it with signer.SignV4 at time.Now().
func minioRequest(t testing.TB, method, key string, q url.Values, body []byte, payloadHash string) *http.Request {
	t.Helper()
	raw := "http://" + testHost + "/bucket/" + s3utils.EncodePath(key)
	if q != nil {
		raw += "?" + s3utils.QueryEncode(q)
	}
	req, err := http.NewRequest(method, raw, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	req.Header.Set("X-Amz-Meta-Color", "deep blue")
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	return signer.SignV4(*req, testAK, testSecret, "", testRegion)
}

func TestHeaderAuthSDKs(t *testing.T) {
	body := []byte("the quick brown fox")
	for _, key := range testKeys {
		for qi, q := range testQueries {
			for _, form := range []string{"hex", "unsigned"} {
				hash := hexSHA256(body)
				if form == "unsigned" {
					hash = sigv4.UnsignedPayload
				}
				name := strings.ReplaceAll(key, "/", "|") + "/q" + string(rune('0'+qi)) + "/" + form
				t.Run("aws/"+name, func(t *testing.T) {
					r := roundTrip(t, awsRequest(t, http.MethodPut, key, q, body, hash, fixedTime))
					checkOK(t, r, fixedTime, body, hash)
				})
				t.Run("minio/"+name, func(t *testing.T) {
					r := roundTrip(t, minioRequest(t, http.MethodPut, key, q, body, hash))
					checkOK(t, r, time.Now(), body, hash)
				})
			}
		}
	}
}

func checkOK(t *testing.T, r *http.Request, now time.Time, body []byte, hash string) {
	t.Helper()
	res, err := sigv4.Verify(r, now, lookup)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	got, err := readAll(res)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("body %q, want %q", got, body)
	}
	if res.AccessKeyID != testAK || res.Region != testRegion || res.Presigned || res.ContentSHA256 != hash {
		t.Fatalf("result %+v", res)
	}
	if res.DecodedLength != int64(len(body)) {
		t.Fatalf("DecodedLength %d, want %d", res.DecodedLength, len(body))
	}
}

func TestHeaderAuthGETEmptyBody(t *testing.T) {
	req := awsRequest(t, http.MethodGet, "k", url.Values{"versionId": {"v1"}}, nil, hexSHA256(nil), fixedTime)
	req.Body, req.ContentLength = nil, 0
	res, err := sigv4.Verify(roundTrip(t, req), fixedTime, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := readAll(res); err != nil || len(b) != 0 {
		t.Fatalf("body %q, %v", b, err)
	}
}

// TestHeaderAuthDateHeader covers clients that sign Date instead of
// x-amz-date.
func TestHeaderAuthDateHeader(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "http://"+testHost+"/bucket/k", nil)
	req.Header.Set("X-Amz-Content-Sha256", sigv4.UnsignedPayload)
	req.Header.Set("Date", fixedTime.Format(http.TimeFormat))
	// v4.Signer always adds X-Amz-Date; drop it and re-sign with the same
	// time so only Date carries the time.
	if err := awsSigner.SignHTTP(context.Background(), awsCreds, req, sigv4.UnsignedPayload, "s3", testRegion, fixedTime); err != nil {
		t.Fatal(err)
	}
	r := roundTrip(t, req)
	if _, err := sigv4.Verify(r, fixedTime, lookup); err != nil {
		t.Fatalf("with x-amz-date: %v", err)
	}
	// Without x-amz-date the Date header is used; since x-amz-date was
	// signed the signature no longer matches, but the time checks pass.
	r = roundTrip(t, req)
	r.Header.Del("X-Amz-Date")
	if _, err := sigv4.Verify(r, fixedTime.Add(time.Hour), lookup); !errors.Is(err, sigv4.ErrTimeSkewed) {
		t.Fatalf("Date header skew: got %v", err)
	}
}

func TestHeaderAuthFailures(t *testing.T) {
	body := []byte("payload")
	good := func() *http.Request {
		return awsRequest(t, http.MethodPut, "dir/obj", url.Values{"tagging": {""}}, body, hexSHA256(body), fixedTime)
	}
	cases := []struct {
		name string
		req  func() *http.Request
		mod  func(r *http.Request) // applied on the server side
		now  time.Time
		want error
	}{
		{name: "wrong secret", req: func() *http.Request {
			req := awsRequest(t, http.MethodPut, "dir/obj", nil, body, hexSHA256(body), fixedTime)
			creds := awsCreds
			creds.SecretAccessKey = "not-the-secret"
			req.Header.Del("Authorization")
			// A fresh signer: v4.Signer caches derived keys by access key id.
			fresh := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
			if err := fresh.SignHTTP(context.Background(), creds, req, hexSHA256(body), "s3", testRegion, fixedTime); err != nil {
				t.Fatal(err)
			}
			return req
		}, want: sigv4.ErrSignatureMismatch},
		{name: "unknown key", req: func() *http.Request {
			req := awsRequest(t, http.MethodPut, "dir/obj", nil, body, hexSHA256(body), fixedTime)
			creds := awsCreds
			creds.AccessKeyID = "EXCNOSUCHKEY"
			req.Header.Del("Authorization")
			if err := awsSigner.SignHTTP(context.Background(), creds, req, hexSHA256(body), "s3", testRegion, fixedTime); err != nil {
				t.Fatal(err)
			}
			return req
		}, want: sigv4.ErrInvalidAccessKeyID},
		{name: "altered signed header", req: good, mod: func(r *http.Request) { r.Header.Set("X-Amz-Meta-Color", "red") }, want: sigv4.ErrSignatureMismatch},
		{name: "added query", req: good, mod: func(r *http.Request) { r.URL.RawQuery += "&versionId=x" }, want: sigv4.ErrSignatureMismatch},
		{name: "altered query", req: good, mod: func(r *http.Request) { r.URL.RawQuery = "tagging=x" }, want: sigv4.ErrSignatureMismatch},
		{name: "altered path", req: good, mod: func(r *http.Request) { r.URL.Path = "/bucket/dir/obj2"; r.URL.RawPath = "" }, want: sigv4.ErrSignatureMismatch},
		{name: "path case", req: good, mod: func(r *http.Request) { r.URL.Path = "/bucket/Dir/obj"; r.URL.RawPath = "" }, want: sigv4.ErrSignatureMismatch},
		{name: "altered method", req: good, mod: func(r *http.Request) { r.Method = http.MethodDelete }, want: sigv4.ErrSignatureMismatch},
		{name: "altered host", req: good, mod: func(r *http.Request) { r.Host = "evil:9000" }, want: sigv4.ErrSignatureMismatch},
		{name: "scope date != x-amz-date", req: good, mod: func(r *http.Request) {
			r.Header.Set("X-Amz-Date", fixedTime.Add(24*time.Hour).Format("20060102T150405Z"))
		}, now: fixedTime.Add(24 * time.Hour), want: sigv4.ErrMalformedAuth},
		{name: "wrong service", req: func() *http.Request {
			req := good()
			req.Header.Del("Authorization")
			if err := awsSigner.SignHTTP(context.Background(), awsCreds, req, hexSHA256(body), "ec2", testRegion, fixedTime); err != nil {
				t.Fatal(err)
			}
			return req
		}, want: sigv4.ErrMalformedAuth},
		{name: "skew past", req: good, now: fixedTime.Add(sigv4.MaxSkew + time.Second), want: sigv4.ErrTimeSkewed},
		{name: "skew future", req: good, now: fixedTime.Add(-sigv4.MaxSkew - time.Second), want: sigv4.ErrTimeSkewed},
		{name: "no auth", req: good, mod: func(r *http.Request) { r.Header.Del("Authorization") }, want: sigv4.ErrMissingAuth},
		{name: "two Authorization", req: good, mod: func(r *http.Request) { r.Header.Add("Authorization", r.Header.Get("Authorization")) }, want: sigv4.ErrMalformedAuth},
		{name: "header and query auth", req: good, mod: func(r *http.Request) { r.URL.RawQuery += "&X-Amz-Signature=00" }, want: sigv4.ErrMalformedAuth},
		{name: "missing content sha", req: good, mod: func(r *http.Request) { r.Header.Del("X-Amz-Content-Sha256") }, want: sigv4.ErrInvalidContentSHA256},
		{name: "bogus content sha", req: good, mod: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "STREAMING-FOO") }, want: sigv4.ErrInvalidContentSHA256},
		{name: "short hex content sha", req: good, mod: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "abcd") }, want: sigv4.ErrInvalidContentSHA256},
		{name: "missing date", req: good, mod: func(r *http.Request) { r.Header.Del("X-Amz-Date") }, want: sigv4.ErrMalformedAuth},
		{name: "bad date", req: good, mod: func(r *http.Request) { r.Header.Set("X-Amz-Date", "2025-06-01T12:00:00Z") }, want: sigv4.ErrMalformedAuth},
		{name: "sigv4a", req: good, mod: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1))
		}, want: sigv4.ErrUnsupportedAlgorithm},
		{name: "sigv2", req: good, mod: func(r *http.Request) { r.Header.Set("Authorization", "AWS "+testAK+":c2lnbmF0dXJl") }, want: sigv4.ErrUnsupportedAlgorithm},
		{name: "x-amz-trailer on plain payload", req: good, mod: func(r *http.Request) { r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32") }, want: sigv4.ErrInvalidContentSHA256},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := roundTrip(t, tc.req())
			if tc.mod != nil {
				tc.mod(r)
			}
			now := tc.now
			if now.IsZero() {
				now = fixedTime
			}
			res, err := sigv4.Verify(r, now, lookup)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v (result %+v), want %v", err, res, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), testSecret) {
				t.Fatalf("error leaks the secret: %v", err)
			}
		})
	}
}

func TestHexPayloadMismatch(t *testing.T) {
	signed := []byte("hello world")
	for _, wrap := range []struct {
		name string
		f    func(io.Reader) io.Reader
	}{{"plain", func(r io.Reader) io.Reader { return r }}, {"onebyte", iotest.OneByteReader}, {"half", iotest.HalfReader}} {
		t.Run(wrap.name, func(t *testing.T) {
			req := awsRequest(t, http.MethodPut, "k", nil, signed, hexSHA256(signed), fixedTime)
			b := wire(t, req)
			b = bytes.Replace(b, []byte("hello world"), []byte("hello World"), 1)
			r := serve(t, b)
			r.Body = io.NopCloser(wrap.f(r.Body))
			res, err := sigv4.Verify(r, fixedTime, lookup)
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(res)
			if !errors.Is(err, sigv4.ErrContentSHA256) {
				t.Fatalf("read %q, err %v; want ErrContentSHA256", got, err)
			}
			// The error is sticky: no later read reports a clean EOF.
			if _, err := res.Body.Read(make([]byte, 1)); !errors.Is(err, sigv4.ErrContentSHA256) {
				t.Fatalf("second read: %v", err)
			}
		})
	}
}

func TestParseAuthorization(t *testing.T) {
	const sig = "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"
	const cred = "AKID/20250601/us-east-1/s3/aws4_request"
	ok := []string{
		"AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host;range;x-amz-date, Signature=" + sig,
		"AWS4-HMAC-SHA256 Credential=" + cred + ",SignedHeaders=host,Signature=" + sig,
		"AWS4-HMAC-SHA256 Signature=" + sig + ", Credential=" + cred + ", SignedHeaders=host",
		"AWS4-HMAC-SHA256 Credential=AKID/20250601/eu-central-1/s3/aws4_request, SignedHeaders=content-md5;host, Signature=" + sig,
	}
	for _, h := range ok {
		a, err := sigv4.ParseAuthorization(h)
		if err != nil {
			t.Errorf("%q: %v", h, err)
			continue
		}
		if a.Signature != sig || a.Credential.AccessKeyID != "AKID" || a.Credential.Service != "s3" {
			t.Errorf("%q: parsed %+v", h, a)
		}
	}
	bad := map[string]error{
		"":                  sigv4.ErrUnsupportedAlgorithm,
		"AWS4-HMAC-SHA256":  sigv4.ErrMalformedAuth,
		"AWS4-HMAC-SHA256 ": sigv4.ErrMalformedAuth,
		"Bearer xyz":        sigv4.ErrUnsupportedAlgorithm,
		"AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host":                                               sigv4.ErrMalformedAuth,
		"AWS4-HMAC-SHA256 Credential=" + cred + ", Signature=" + sig:                                                 sigv4.ErrMalformedAuth,
		"AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" + sig:                                                      sigv4.ErrMalformedAuth,
		"AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host, Signature=" + sig + ", Signature=" + sig:      sigv4.ErrMalformedAuth,
		"AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host, Signature=" + sig[:63]:                        sigv4.ErrMalformedAuth,
		"AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host, Signature=" + strings.ToUpper(sig):            sigv4.ErrMalformedAuth,
		"AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=x-amz-date, Signature=" + sig:                       sigv4.ErrMalformedAuth,
		"AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=x-amz-date;host, Signature=" + sig:                  sigv4.ErrMalformedAuth,
		"AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host;host, Signature=" + sig:                        sigv4.ErrMalformedAuth,
		"AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=Host, Signature=" + sig:                             sigv4.ErrMalformedAuth,
		"AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host;;x, Signature=" + sig:                          sigv4.ErrMalformedAuth,
		"AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host, Signature=" + sig + ", Extra=1":               sigv4.ErrMalformedAuth,
		"AWS4-HMAC-SHA256 Credential=" + cred + " SignedHeaders=host, Signature=" + sig:                              sigv4.ErrMalformedAuth,
		"AWS4-HMAC-SHA256 Credential=AKID/20250601/us-east-1/s3, SignedHeaders=host, Signature=" + sig:               sigv4.ErrMalformedAuth,
		"AWS4-HMAC-SHA256 Credential=AKID/2025061/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + sig:   sigv4.ErrMalformedAuth,
		"AWS4-HMAC-SHA256 Credential=AKID/20251301/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + sig:  sigv4.ErrMalformedAuth,
		"AWS4-HMAC-SHA256 Credential=AKID/20250601//s3/aws4_request, SignedHeaders=host, Signature=" + sig:           sigv4.ErrMalformedAuth,
		"AWS4-HMAC-SHA256 Credential=AKID/20250601/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=" + sig: sigv4.ErrMalformedAuth,
		"AWS4-HMAC-SHA256 Credential=AKID/20250601/us-east-1/s3/aws5_request, SignedHeaders=host, Signature=" + sig:  sigv4.ErrMalformedAuth,
		"AWS4-HMAC-SHA256 Credential=/20250601/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + sig:      sigv4.ErrMalformedAuth,
		"AWS4-HMAC-SHA256 Credential=A/K/20250601/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + sig:   sigv4.ErrMalformedAuth,
		"AWS4-HMAC-SHA256 Credential" + cred + ", SignedHeaders=host, Signature=" + sig:                              sigv4.ErrMalformedAuth,
	}
	for h, want := range bad {
		if _, err := sigv4.ParseAuthorization(h); !errors.Is(err, want) {
			t.Errorf("%q: got %v, want %v", h, err, want)
		}
	}
}

// TestSignatureNotInErrors guards the rule that errors never carry
// secrets or signing material.
func TestSignatureNotInErrors(t *testing.T) {
	req := awsRequest(t, http.MethodPut, "k", nil, []byte("x"), hexSHA256([]byte("x")), fixedTime)
	r := roundTrip(t, req)
	r.Header.Set("X-Amz-Meta-Color", "tampered")
	_, err := sigv4.Verify(r, fixedTime, lookup)
	a, _ := sigv4.ParseAuthorization(r.Header.Get("Authorization"))
	if err == nil || strings.Contains(err.Error(), a.Signature) || strings.Contains(err.Error(), testSecret) {
		t.Fatalf("error %v", err)
	}
}

// TestPathAsSent covers a signer that signs the path exactly as it sends
// it (Go's default escaping, which leaves '+', '=', '!' and friends
// unescaped) rather than S3's form; and that a double-encoding signer (the
// non-S3 SigV4 default) is refused, as S3 refuses it.
func TestPathAsSent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		path   string
		double bool
		want   error
	}{
		{"sub-delims raw", "/bucket/a+b=c!$&'()*,;:@", false, nil},
		{"double-encoded space", "/bucket/a%20b", true, sigv4.ErrSignatureMismatch},
		{"double-encoding of unreserved is harmless", "/bucket/plain-key.txt", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, "http://"+testHost+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Amz-Content-Sha256", sigv4.UnsignedPayload)
			s := awsSigner
			if tc.double {
				s = v4.NewSigner()
			}
			if err := s.SignHTTP(context.Background(), awsCreds, req, sigv4.UnsignedPayload, "s3", testRegion, fixedTime); err != nil {
				t.Fatal(err)
			}
			if _, err := sigv4.Verify(roundTrip(t, req), fixedTime, lookup); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestVerifyConcurrent exercises the signing-key cache under -race.
func TestVerifyConcurrent(t *testing.T) {
	raw := wire(t, awsRequest(t, http.MethodGet, "k", nil, nil, hexSHA256(nil), fixedTime))
	errs := make(chan error, 16)
	for range 16 {
		go func() {
			var err error
			for range 20 {
				if _, err = sigv4.Verify(serve(t, raw), fixedTime, lookup); err != nil {
					break
				}
			}
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
