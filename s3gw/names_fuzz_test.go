package s3gw

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/minio/minio-go/v7/pkg/s3utils"

	"excloud.dev/buckets/s3gw/checksum"
	"excloud.dev/buckets/s3gw/sigv4"
)

// FuzzSplitPath checks request path splitting on arbitrary escaped paths:
// no panic; the key length rule holds exactly; a key round-trips through the
// encoding clients use (minio-go's EncodePath, the SigV4 canonical
// encoding), so the object a client names is the object it gets.
func FuzzSplitPath(f *testing.F) {
	for _, s := range []string{"/", "/b", "/b/", "/b/k", "/b//k", "/b/a%2Fb", "/b/a+b%20c", "/b/%zz", "b/k", "/%62/k",
		"/b/" + strings.Repeat("k", 1025), "/b/%E2%82%AC/%00", "/b/..%2F..", "/b/?x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, escaped string) {
		bucket, key, lv, err := splitPath(escaped)
		if err != nil {
			if lv != levelNone {
				t.Fatalf("error %v with level %v", err, lv)
			}
			return
		}
		if lv == levelObject && key == "" || lv == levelBucket && (bucket == "" && escaped != "//") {
			t.Fatalf("splitPath(%q) = %q, %q, level %v", escaped, bucket, key, lv)
		}
		if lv != levelObject {
			return
		}
		// The key rule: at most 1024 bytes, else KeyTooLongError.
		if err := checkKey(key); (err == nil) != (len(key) <= maxKeyLen) || err != nil && toS3Error(err).Code != ErrKeyTooLong {
			t.Fatalf("checkKey(%d bytes) = %v", len(key), err)
		}
		if strings.Contains(bucket, "/") {
			return
		}
		for name, enc := range map[string]func(string) string{"minio-go": s3utils.EncodePath, "sigv4": sigv4.EncodeURIPath} {
			if name == "minio-go" && !(utf8.ValidString(bucket) && utf8.ValidString(key)) {
				continue // EncodePath replaces invalid UTF-8 with U+FFFD
			}
			b2, k2, lv2, err := splitPath("/" + enc(bucket) + "/" + enc(key))
			if err != nil || b2 != bucket || k2 != key || lv2 != levelObject {
				t.Fatalf("%s encoding of %q/%q splits to %q/%q (%v, %v)", name, bucket, key, b2, k2, lv2, err)
			}
		}
	})
}

// FuzzCopySource checks x-amz-copy-source parsing: arbitrary values must
// not panic and name a non-empty bucket and key when accepted; and the
// forms real clients send for a bucket and key (minio-go's EncodePath of
// "bucket/key", the AWS CLI's quoting with and without a leading slash,
// with ?versionId=null) parse back to that bucket and key.
func FuzzCopySource(f *testing.F) {
	f.Add("src/k", "b", "k")
	f.Add("/src/a%2Fb%20c?versionId=null", "src", "a b+c/ü~")
	f.Add("src/k?versionId=3", "bucket", "dir/file.txt")
	f.Add("src", "b", "k?x=1#y")
	f.Add("/src/%zz", "b", "%")
	f.Add("?versionId=", "b", " ")
	f.Fuzz(func(t *testing.T, raw, bucket, key string) {
		if b, k, err := parseCopySource(raw); err == nil && (b == "" || k == "") {
			t.Fatalf("parseCopySource(%q) = %q, %q", raw, b, k)
		}
		if bucket == "" || key == "" || strings.Contains(bucket, "/") {
			return
		}
		forms := []string{
			url.PathEscape(bucket) + "/" + strings.ReplaceAll(url.PathEscape(key), "%2F", "/") + "?versionId=null",
			sigv4.EncodeURIPath(bucket+"/"+key) + "?versionId=",
		}
		// EncodePath replaces invalid UTF-8 with U+FFFD.
		if utf8.ValidString(bucket) && utf8.ValidString(key) {
			forms = append(forms, s3utils.EncodePath(bucket+"/"+key), "/"+s3utils.EncodePath(bucket+"/"+key))
		}
		for _, v := range forms {
			b, k, err := parseCopySource(v)
			if err != nil || b != bucket || k != key {
				t.Fatalf("copy source %q for %q/%q parses to %q/%q, %v", v, bucket, key, b, k, err)
			}
		}
	})
}

