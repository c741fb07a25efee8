package s3gw

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"excloud.dev/buckets/objects"
	"excloud.dev/buckets/s3gw/sigv4"
)

func TestUserMeta(t *testing.T) {
	h := http.Header{}
	h.Set("X-Amz-Meta-Color", "blue")
	h.Add("X-Amz-Meta-Tags", "a")
	h.Add("X-Amz-Meta-Tags", "b")
	h.Set("Content-Type", "text/plain")
	m := userMeta(h)
	if len(m) != 2 || m["color"] != "blue" || m["tags"] != "a,b" {
		t.Fatalf("userMeta = %v", m)
	}

	// The limit counts names without the prefix plus values: exactly 2 KiB
	// is allowed, one byte more is not.
	h = http.Header{}
	h.Set("X-Amz-Meta-K", strings.Repeat("v", objects.MaxUserMeta-1))
	if _, err := headerMeta(h); err != nil {
		t.Errorf("2048 bytes: %v", err)
	}
	h.Set("X-Amz-Meta-K2", "")
	if _, err := headerMeta(h); toS3Error(err).Code != ErrMetadataTooLarge {
		t.Errorf("2050 bytes: %v", err)
	}
	if m := userMeta(http.Header{}); m != nil {
		t.Errorf("no metadata: %v", m)
	}
}

func TestHeaderMeta(t *testing.T) {
	h := http.Header{}
	h.Set("Content-Encoding", "aws-chunked,gzip")
	h.Set("Content-Disposition", `attachment; filename="a.txt"`)
	h.Set("Cache-Control", "no-cache")
	h.Set("Expires", "Thu, 01 Dec 1994 16:00:00 GMT")
	m, err := headerMeta(h)
	if err != nil || m.ContentEncoding != "gzip" || m.ContentType != "" || m.ContentDisposition != `attachment; filename="a.txt"` ||
		m.CacheControl != "no-cache" || m.Expires != "Thu, 01 Dec 1994 16:00:00 GMT" {
		t.Errorf("headerMeta = %+v, %v", m, err)
	}
	for in, want := range map[string]string{"aws-chunked": "", "AWS-Chunked, br": "br", "gzip": "gzip", "": ""} {
		if got := sigv4.StripAWSChunked(in); got != want {
			t.Errorf("StripAWSChunked(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckKey(t *testing.T) {
	if err := checkKey(strings.Repeat("k", 1024)); err != nil {
		t.Error(err)
	}
	if err := checkKey(strings.Repeat("k", 1025)); toS3Error(err).Code != ErrKeyTooLong {
		t.Errorf("1025-byte key: %v", err)
	}
}

func TestUnsupportedWriteHeaders(t *testing.T) {
	for name, v := range map[string]string{
		"x-amz-server-side-encryption":                    "aws:kms",
		"x-amz-server-side-encryption-customer-algorithm": "AES256",
		"x-amz-object-lock-mode":                          "GOVERNANCE",
	} {
		h := http.Header{}
		h.Set(name, v)
		if err := checkUnsupportedWriteHeaders(h); toS3Error(err).Code != ErrNotImplemented {
			t.Errorf("%s: %v", name, err)
		}
	}
	h := http.Header{}
	h.Set("x-amz-server-side-encryption", "AES256")
	if err := checkUnsupportedWriteHeaders(h); err != nil {
		t.Errorf("AES256: %v", err)
	}
}

func TestWriteCondition(t *testing.T) {
	h := http.Header{}
	h.Set("If-None-Match", "*")
	h.Set("If-Match", "abc")
	c, err := writeCondition(h)
	if err != nil || !c.IfNoneMatchAny || c.IfMatch != `"abc"` {
		t.Errorf("writeCondition = %+v, %v", c, err)
	}
	h.Set("If-None-Match", `"abc"`)
	if _, err := writeCondition(h); toS3Error(err).Code != ErrNotImplemented {
		t.Errorf("If-None-Match etag on write: %v", err)
	}
}

func TestConditions(t *testing.T) {
	mod := time.Date(2024, 1, 2, 3, 4, 5, 600, time.UTC)
	etag := `"e1"`
	before := mod.Add(-time.Hour).Format(http.TimeFormat)
	at := mod.Format(http.TimeFormat)
	after := mod.Add(time.Hour).Format(http.TimeFormat)
	tests := []struct {
		c    conditions
		want precondition
	}{
		{conditions{}, condPass},
		{conditions{IfMatch: `"e1"`}, condPass},
		{conditions{IfMatch: `"x", "e1"`}, condPass},
		{conditions{IfMatch: `*`}, condPass},
		{conditions{IfMatch: `"x"`}, condFailed},
		{conditions{IfUnmodifiedSince: before}, condFailed},
		{conditions{IfUnmodifiedSince: at}, condPass},
		{conditions{IfUnmodifiedSince: "garbage"}, condPass},
		// If-Match present: If-Unmodified-Since is not evaluated.
		{conditions{IfMatch: `"e1"`, IfUnmodifiedSince: before}, condPass},
		{conditions{IfNoneMatch: `"e1"`}, condNotModified},
		{conditions{IfNoneMatch: `W/"e1"`}, condNotModified},
		{conditions{IfNoneMatch: `*`}, condNotModified},
		{conditions{IfNoneMatch: `"x"`}, condPass},
		{conditions{IfModifiedSince: at}, condNotModified},
		{conditions{IfModifiedSince: after}, condNotModified},
		{conditions{IfModifiedSince: before}, condPass},
		// If-None-Match present: If-Modified-Since is not evaluated.
		{conditions{IfNoneMatch: `"x"`, IfModifiedSince: after}, condPass},
		// 412 wins over 304.
		{conditions{IfMatch: `"x"`, IfNoneMatch: `"e1"`}, condFailed},
	}
	for _, tt := range tests {
		if got := tt.c.evaluate(etag, mod); got != tt.want {
			t.Errorf("%+v: %v, want %v", tt.c, got, tt.want)
		}
	}
}
