package sigv4_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"excloud.dev/buckets/s3gw/checksum"
	"excloud.dev/buckets/s3gw/sigv4"
)

func FuzzParseAuthorization(f *testing.F) {
	f.Add(awsRequest(f, http.MethodGet, "k", nil, nil, hexSHA256(nil), fixedTime).Header.Get("Authorization"))
	f.Add(minioRequest(f, http.MethodPut, "a b", nil, []byte("x"), sigv4.UnsignedPayload).Header.Get("Authorization"))
	f.Add("AWS4-HMAC-SHA256 Credential=A/20250601/r/s3/aws4_request,SignedHeaders=host,Signature=" + strings.Repeat("a", 64))
	f.Add("AWS4-HMAC-SHA256 Credential=,,,=")
	f.Add("AWS AKID:sig")
	f.Fuzz(func(t *testing.T, h string) {
		a, err := sigv4.ParseAuthorization(h)
		if err != nil {
			return
		}
		if len(a.Signature) != 64 || a.Credential.Service != "s3" || a.Credential.AccessKeyID == "" || a.Credential.Region == "" {
			t.Fatalf("accepted %q as %+v", h, a)
		}
		host := false
		for i, n := range a.SignedHeaders {
			if i > 0 && a.SignedHeaders[i-1] >= n {
				t.Fatalf("unsorted signed headers %v", a.SignedHeaders)
			}
			host = host || n == "host"
		}
		if !host {
			t.Fatalf("signed headers without host: %v", a.SignedHeaders)
		}
	})
}

func FuzzPresignQuery(f *testing.F) {
	f.Add(awsPresign(f, http.MethodGet, "k", url.Values{"versionId": {"1"}}, "900", fixedTime).URL.RawQuery)
	f.Add(minioPresign(f, http.MethodGet, "a+b", nil, 604800).URL.RawQuery)
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=604801")
	f.Add("X-Amz-Signature=%zz&a=b;c")
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw)
		p, err := sigv4.ParsePresignQuery(q)
		if err == nil {
			if p.Expires < time.Second || p.Expires > sigv4.MaxPresignExpiry || len(p.Signature) != 64 {
				t.Fatalf("accepted %q as %+v", raw, p)
			}
		}
		// The whole path, canonical query included, must not panic.
		r, err := http.NewRequest(http.MethodGet, "http://"+testHost+"/bucket/k", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.URL.RawQuery = raw
		if _, err := sigv4.Verify(r, fixedTime, lookup); err == nil && !strings.Contains(raw, "X-Amz-Signature") {
			t.Fatalf("verified %q", raw)
		}
	})
}

type chunkedTemplate struct {
	wire []byte // the request without its body
	body []byte
}

var (
	templatesOnce sync.Once
	templates     []chunkedTemplate
	templateData  = []byte(strings.Repeat("0123456789abcdef", 8))
)

// chunkedTemplates returns real signed requests, one per aws-chunked form,
// whose bodies the fuzzer replaces. The payload is small so that the
// fuzzer's minimization stays fast; multi-chunk chains are covered by the
// unit tests.
func chunkedTemplates(tb testing.TB) []chunkedTemplate {
	templatesOnce.Do(func() {
		data := templateData
		for _, req := range []*http.Request{
			minioStreaming(tb, "k", data, nil),
			minioStreaming(tb, "k", data, trailerOf(minio.ChecksumCRC32C, data)),
			awsSignedChunkedUnsigned(tb, data, len(data), trailerOf(minio.ChecksumCRC32, data)),
			// Unsigned chunks without any trailer, and with a trailer
			// checksum of another family (SHA-256).
			awsSignedChunkedUnsigned(tb, data, len(data), nil),
			awsSignedChunkedUnsigned(tb, data, len(data), trailerOf(minio.ChecksumSHA256, data)),
		} {
			b := wire(tb, req)
			i := bytes.Index(b, []byte("\r\n\r\n")) + 4
			templates = append(templates, chunkedTemplate{b[:i], b[i:]})
		}
	})
	return templates
}

