package hostiletest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/internal/excdtest"
)

// authCase is one way a request's authentication can be wrong, and the
// answer S3 gives to it.
type authCase struct {
	name   string
	build  func(t *testing.T, endpoint string) *http.Request
	status int
	code   string
	msg    string // substring of Message, when S3's is specific
}

// signedGet is a GET of /auth/k?<query> signed at at with creds, region
// and service; mutate, if set, runs before signing.
func signedGet(t *testing.T, endpoint, query string, creds aws.Credentials, region string, at time.Time, mutate func(*http.Request)) *http.Request {
	t.Helper()
	u := endpoint + "/auth/k"
	if query != "" {
		u += "?" + query
	}
	req := newReq(t, http.MethodGet, u, nil)
	req.Header.Set("X-Amz-Meta-Note", "signed")
	if mutate != nil {
		mutate(req)
	}
	sign(t, req, creds, region, at)
	return req
}

// presigned is a presigned GET of /auth/k valid for expires from at.
func presigned(t *testing.T, endpoint string, at time.Time, expires string) *http.Request {
	t.Helper()
	req := newReq(t, http.MethodGet, endpoint+"/auth/k?X-Amz-Expires="+expires, nil)
	u, _, err := signer.PresignHTTP(context.Background(), rootCreds, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", at)
	if err != nil {
		t.Fatal(err)
	}
	return newReq(t, http.MethodGet, u, nil)
}

var authCases = []authCase{
	{"correct", func(t *testing.T, ep string) *http.Request {
		return signedGet(t, ep, "", rootCreds, "us-east-1", time.Now(), nil)
	}, 200, "", ""},
	{"any region (excd has one)", func(t *testing.T, ep string) *http.Request {
		return signedGet(t, ep, "", rootCreds, "eu-north-7", time.Now(), nil)
	}, 200, "", ""},
	{"replay within the skew window", func(t *testing.T, ep string) *http.Request {
		return signedGet(t, ep, "", rootCreds, "us-east-1", time.Now().Add(-14*time.Minute), nil)
	}, 200, "", ""},
	{"missing authentication", func(t *testing.T, ep string) *http.Request {
		return newReq(t, http.MethodGet, ep+"/auth/k", nil)
	}, 403, "AccessDenied", ""},
	{"bad secret", func(t *testing.T, ep string) *http.Request {
		// A signer of its own: the SDK caches signing keys by access key
		// id and day, not secret, and would sign with the right one.
		req := newReq(t, http.MethodGet, ep+"/auth/k", nil)
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		bad := aws.Credentials{AccessKeyID: excdtest.AccessKey, SecretAccessKey: strings.Repeat("x", 40)}
		if err := v4.NewSigner().SignHTTP(context.Background(), bad, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		return req
	}, 403, "SignatureDoesNotMatch", ""},
	{"unknown access key id", func(t *testing.T, ep string) *http.Request {
		return signedGet(t, ep, "", aws.Credentials{AccessKeyID: "EXCNOSUCHKEY00000001", SecretAccessKey: excdtest.SecretKey}, "us-east-1", time.Now(), nil)
	}, 403, "InvalidAccessKeyId", ""},
	{"signed header altered after signing", func(t *testing.T, ep string) *http.Request {
		req := signedGet(t, ep, "", rootCreds, "us-east-1", time.Now(), nil)
		req.Header.Set("X-Amz-Meta-Note", "altered")
		return req
	}, 403, "SignatureDoesNotMatch", ""},
	{"signed Range altered", func(t *testing.T, ep string) *http.Request {
		req := signedGet(t, ep, "", rootCreds, "us-east-1", time.Now(), func(r *http.Request) { r.Header.Set("Range", "bytes=0-0") })
		req.Header.Set("Range", "bytes=0-1")
		return req
	}, 403, "SignatureDoesNotMatch", ""},
	{"query parameter altered", func(t *testing.T, ep string) *http.Request {
		req := signedGet(t, ep, "response-content-type=text%2Fplain", rootCreds, "us-east-1", time.Now(), nil)
		req.URL.RawQuery = "response-content-type=text%2Fhtml"
		return req
	}, 403, "SignatureDoesNotMatch", ""},
	{"query parameter added", func(t *testing.T, ep string) *http.Request {
		req := signedGet(t, ep, "", rootCreds, "us-east-1", time.Now(), nil)
		req.URL.RawQuery = "response-content-type=text%2Fhtml"
		return req
	}, 403, "SignatureDoesNotMatch", ""},
	{"path altered", func(t *testing.T, ep string) *http.Request {
		req := signedGet(t, ep, "", rootCreds, "us-east-1", time.Now(), nil)
		req.URL.Path = "/auth/other"
		return req
	}, 403, "SignatureDoesNotMatch", ""},
	{"x-amz-date altered (same day)", func(t *testing.T, ep string) *http.Request {
		at := time.Now().UTC()
		req := signedGet(t, ep, "", rootCreds, "us-east-1", at, nil)
		// One second off, on the same day whatever the time: earlier,
		// unless that is the day before (signed at 00:00:00).
		alt := at.Add(-time.Second)
		if alt.Day() != at.Day() {
			alt = at.Add(time.Second)
		}
		req.Header.Set("X-Amz-Date", alt.Format("20060102T150405Z"))
		return req
	}, 403, "SignatureDoesNotMatch", ""},
	{"credential scope date not the request's", func(t *testing.T, ep string) *http.Request {
		at := time.Now().UTC()
		req := signedGet(t, ep, "", rootCreds, "us-east-1", at, nil)
		day, other := at.Format("20060102"), at.AddDate(0, 0, -1).Format("20060102")
		req.Header.Set("Authorization", strings.Replace(req.Header.Get("Authorization"), "/"+day+"/", "/"+other+"/", 1))
		return req
	}, 400, "AuthorizationHeaderMalformed", ""},
	{"credential scope service not s3", func(t *testing.T, ep string) *http.Request {
		req := newReq(t, http.MethodGet, ep+"/auth/k", nil)
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		if err := signer.SignHTTP(context.Background(), rootCreds, req, "UNSIGNED-PAYLOAD", "ec2", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		return req
	}, 400, "AuthorizationHeaderMalformed", ""},
	{"signature truncated", func(t *testing.T, ep string) *http.Request {
		req := signedGet(t, ep, "", rootCreds, "us-east-1", time.Now(), nil)
		req.Header.Set("Authorization", req.Header.Get("Authorization")[:len(req.Header.Get("Authorization"))-1])
		return req
	}, 400, "AuthorizationHeaderMalformed", ""},
	{"signature version 2", func(t *testing.T, ep string) *http.Request {
		req := newReq(t, http.MethodGet, ep+"/auth/k", nil)
		req.Header.Set("Authorization", "AWS "+excdtest.AccessKey+":frJIUN8DYpKDtOLCwo//yllqDzg=")
		req.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
		return req
	}, 400, "InvalidArgument", ""},
	{"x-amz-date 16 min in the past", func(t *testing.T, ep string) *http.Request {
		return signedGet(t, ep, "", rootCreds, "us-east-1", time.Now().Add(-16*time.Minute), nil)
	}, 403, "RequestTimeTooSkewed", ""},
	{"x-amz-date 16 min in the future", func(t *testing.T, ep string) *http.Request {
		return signedGet(t, ep, "", rootCreds, "us-east-1", time.Now().Add(16*time.Minute), nil)
	}, 403, "RequestTimeTooSkewed", ""},
	{"payload hash not the body's", func(t *testing.T, ep string) *http.Request {
		req := newReq(t, http.MethodPut, ep+"/auth/put", strings.NewReader("actual body"))
		req.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64))
		sign(t, req, rootCreds, "us-east-1", time.Now())
		return req
	}, 400, "XAmzContentSHA256Mismatch", ""},
	{"presigned, valid", func(t *testing.T, ep string) *http.Request {
		return presigned(t, ep, time.Now(), "60")
	}, 200, "", ""},
	{"presigned, expired", func(t *testing.T, ep string) *http.Request {
		return presigned(t, ep, time.Now().Add(-2*time.Minute), "60")
	}, 403, "AccessDenied", "Request has expired"},
	{"presigned, expiry over 7 days", func(t *testing.T, ep string) *http.Request {
		return presigned(t, ep, time.Now(), "604801")
	}, 403, "AuthorizationQueryParametersError", "less than a week"},
	{"presigned, expiry exactly 7 days", func(t *testing.T, ep string) *http.Request {
		return presigned(t, ep, time.Now(), "604800")
	}, 200, "", ""},
	{"presigned, signed in the future", func(t *testing.T, ep string) *http.Request {
		return presigned(t, ep, time.Now().Add(20*time.Minute), "3600")
	}, 403, "RequestTimeTooSkewed", ""},
	{"presigned, X-Amz-Expires altered", func(t *testing.T, ep string) *http.Request {
		req := presigned(t, ep, time.Now().Add(-2*time.Minute), "60")
		q := req.URL.Query()
		q.Set("X-Amz-Expires", "3600")
		req.URL.RawQuery = q.Encode()
		return req
	}, 403, "SignatureDoesNotMatch", ""},
	{"presigned, other object", func(t *testing.T, ep string) *http.Request {
		req := presigned(t, ep, time.Now(), "60")
		req.URL.Path = "/auth/other"
		return req
	}, 403, "SignatureDoesNotMatch", ""},
	{"signed request replayed with an unsigned x-amz-* header added", func(t *testing.T, ep string) *http.Request {
		req := signedGet(t, ep, "", rootCreds, "us-east-1", time.Now(), nil)
		req.Header.Set("X-Amz-Checksum-Mode", "ENABLED")
		return req
	}, 403, "AccessDenied", "There were headers present in the request which were not signed"},
	{"presigned and Authorization header", func(t *testing.T, ep string) *http.Request {
		req := presigned(t, ep, time.Now(), "60")
		req.Header.Set("Authorization", signedGet(t, ep, "", rootCreds, "us-east-1", time.Now(), nil).Header.Get("Authorization"))
		return req
	}, 400, "AuthorizationHeaderMalformed", ""},
}

// TestAuthenticationFailures sends each kind of wrongly authenticated
// request to a real excd: every one gets S3's status and error code in an
// XML body, and the correctly signed controls succeed.
func TestAuthenticationFailures(t *testing.T) {
	p, _ := start(t, "auth")
	if _, err := p.S3().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("auth"), Key: aws.String("k"), Body: strings.NewReader("secret data")}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range authCases {
		e := do(t, tc.build(t, p.Endpoint))
		t.Logf("| %s | %d | %s |", tc.name, e.Status, e.Code)
		if e.Status != tc.status || e.Code != tc.code {
			t.Errorf("%s: %d %s %q, want %d %s", tc.name, e.Status, e.Code, e.Message, tc.status, tc.code)
			continue
		}
		if tc.status >= 400 && !strings.Contains(e.Raw, "<Error>") {
			t.Errorf("%s: error without an XML body: %q", tc.name, e.Raw)
		}
		if tc.status == 200 && e.Raw != "secret data" {
			t.Errorf("%s: body %q", tc.name, e.Raw)
		}
		if tc.status >= 400 && strings.Contains(e.Raw, "secret data") {
			t.Errorf("%s: refused request got the object's data", tc.name)
		}
		if tc.msg != "" && !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%s: message %q, want it to say %q", tc.name, e.Message, tc.msg)
		}
	}
}
