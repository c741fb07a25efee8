package s3gw

import (
	"net/http/httptest"
	"testing"
)

func TestRouterOps(t *testing.T) {
	s := New(Config{Endpoint: "buckets.example.com"}).(*server)
	tests := []struct {
		method, url string
		headers     map[string]string
		want        Op
	}{
		{"GET", "/", nil, OpListBuckets},
		{"HEAD", "/", nil, OpMethodNotAllowed},
		{"PUT", "/", nil, OpMethodNotAllowed},
		{"PUT", "/bkt", nil, OpCreateBucket},
		{"PUT", "/bkt/", nil, OpCreateBucket},
		{"HEAD", "/bkt", nil, OpHeadBucket},
		{"DELETE", "/bkt", nil, OpDeleteBucket},
		{"GET", "/bkt", nil, OpListObjects},
		{"GET", "/bkt?list-type=2", nil, OpListObjectsV2},
		{"GET", "/bkt/?list-type=2&prefix=a%2Fb", nil, OpListObjectsV2},
		{"GET", "/bkt?list-type=1", nil, OpListObjects},
		{"GET", "/bkt?location", nil, OpGetBucketLocation},
		{"GET", "/bkt?location=", nil, OpGetBucketLocation},
		{"GET", "/bkt?acl", nil, OpGetBucketAcl},
		{"PUT", "/bkt?acl", nil, OpNotImplemented},
		{"GET", "/bkt?versioning", nil, OpGetBucketVersioning},
		{"PUT", "/bkt?versioning", nil, OpNotImplemented},
		{"POST", "/bkt?delete", nil, OpDeleteObjects},
		{"POST", "/bkt?delete=", nil, OpDeleteObjects},
		{"POST", "/bkt", nil, OpPostObject},
		{"GET", "/bkt?lifecycle", nil, OpNotImplemented},
		{"PUT", "/bkt?policy", nil, OpNotImplemented},
		{"DELETE", "/bkt?cors", nil, OpDeleteBucketCors},
		{"GET", "/bkt?cors", nil, OpGetBucketCors},
		{"PUT", "/bkt?cors", nil, OpPutBucketCors},
		{"POST", "/bkt?cors", nil, OpNotImplemented},
		{"GET", "/bkt?website", nil, OpNotImplemented},
		{"PUT", "/bkt?replication", nil, OpNotImplemented},
		{"PUT", "/bkt?notification", nil, OpNotImplemented},
		{"PUT", "/bkt?object-lock", nil, OpNotImplemented},
		{"GET", "/bkt?inventory&id=x", nil, OpNotImplemented},
		{"PUT", "/bkt?encryption", nil, OpNotImplemented},
		{"GET", "/bkt?versions", nil, OpNotImplemented},
		{"GET", "/bkt?uploads", nil, OpListMultipartUploads},
		{"GET", "/bkt/?uploads&prefix=a&key-marker=b", nil, OpListMultipartUploads},
		{"PUT", "/bkt/k?tagging", nil, OpPutObjectTagging},
		{"GET", "/bkt/k?tagging", nil, OpGetObjectTagging},
		{"DELETE", "/bkt/k?tagging", nil, OpDeleteObjectTagging},
		{"GET", "/bkt?tagging", nil, OpNotImplemented},
		{"POST", "/bkt/k?uploads", nil, OpCreateMultipartUpload},
		{"POST", "/bkt/k?uploads=", nil, OpCreateMultipartUpload},
		{"PUT", "/bkt/k?partNumber=1&uploadId=x", nil, OpUploadPart},
		{"PUT", "/bkt/k?uploadId=abc&partNumber=7", map[string]string{"x-amz-copy-source": "/a/b"}, OpUploadPartCopy},
		{"POST", "/bkt/k?uploadId=abc", nil, OpCompleteMultipartUpload},
		{"DELETE", "/bkt/k?uploadId=abc", nil, OpAbortMultipartUpload},
		{"GET", "/bkt/k?uploadId=abc", nil, OpListParts},
		{"GET", "/bkt/k?uploadId=abc&max-parts=2&part-number-marker=1", nil, OpListParts},
		{"PUT", "/bkt/k?uploadId=abc", nil, OpMethodNotAllowed},
		{"PUT", "/bkt/k?uploads", nil, OpMethodNotAllowed},
		{"PUT", "/bkt?uploads", nil, OpMethodNotAllowed},
		{"POST", "/bkt?uploads", nil, OpMethodNotAllowed},
		{"DELETE", "/bkt/k?uploads", nil, OpMethodNotAllowed},
		{"HEAD", "/bkt/k?uploadId=abc", nil, OpMethodNotAllowed},
		{"PUT", "/bkt/k?acl", nil, OpNotImplemented},
		{"GET", "/bkt/k?acl", nil, OpGetObjectAcl},
		{"PUT", "/bkt/k", nil, OpPutObject},
		{"PUT", "/bkt/k", map[string]string{"x-amz-copy-source": "/a/b"}, OpCopyObject},
		{"GET", "/bkt/k", nil, OpGetObject},
		{"GET", "/bkt/k?partNumber=1", nil, OpGetObject},
		{"GET", "/bkt/k?response-content-type=text/plain", nil, OpGetObject},
		{"HEAD", "/bkt/k", nil, OpHeadObject},
		{"DELETE", "/bkt/k", nil, OpDeleteObject},
		{"GET", "/bkt/a//b", nil, OpGetObject},
		{"GET", "/bkt//leading", nil, OpGetObject},
		{"GET", "/bkt/a/./b/../c", nil, OpGetObject},
		{"GET", "/bkt/a%2Fb+c", nil, OpGetObject},
		{"PATCH", "/bkt/k", nil, OpMethodNotAllowed},
		{"POST", "/bkt/k", nil, OpMethodNotAllowed},
		{"OPTIONS", "/bkt", nil, OpPreflight},
		{"OPTIONS", "/bkt/k?uploadId=1&partNumber=1", nil, OpPreflight},
		// Virtual-hosted style is recognised by Host, whatever the path.
		{"GET", "http://bkt.buckets.example.com/", nil, OpVirtualHosted},
		{"PUT", "http://bkt.buckets.example.com/key", nil, OpVirtualHosted},
		{"GET", "http://bkt.localhost:9000/", nil, OpVirtualHosted},
		{"GET", "http://buckets.example.com/", nil, OpListBuckets},
		{"GET", "http://127.0.0.1:9000/", nil, OpListBuckets},
		{"GET", "http://localhost:9000/bkt/k", nil, OpGetObject},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.url, nil)
		for k, v := range tt.headers {
			r.Header.Set(k, v)
		}
		if got := opOf(s.router, r); got != tt.want {
			t.Errorf("%s %s %v: op = %v, want %v", tt.method, tt.url, tt.headers, got, tt.want)
		}
	}
}