// FuzzChunkedDecoder feeds arbitrary bodies to Verify under real signed
// headers of each aws-chunked form: signed chunks, signed chunks with a
// signed trailer, unsigned chunks with a CRC32 or SHA-256 trailer, and
// unsigned chunks without one. Besides not panicking and never decoding
// more than it was given, a signed form may decode cleanly only to the
// exact signed payload, and an unsigned form with a trailer checksum only
// to data that has that checksum.
func FuzzChunkedDecoder(f *testing.F) {
	for i, tpl := range chunkedTemplates(f) {
		f.Add(uint8(i), tpl.body)
	}
	f.Add(uint8(2), []byte("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n"))
	f.Add(uint8(2), []byte("ffffffffffffffff\r\n"))
	f.Add(uint8(0), []byte("0;chunk-signature="+strings.Repeat("0", 64)+"\r\n\r\n"))
	// The AWS SDKs' framing of an unsigned trailer: CRLF lines, blank line.
	f.Add(uint8(2), []byte("80\r\n"+string(templateData)+"\r\n0\r\nx-amz-checksum-crc32:"+checksum.Encode(checksum.Sum(checksum.CRC32, templateData))+"\r\n\r\n"))
	f.Add(uint8(3), []byte("80\r\n"+string(templateData)+"\r\n0\r\n\r\n"))
	f.Add(uint8(3), []byte("40\r\n"+string(templateData[:64])+"\r\n40\r\n"+string(templateData[64:])+"\r\n0\r\n\r\n"))
	f.Add(uint8(4), []byte("80\r\n"+string(templateData)+"\r\n0\r\nx-amz-checksum-sha256:"+checksum.Encode(checksum.Sum(checksum.SHA256, templateData))+"\r\n\r\n"))
	// minio-go's framing of the signed trailer: LF-terminated lines.
	f.Add(uint8(1), []byte("0;chunk-signature="+strings.Repeat("0", 64)+"\r\nx-amz-checksum-crc32c:AAAAAA==\nx-amz-trailer-signature:"+strings.Repeat("0", 64)+"\n\r\n"))
	f.Fuzz(func(t *testing.T, form uint8, body []byte) {
		tpls := chunkedTemplates(t)
		tpl := tpls[int(form)%len(tpls)]
		r := serveWithBody(t, tpl.wire, body)
		res, err := sigv4.Verify(r, fixedTime, lookup)
		if err != nil {
			t.Fatalf("template no longer verifies: %v", err)
		}
		got, err := io.ReadAll(res.Body)
		if len(got) > len(body) || int64(len(got)) > res.DecodedLength {
			t.Fatalf("decoded %d bytes from %d (declared %d)", len(got), len(body), res.DecodedLength)
		}
		if err != nil {
			return
		}
		if int64(len(got)) != res.DecodedLength {
			t.Fatalf("clean EOF after %d bytes, declared %d", len(got), res.DecodedLength)
		}
		if res.ContentSHA256 != sigv4.StreamingUnsignedTrailer && !bytes.Equal(got, templateData) {
			t.Fatalf("signed form decoded altered data %q", got)
		}
		if alg := checksum.Algorithm(res.TrailerChecksum); alg != "" {
			want := checksum.Encode(checksum.Sum(alg, got))
			if v := res.Trailers()[checksum.HeaderName(alg)]; v != want {
				t.Fatalf("clean EOF with trailer %s=%q, data has %q", checksum.HeaderName(alg), v, want)
			}
		}
	})
}

// serveWithBody parses head (request line and headers) and attaches
// body. The signed Content-Length header is left as it was: the body's
// framing, not the transport, is under test.
func serveWithBody(t testing.TB, head, body []byte) *http.Request {
	r := serve(t, head)
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return r
}

// endless yields a chunk header claiming an enormous chunk, then zeros
// for ever.
type endless struct{ header []byte }

func (e *endless) Read(p []byte) (int, error) {
	if len(e.header) > 0 {
		n := copy(p, e.header)
		e.header = e.header[n:]
		return n, nil
	}
	clear(p)
	return len(p), nil
}

// TestChunkedBoundedMemory streams 64 MiB of one chunk that claims to be
// 1 TiB: memory must not follow either number.
func TestChunkedBoundedMemory(t *testing.T) {
	const tib = 1 << 40
	req := newPut(t, "k", nil)
	req.Header.Set("X-Amz-Content-Sha256", sigv4.StreamingUnsignedTrailer)
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(tib))
	if err := awsSigner.SignHTTP(context.Background(), awsCreds, req, sigv4.StreamingUnsignedTrailer, "s3", testRegion, fixedTime); err != nil {
		t.Fatal(err)
	}
	r := roundTrip(t, req)
	r.Body = io.NopCloser(&endless{header: []byte(strconv.FormatInt(tib, 16) + "\r\n")})
	res, err := sigv4.Verify(r, fixedTime, lookup)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32<<10)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var n int64
	for n < 64<<20 {
		m, err := res.Body.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		n += int64(m)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("decoding 64 MiB allocated %d bytes", grew)
	}
}
