package sigv4_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"excloud.dev/buckets/s3gw/sigv4"
)

// TestHeaderAuthUnsignedAmzHeaders checks that header authentication, like
// presigned URLs, refuses x-amz-* headers the signature does not cover: a
// captured request replayed with one added must not authenticate.
func TestHeaderAuthUnsignedAmzHeaders(t *testing.T) {
	body := []byte("payload")
	signed := func() *http.Request {
		return awsRequest(t, http.MethodPut, "dir/obj", url.Values{"partNumber": {"1"}, "uploadId": {"u"}}, body, hexSHA256(body), fixedTime)
	}
	for _, tc := range []struct{ header, value string }{
		{"X-Amz-Copy-Source", "/other/secret"},
		{"x-amz-copy-source", "other/secret"}, // not canonicalised: any case counts
		{"X-Amz-Copy-Source-Range", "bytes=0-1"},
		{"X-Amz-Metadata-Directive", "REPLACE"},
		{"X-Amz-Meta-Owner", "mallory"},
		{"X-Amz-Decoded-Content-Length", "7"},
		{"X-Amz-Checksum-Mode", "ENABLED"},
	} {
		t.Run(tc.header, func(t *testing.T) {
			r := roundTrip(t, signed())
			r.Header[tc.header] = []string{tc.value}
			_, err := sigv4.Verify(r, fixedTime, lookup)
			if !errors.Is(err, sigv4.ErrHeadersNotSigned) {
				t.Fatalf("got %v, want ErrHeadersNotSigned", err)
			}
			if !strings.Contains(err.Error(), strings.ToLower(tc.header)) {
				t.Errorf("error does not name the header: %v", err)
			}
		})
	}

	// Headers that are not x-amz-* may stay unsigned, as in S3: SDKs leave
	// User-Agent, Expect and X-Amzn-Trace-Id out of the signature.
	t.Run("unsigned non-amz headers", func(t *testing.T) {
		r := roundTrip(t, signed())
		r.Header.Set("User-Agent", "curl/8")
		r.Header.Set("X-Amzn-Trace-Id", "Root=1-abc")
		r.Header.Set("Content-Type", "text/plain")
		if _, err := sigv4.Verify(r, fixedTime, lookup); err != nil {
			t.Fatal(err)
		}
	})
	// x-amz-content-sha256 is the canonical request's last line whether or
	// not SignedHeaders lists it, so it may be left out of the list.
	t.Run("x-amz-content-sha256 not listed", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPut, "http://"+testHost+"/bucket/k", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		if err := awsSigner.SignHTTP(context.Background(), awsCreds, req, hexSHA256(body), "s3", testRegion, fixedTime); err != nil {
			t.Fatal(err)
		}
		if authz := req.Header.Get("Authorization"); strings.Contains(authz, "x-amz-content-sha256") {
			t.Fatalf("test setup: x-amz-content-sha256 is listed: %s", authz)
		}
		req.Header.Set("X-Amz-Content-Sha256", hexSHA256(body))
		b := wire(t, req)
		if _, err := sigv4.Verify(serve(t, b), fixedTime, lookup); err != nil {
			t.Fatal(err)
		}
		// And its value is still checked: another one breaks the signature.
		r := serve(t, b)
		r.Header.Set("X-Amz-Content-Sha256", sigv4.UnsignedPayload)
		if _, err := sigv4.Verify(r, fixedTime, lookup); !errors.Is(err, sigv4.ErrSignatureMismatch) {
			t.Fatalf("altered unlisted x-amz-content-sha256: got %v", err)
		}
	})
}