// FuzzCopySourceRange checks x-amz-copy-source-range parsing: an accepted
// range is non-empty and starts at a non-negative offset, however large
// the numbers on the wire.
func FuzzCopySourceRange(f *testing.F) {
	for _, s := range []string{"", "bytes=0-0", "bytes=0-5242879", "bytes=5-3", "bytes=-5", "bytes=3-", " bytes=1-2 ",
		"bytes=0-9223372036854775807", "bytes=9223372036854775807-9223372036854775807", "bytes=+1-2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		off, n, err := parseCopySourceRange(v)
		if err != nil || v == "" {
			return
		}
		if off < 0 || n < 1 || off+n-1 < off {
			t.Fatalf("parseCopySourceRange(%q) = %d, %d", v, off, n)
		}
	})
}

// FuzzListParams checks list query parsing: arbitrary queries must not
// panic, max-keys stays within 0..1000, a hostile continuation token is
// refused or decoded (never a panic), and tokens the server issues for any
// resume point decode back to it.
func FuzzListParams(f *testing.F) {
	f.Add("list-type=2&max-keys=1000&prefix=a%2F&delimiter=%2F&continuation-token="+encodeToken("dir/ü k"), "dir/ü k")
	f.Add("max-keys=-1&continuation-token=%%%", "")
	f.Add("max-keys=99999999999999999999999&encoding-type=URL&fetch-owner=true&start-after=x", "\x00\xff")
	f.Add("continuation-token=&marker=m&max-keys=+5", "a")
	f.Add("continuation-token=AAAA====&continuation-token=x", strings.Repeat("k", 1024))
	f.Fuzz(func(t *testing.T, raw, after string) {
		q, _ := url.ParseQuery(raw)
		for _, v2 := range []bool{false, true} {
			p, err := parseListParams(q, v2)
			if err != nil {
				if c := toS3Error(err).Code; c != ErrInvalidArgument {
					t.Fatalf("parseListParams(%q) error %v", raw, err)
				}
				continue
			}
			if p.MaxKeys < 0 || p.MaxKeys > maxListKeys {
				t.Fatalf("parseListParams(%q) max-keys %d", raw, p.MaxKeys)
			}
		}
		if got, err := decodeToken(encodeToken(after)); (err != nil || got != after) && after != "" {
			t.Fatalf("token of %q decodes to %q, %v", after, got, err)
		}
	})
}

// FuzzChecksumHeaders checks the x-amz-checksum-* and Content-MD5 request
// headers: arbitrary names and values must not panic; an accepted value
// decodes to exactly the algorithm's digest size; an accepted Content-MD5
// is 16 bytes; the CreateMultipartUpload algorithm/type pair is one S3
// allows.
func FuzzChecksumHeaders(f *testing.F) {
	f.Add("x-amz-checksum-crc32", "NhCmhg==", "", "", "")
	f.Add("x-amz-checksum-crc64nvme", "AAAAAAAAAAA=", "CRC64NVME", "FULL_OBJECT", "1B2M2Y8AsgTpgAGjIX2ttA==")
	f.Add("x-amz-checksum-sha256", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "sha256", "composite", "")
	f.Add("X-Amz-Checksum-Sha1", "2jmj7l5rSw0yVb/vlWAYkK/YBwk=", "SHA1", "FULL_OBJECT", "x")
	f.Add("x-amz-checksum-crc32c", "!!!!", "CRC32C", "", "AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("x-amz-checksum-md5", "", "", "FULL_OBJECT", "")
	f.Fuzz(func(t *testing.T, name, value, alg, typ, md5 string) {
		h := http.Header{}
		h.Set(name, value)
		if alg != "" {
			h.Set("x-amz-sdk-checksum-algorithm", alg)
		}
		if a, v, err := checksum.FromHeaders(h); err == nil && v != "" {
			b, err := checksum.Decode(a, v)
			if err != nil || len(b) != a.Size() {
				t.Fatalf("FromHeaders accepted %s=%q for %s: %d bytes, %v", name, value, a, len(b), err)
			}
		}
		mh := http.Header{}
		mh.Set("x-amz-checksum-algorithm", alg)
		mh.Set("x-amz-checksum-type", typ)
		mh.Set("Content-MD5", md5)
		if a, ty, err := parseChecksumAlgorithm(mh); err == nil && a != "" {
			if !a.Valid() || ty != "COMPOSITE" && ty != "FULL_OBJECT" ||
				ty == "COMPOSITE" && a == checksum.CRC64NVME || ty == "FULL_OBJECT" && (a == checksum.SHA1 || a == checksum.SHA256) {
				t.Fatalf("accepted algorithm %q type %q as %s %s", alg, typ, a, ty)
			}
		}
		if b, err := contentMD5(mh); err == nil && md5 != "" && len(b) != 16 {
			t.Fatalf("Content-MD5 %q accepted as %d bytes", md5, len(b))
		}
	})
}