func TestSplitPath(t *testing.T) {
	tests := []struct {
		path        string
		bucket, key string
		lv          level
	}{
		{"/", "", "", levelService},
		{"/b", "b", "", levelBucket},
		{"/b/", "b", "", levelBucket},
		{"/b/k", "b", "k", levelObject},
		{"/b//k", "b", "/k", levelObject},
		{"/b/a//c/", "b", "a//c/", levelObject},
		{"/b/a%2Fb", "b", "a/b", levelObject},
		{"/b/a+b", "b", "a+b", levelObject},
		{"/b/a%2Bb%20c", "b", "a+b c", levelObject},
		{"/b/%E2%82%AC", "b", "€", levelObject},
		{"/b/./..", "b", "./..", levelObject},
	}
	for _, tt := range tests {
		b, k, lv, err := splitPath(tt.path)
		if err != nil || b != tt.bucket || k != tt.key || lv != tt.lv {
			t.Errorf("splitPath(%q) = %q, %q, %v, %v; want %q, %q, %v", tt.path, b, k, lv, err, tt.bucket, tt.key, tt.lv)
		}
	}
	if _, _, _, err := splitPath("b/k"); err == nil {
		t.Error("splitPath without leading slash: no error")
	}
}

// The escaped path must reach splitPath intact: "%2F" in a key is not a
// separator, '+' is not a space.
func TestRequestPathEncoding(t *testing.T) {
	r := httptest.NewRequest("GET", "/bkt/dir%2Fname+x%20y", nil)
	_, k, _, err := splitPath(r.URL.EscapedPath())
	if err != nil || k != "dir/name+x y" {
		t.Fatalf("key = %q, %v", k, err)
	}
}

