package sigv4_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go/encoding/httpbinding"
	"github.com/minio/minio-go/v7/pkg/s3utils"
	"github.com/minio/minio-go/v7/pkg/signer"

	"excloud.dev/buckets/s3gw/sigv4"
)

// awsPresign presigns the way aws-sdk-go-v2's s3.PresignClient does:
// X-Amz-Expires in the query, then v4.Signer.PresignHTTP with
// UNSIGNED-PAYLOAD.
func awsPresign(t testing.TB, method, key string, q url.Values, expires string, at time.Time) *http.Request {
	t.Helper()
	u := &url.URL{Scheme: "http", Host: testHost, Path: "/bucket/" + key, RawPath: "/bucket/" + httpbinding.EscapePath(key, false)}
	if q == nil {
		q = url.Values{}
	}
	q.Set("X-Amz-Expires", expires)
	u.RawQuery = q.Encode()
	req, err := http.NewRequest(method, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL = u
	req.Header.Set("X-Amz-Meta-Owner", "me")                 // stays a signed header
	req.Header.Set("X-Amz-Server-Side-Encryption", "AES256") // hoisted into the query
	signed, headers, err := awsSigner.PresignHTTP(context.Background(), awsCreds, req, sigv4.UnsignedPayload, "s3", testRegion, at)
	if err != nil {
		t.Fatal(err)
	}
	out, err := http.NewRequest(method, signed, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The presigned URL holder must send the signed headers too.
	for k, v := range headers {
		if k != "Host" {
			out.Header[k] = v
		}
	}
	return out
}

// minioPresign presigns with minio-go's signer.PreSignV4 (at time.Now()).
func minioPresign(t testing.TB, method, key string, q url.Values, expires int64) *http.Request {
	t.Helper()
	raw := "http://" + testHost + "/bucket/" + s3utils.EncodePath(key)
	if q != nil {
		raw += "?" + s3utils.QueryEncode(q)
	}
	req, err := http.NewRequest(method, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	return signer.PreSignV4(*req, testAK, testSecret, "", testRegion, expires)
}

func TestPresignSDKs(t *testing.T) {
	for _, key := range testKeys {
		for qi, q := range testQueries[:4] {
			name := strings.ReplaceAll(key, "/", "|") + "/q" + string(rune('0'+qi))
			t.Run("aws/"+name, func(t *testing.T) {
				r := roundTrip(t, awsPresign(t, http.MethodGet, key, cloneValues(q), "900", fixedTime))
				checkPresigned(t, r, fixedTime.Add(10*time.Minute))
			})
			t.Run("minio/"+name, func(t *testing.T) {
				r := roundTrip(t, minioPresign(t, http.MethodGet, key, q, 3600))
				checkPresigned(t, r, time.Now())
			})
		}
	}
}

func cloneValues(q url.Values) url.Values {
	c := url.Values{}
	for k, v := range q {
		c[k] = append([]string(nil), v...)
	}
	return c
}

func checkPresigned(t *testing.T, r *http.Request, now time.Time) {
	t.Helper()
	res, err := sigv4.Verify(r, now, lookup)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !res.Presigned || res.AccessKeyID != testAK || res.Region != testRegion || res.ContentSHA256 != sigv4.UnsignedPayload || res.Expires.IsZero() {
		t.Fatalf("result %+v", res)
	}
}

func TestPresignFailures(t *testing.T) {
	good := func() *http.Request { return awsPresign(t, http.MethodGet, "a b/c", nil, "900", fixedTime) }
	setQ := func(k, v string) func(r *http.Request) {
		return func(r *http.Request) {
			q := r.URL.Query()
			q.Set(k, v)
			r.URL.RawQuery = q.Encode()
		}
	}
	delQ := func(k string) func(r *http.Request) {
		return func(r *http.Request) {
			q := r.URL.Query()
			q.Del(k)
			r.URL.RawQuery = q.Encode()
		}
	}
	cases := []struct {
		name string
		req  func() *http.Request
		mod  func(r *http.Request)
		now  time.Time
		want error
	}{
		{name: "expired", req: good, now: fixedTime.Add(900*time.Second + time.Second), want: sigv4.ErrExpired},
		{name: "just valid", req: good, now: fixedTime.Add(900 * time.Second), want: nil},
		{name: "future beyond skew", req: good, now: fixedTime.Add(-sigv4.MaxSkew - time.Second), want: sigv4.ErrTimeSkewed},
		{name: "future within skew", req: good, now: fixedTime.Add(-sigv4.MaxSkew + time.Second), want: nil},
		{name: "expires 7 days", req: func() *http.Request { return awsPresign(t, http.MethodGet, "k", nil, "604800", fixedTime) }, want: nil},
		{name: "expires > 7 days", req: func() *http.Request { return awsPresign(t, http.MethodGet, "k", nil, "604801", fixedTime) }, want: sigv4.ErrExpiresTooLarge},
		{name: "expires zero", req: func() *http.Request { return awsPresign(t, http.MethodGet, "k", nil, "0", fixedTime) }, want: sigv4.ErrExpired},
		{name: "expires negative", req: func() *http.Request { return awsPresign(t, http.MethodGet, "k", nil, "-5", fixedTime) }, want: sigv4.ErrExpired},
		{name: "expires not a number", req: func() *http.Request { return awsPresign(t, http.MethodGet, "k", nil, "1h", fixedTime) }, want: sigv4.ErrMalformedQuery},
		{name: "expires huge", req: func() *http.Request {
			return awsPresign(t, http.MethodGet, "k", nil, "99999999999999999999", fixedTime)
		}, want: sigv4.ErrExpiresTooLarge},
		{name: "altered path", req: good, mod: func(r *http.Request) { r.URL.Path = "/bucket/a b/d"; r.URL.RawPath = "" }, want: sigv4.ErrSignatureMismatch},
		{name: "altered method", req: good, mod: func(r *http.Request) { r.Method = http.MethodDelete }, want: sigv4.ErrSignatureMismatch},
		{name: "added query", req: good, mod: func(r *http.Request) { r.URL.RawQuery += "&response-content-type=text%2Fhtml" }, want: sigv4.ErrSignatureMismatch},
		{name: "altered hoisted header", req: good, mod: setQ("X-Amz-Server-Side-Encryption", "aws:kms"), want: sigv4.ErrSignatureMismatch},
		{name: "altered signed header", req: good, mod: func(r *http.Request) { r.Header.Set("X-Amz-Meta-Owner", "you") }, want: sigv4.ErrSignatureMismatch},
		{name: "unsigned x-amz header added", req: good, mod: func(r *http.Request) { r.Header.Set("X-Amz-Checksum-Mode", "ENABLED") }, want: sigv4.ErrHeadersNotSigned},
		{name: "unsigned x-amz header, any case", req: good, mod: func(r *http.Request) { r.Header["x-amz-copy-source"] = []string{"b/k"} }, want: sigv4.ErrHeadersNotSigned},
		{name: "other unsigned header", req: good, mod: func(r *http.Request) { r.Header.Set("Range", "bytes=0-1") }, want: nil},
		{name: "altered expires", req: good, mod: setQ("X-Amz-Expires", "901"), want: sigv4.ErrSignatureMismatch},
		{name: "altered host", req: good, mod: func(r *http.Request) { r.Host = "other" }, want: sigv4.ErrSignatureMismatch},
		{name: "missing signature", req: good, mod: delQ("X-Amz-Signature"), want: sigv4.ErrMalformedQuery},
		{name: "malformed signature", req: good, mod: setQ("X-Amz-Signature", "not-hex"), want: sigv4.ErrSignatureMismatch},
		{name: "missing credential", req: good, mod: delQ("X-Amz-Credential"), want: sigv4.ErrMalformedQuery},
		{name: "missing date", req: good, mod: delQ("X-Amz-Date"), want: sigv4.ErrMalformedQuery},
		{name: "missing expires", req: good, mod: delQ("X-Amz-Expires"), want: sigv4.ErrMalformedQuery},
		{name: "missing signed headers", req: good, mod: delQ("X-Amz-SignedHeaders"), want: sigv4.ErrMalformedQuery},
		{name: "other algorithm", req: good, mod: setQ("X-Amz-Algorithm", "AWS4-ECDSA-P256-SHA256"), want: sigv4.ErrUnsupportedAlgorithm},
		{name: "wrong service", req: good, mod: setQ("X-Amz-Credential", testAK+"/20250601/us-east-1/sts/aws4_request"), want: sigv4.ErrMalformedQuery},
		{name: "scope date mismatch", req: good, mod: setQ("X-Amz-Credential", testAK+"/20250602/us-east-1/s3/aws4_request"), want: sigv4.ErrMalformedQuery},
		{name: "bad date", req: good, mod: setQ("X-Amz-Date", "20250601"), want: sigv4.ErrMalformedQuery},
		{name: "duplicate signature", req: good, mod: func(r *http.Request) { r.URL.RawQuery += "&X-Amz-Signature=" + strings.Repeat("0", 64) }, want: sigv4.ErrMalformedQuery},
		{name: "unknown key", req: good, mod: setQ("X-Amz-Credential", "EXCOTHER/20250601/us-east-1/s3/aws4_request"), want: sigv4.ErrInvalidAccessKeyID},
		{name: "streaming payload", req: good, mod: setQ("X-Amz-Content-Sha256", sigv4.StreamingPayload), want: sigv4.ErrInvalidContentSHA256},
		{name: "with Authorization header", req: good, mod: func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 x") }, want: sigv4.ErrMalformedAuth},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := roundTrip(t, tc.req())
			if tc.mod != nil {
				tc.mod(r)
			}
			now := tc.now
			if now.IsZero() {
				now = fixedTime.Add(time.Minute)
			}
			_, err := sigv4.Verify(r, now, lookup)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestPresignWrongSecret(t *testing.T) {
	req := minioPresign(t, http.MethodGet, "k", nil, 60)
	r := roundTrip(t, req)
	bad := func(_ context.Context, ak string) (string, error) { return "other secret", nil }
	if _, err := sigv4.Verify(r, time.Now(), bad); !errors.Is(err, sigv4.ErrSignatureMismatch) {
		t.Fatalf("got %v", err)
	}
}
