package metrics

import (
	"net/http/httptest"
	"testing"
)

func TestOpOf(t *testing.T) {
	for _, tc := range []struct{ method, target, copySrc, want string }{
		{"GET", "/", "", "ListBuckets"},
		{"PUT", "/b", "", "CreateBucket"},
		{"HEAD", "/b/", "", "HeadBucket"},
		{"DELETE", "/b", "", "DeleteBucket"},
		{"GET", "/b?location", "", "GetBucketLocation"},
		{"GET", "/b?list-type=2&prefix=a", "", "ListObjectsV2"},
		{"GET", "/b", "", "ListObjects"},
		{"GET", "/b?uploads", "", "ListMultipartUploads"},
		{"POST", "/b?delete", "", "DeleteObjects"},
		{"PUT", "/b/k/x", "", "PutObject"},
		{"PUT", "/b/k", "/a/b", "CopyObject"},
		{"PUT", "/b/k?partNumber=1&uploadId=u", "", "UploadPart"},
		{"PUT", "/b/k?partNumber=1&uploadId=u", "/a/b", "UploadPartCopy"},
		{"GET", "/b/k", "", "GetObject"},
		{"GET", "/b/k?uploadId=u", "", "ListParts"},
		{"HEAD", "/b/k", "", "HeadObject"},
		{"DELETE", "/b/k", "", "DeleteObject"},
		{"DELETE", "/b/k?uploadId=u", "", "AbortMultipartUpload"},
		{"POST", "/b/k?uploads", "", "CreateMultipartUpload"},
		{"POST", "/b/k?uploadId=u", "", "CompleteMultipartUpload"},
		{"POST", "/", "", "Unknown"},
		{"PATCH", "/b/k", "", "Unknown"},
	} {
		r := httptest.NewRequest(tc.method, tc.target, nil)
		if tc.copySrc != "" {
			r.Header.Set("x-amz-copy-source", tc.copySrc)
		}
		if got := OpOf(r); got != tc.want {
			t.Errorf("%s %s: %s, want %s", tc.method, tc.target, got, tc.want)
		}
	}
}