func TestVirtualHostBucket(t *testing.T) {
	tests := []struct {
		host, endpoint, want string
	}{
		{"127.0.0.1:9000", "", ""},
		{"localhost:9000", "", ""},
		{"[::1]:9000", "", ""},
		{"excd", "", ""},
		{"buckets.excloud.dev", "", ""},
		{"mybucket.buckets.excloud.dev", "", ""}, // no Endpoint configured: cannot tell
		{"buckets.excloud.dev", "buckets.excloud.dev", ""},
		{"buckets.excloud.dev:443", "buckets.excloud.dev", ""},
		{"mybucket.buckets.excloud.dev", "buckets.excloud.dev", "mybucket"},
		{"My.Bucket.buckets.excloud.dev.", "buckets.excloud.dev", "my.bucket"},
		{"other.example.com", "buckets.excloud.dev", ""},
		{"mybucket.localhost:9000", "", "mybucket"},
		{"mybucket.127.0.0.1:9000", "", "mybucket"},
		{"a.localhost", "", ""}, // "a" is no valid bucket name
		{"10.0.0.1", "", ""},
	}
	for _, tt := range tests {
		if got := virtualHostBucket(tt.host, normalizeHost(tt.endpoint)); got != tt.want {
			t.Errorf("virtualHostBucket(%q, %q) = %q, want %q", tt.host, tt.endpoint, got, tt.want)
		}
	}
}

func TestAuthorize(t *testing.T) {
	ro := accessKey(true)
	if err := authorize(ro, OpPutObject, "b"); errorStatus(err) != 403 {
		t.Errorf("read-only PutObject: %v", err)
	}
	if err := authorize(ro, OpGetObject, "b"); err != nil {
		t.Errorf("read-only GetObject: %v", err)
	}
	scoped := accessKey(false, "allowed")
	if err := authorize(scoped, OpGetObject, "other"); errorStatus(err) != 403 {
		t.Errorf("scoped key, other bucket: %v", err)
	}
	if err := authorize(scoped, OpPutObject, "allowed"); err != nil {
		t.Errorf("scoped key, own bucket: %v", err)
	}
	if err := authorize(scoped, OpListBuckets, ""); err != nil {
		t.Errorf("scoped key, ListBuckets: %v", err)
	}
	for op, info := range opTable {
		if info.name == "" {
			t.Errorf("op %d has no name", op)
		}
	}
}

// credentialID names the key Preread reads before the signature is
// checked: from the header or the presigned query, "" when neither says.
func TestCredentialID(t *testing.T) {
	tests := []struct {
		url, auth, want string
	}{
		{"/b/k", "AWS4-HMAC-SHA256 Credential=EXCAAAAAAAAAAAAAAAAA/20261207/auto/s3/aws4_request, SignedHeaders=host, Signature=00", "EXCAAAAAAAAAAAAAAAAA"},
		{"/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=EXCBBBBBBBBBBBBBBBBB%2F20261207%2Fauto%2Fs3%2Faws4_request", "", "EXCBBBBBBBBBBBBBBBBB"},
		{"/b/k", "", ""},
		{"/b/k", "AWS4-HMAC-SHA256 SignedHeaders=host", ""},
		{"/b/k", "AWS4-HMAC-SHA256 Credential=nokeyslash", ""},
		{"/b/k", "AWS AKID:sig", ""},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", tc.url, nil)
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		if got := credentialID(r); got != tc.want {
			t.Errorf("%s %q: %q, want %q", tc.url, tc.auth, got, tc.want)
		}
	}
}
