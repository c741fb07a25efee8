package s3gw

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// preflightReq sends an unauthenticated OPTIONS as a browser does.
func preflightReq(t *testing.T, url, origin, method, headers string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodOptions, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if method != "" {
		req.Header.Set("Access-Control-Request-Method", method)
	}
	if headers != "" {
		req.Header.Set("Access-Control-Request-Headers", headers)
	}
	return rawDo(t, req)
}

func TestBucketCORS(t *testing.T) {
	st := newStack(t)
	ctx := context.Background()
	c := st.client(st.key)
	for _, b := range []string{"webapp", "plain"} {
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("webapp"), Key: aws.String("k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String("webapp")}); apiCode(err) != "NoSuchCORSConfiguration" {
		t.Fatalf("GetBucketCors before any: %v", err)
	}
	// The default is no CORS: a preflight is refused as S3 refuses it.
	resp, body := preflightReq(t, st.srv.URL+"/webapp/k", "https://app.example.com", "PUT", "")
	wantBody(t, "preflight, no configuration", resp, body, 403, "AccessForbidden")
	if !strings.Contains(body, "CORSResponse") || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight, no configuration: %v %s", resp.Header, body)
	}

	cfg := &types.CORSConfiguration{CORSRules: []types.CORSRule{
		{
			ID:             aws.String("uploads"),
			AllowedOrigins: []string{"https://app.example.com", "https://*.example.org"},
			AllowedMethods: []string{"PUT", "POST", "GET"},
			AllowedHeaders: []string{"content-type", "x-amz-*"},
			ExposeHeaders:  []string{"ETag", "x-amz-request-id"},
			MaxAgeSeconds:  aws.Int32(3000),
		},
		{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET", "HEAD"}},
	}}
	if _, err := c.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: aws.String("webapp"), CORSConfiguration: cfg}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String("webapp")})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.CORSRules) != 2 || aws.ToString(got.CORSRules[0].ID) != "uploads" || len(got.CORSRules[0].AllowedOrigins) != 2 ||
		aws.ToInt32(got.CORSRules[0].MaxAgeSeconds) != 3000 || got.CORSRules[1].AllowedOrigins[0] != "*" || got.CORSRules[1].MaxAgeSeconds != nil {
		t.Errorf("GetBucketCors: %+v", got.CORSRules)
	}

	// A preflight the first rule allows.
	resp, body = preflightReq(t, st.srv.URL+"/webapp/photo.jpg", "https://cdn.example.org", "PUT", "Content-Type, X-Amz-Meta-Owner")
	wantBody(t, "preflight", resp, body, 200, "")
	for h, want := range map[string]string{
		"Access-Control-Allow-Origin":      "https://cdn.example.org",
		"Access-Control-Allow-Methods":     "PUT, POST, GET",
		"Access-Control-Allow-Headers":     "content-type, x-amz-meta-owner",
		"Access-Control-Expose-Headers":    "ETag, x-amz-request-id",
		"Access-Control-Max-Age":           "3000",
		"Access-Control-Allow-Credentials": "true",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("preflight %s: %q, want %q", h, got, want)
		}
	}
	// The wildcard rule answers with "*" and no credentials.
	resp, body = preflightReq(t, st.srv.URL+"/webapp/k", "https://elsewhere.net", "GET", "")
	wantBody(t, "preflight by the * rule", resp, body, 200, "")
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("* rule: %v", resp.Header)
	}
	// Refusals: a method, a header, an origin no rule allows; no Origin.
	for _, tc := range []struct{ what, origin, method, headers string }{
		{"method", "https://elsewhere.net", "PUT", ""},
		{"header", "https://app.example.com", "PUT", "authorization"},
		{"origin", "https://app.example.com.evil.net", "POST", ""},
	} {
		resp, body = preflightReq(t, st.srv.URL+"/webapp/k", tc.origin, tc.method, tc.headers)
		wantBody(t, "preflight, other "+tc.what, resp, body, 403, "AccessForbidden")
		if !strings.Contains(body, "This CORS request is not allowed") {
			t.Errorf("preflight, other %s: %s", tc.what, body)
		}
	}
	resp, body = preflightReq(t, st.srv.URL+"/webapp/k", "", "GET", "")
	wantBody(t, "preflight without Origin", resp, body, 400, "BadRequest")
	// Another bucket's rules do not leak to this one.
	resp, body = preflightReq(t, st.srv.URL+"/plain/k", "https://app.example.com", "GET", "")
	wantBody(t, "preflight of a bucket without CORS", resp, body, 403, "AccessForbidden")

	// An actual request with an Origin a rule allows gets the headers, on
	// success and on an S3 error alike; without Origin it gets none.
	resp = st.do(t, st.key, "GET", "/webapp/k", nil, map[string]string{"Origin": "https://app.example.com"})
	if b := readAll(t, resp.Body); resp.StatusCode != 200 || b != "v" ||
		resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || resp.Header.Get("Access-Control-Expose-Headers") != "ETag, x-amz-request-id" {
		t.Errorf("CORS GET: %d %v", resp.StatusCode, resp.Header)
	}
	resp = st.do(t, st.key, "GET", "/webapp/missing", nil, map[string]string{"Origin": "https://app.example.com"})
	if resp.StatusCode != 404 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("CORS GET of a missing key: %d %v", resp.StatusCode, resp.Header)
	}
	resp = st.do(t, st.key, "DELETE", "/webapp/nothing", nil, map[string]string{"Origin": "https://elsewhere.net"})
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS DELETE no rule allows: %v", resp.Header)
	}
	resp = st.do(t, st.key, "GET", "/webapp/k", nil, nil)
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET without Origin: %v", resp.Header)
	}

	// Bad configurations are refused and the stored one is kept.
	for _, tc := range []struct {
		what, body string
		status     int
		code       string
	}{
		{"not XML", "<CORSConfiguration><CORSRule>", 400, "MalformedXML"},
		{"no rules", "<CORSConfiguration></CORSConfiguration>", 400, "MalformedXML"},
		{"no origin", "<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>", 400, "MalformedXML"},
		{"bad method", "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod></CORSRule></CORSConfiguration>", 400, "InvalidRequest"},
		{"two wildcards", "<CORSConfiguration><CORSRule><AllowedOrigin>https://*.*.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>", 400, "InvalidRequest"},
		{"101 rules", "<CORSConfiguration>" + strings.Repeat("<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>", 101) + "</CORSConfiguration>", 400, "MalformedXML"},
	} {
		resp := st.do(t, st.key, "PUT", "/webapp?cors", []byte(tc.body), nil)
		wantError(t, resp, tc.status, tc.code)
	}
	if got, err := c.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String("webapp")}); err != nil || len(got.CORSRules) != 2 {
		t.Errorf("after refused puts: %+v, %v", got, err)
	}

	// A read-only key may read the configuration, not change it.
	ro := st.client(st.newKey(t, accessKey(true)))
	if _, err := ro.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String("webapp")}); err != nil {
		t.Errorf("read-only GetBucketCors: %v", err)
	}
	if _, err := ro.DeleteBucketCors(ctx, &s3.DeleteBucketCorsInput{Bucket: aws.String("webapp")}); apiCode(err) != "AccessDenied" {
		t.Errorf("read-only DeleteBucketCors: %v", err)
	}

	if _, err := c.DeleteBucketCors(ctx, &s3.DeleteBucketCorsInput{Bucket: aws.String("webapp")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String("webapp")}); apiCode(err) != "NoSuchCORSConfiguration" {
		t.Errorf("GetBucketCors after delete: %v", err)
	}
	resp, body = preflightReq(t, st.srv.URL+"/webapp/k", "https://app.example.com", "GET", "")
	wantBody(t, "preflight after delete", resp, body, 403, "AccessForbidden")
}

// A browser preflights the presigned URL it was handed, query and all; the
// URL's key names the org whose bucket rules answer.
func TestPresignedPutPreflight(t *testing.T) {
	st := newStack(t)
	ctx := context.Background()
	c := st.client(st.key)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("webapp")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: aws.String("webapp"), CORSConfiguration: &types.CORSConfiguration{
		CORSRules: []types.CORSRule{{AllowedOrigins: []string{"https://app.example.com"}, AllowedMethods: []string{"PUT"}, AllowedHeaders: []string{"content-type"}, ExposeHeaders: []string{"ETag"}}},
	}}); err != nil {
		t.Fatal(err)
	}
	u, err := s3.NewPresignClient(c).PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("webapp"), Key: aws.String("upload.png")})
	if err != nil {
		t.Fatal(err)
	}
	resp, body := preflightReq(t, u.URL, "https://app.example.com", "PUT", "content-type")
	wantBody(t, "preflight of a presigned URL", resp, body, 200, "")
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("preflight: %v", resp.Header)
	}
	resp, body = presignedPut(t, u.URL, []byte("png"), map[string]string{"Origin": "https://app.example.com", "Content-Type": "image/png"})
	wantBody(t, "presigned PUT from the browser", resp, body, 200, "")
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || resp.Header.Get("Access-Control-Expose-Headers") != "ETag" || resp.Header.Get("ETag") == "" {
		t.Errorf("presigned PUT: %v", resp.Header)
	}
}
