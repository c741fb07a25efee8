package s3gw

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/objects"
	"excloud.dev/buckets/s3gw/checksum"
	"excloud.dev/buckets/s3gw/sigv4"
)

const (
	// maxKeyLen is S3's limit on a key's UTF-8 length.
	maxKeyLen = 1024
	// maxPutSize is S3's limit for a single PutObject.
	maxPutSize = 5 << 30
	metaPrefix = "x-amz-meta-"
)

// checkKey applies the key rules every object operation shares.
func checkKey(key string) error {
	if len(key) > maxKeyLen {
		return s3Err(ErrKeyTooLong, "Your key is too long: %d bytes, the limit is %d.", len(key), maxKeyLen)
	}
	return nil
}

// userMeta collects x-amz-meta-* headers (names lowercased, prefix removed;
// repeated headers joined with ",", as HTTP folds them).
func userMeta(h http.Header) map[string]string {
	var meta map[string]string
	for name, vals := range h {
		lname := strings.ToLower(name)
		k, ok := strings.CutPrefix(lname, metaPrefix)
		if !ok {
			continue
		}
		if meta == nil {
			meta = make(map[string]string)
		}
		meta[k] = decodeMetaValue(strings.Join(vals, ","))
	}
	return meta
}

// headerMeta reads the stored headers, user metadata and tags of a write
// request and applies the object layer's metadata limits (objects.CheckMeta,
// the same the mount's xattrs meet) before any body is read.
func headerMeta(h http.Header) (catalog.Manifest, error) {
	tags, err := headerTags(h)
	if err != nil {
		return catalog.Manifest{}, err
	}
	m := catalog.Manifest{
		ContentType:        h.Get("Content-Type"),
		ContentEncoding:    storedContentEncoding(h.Get("Content-Encoding")),
		ContentDisposition: h.Get("Content-Disposition"),
		ContentLanguage:    h.Get("Content-Language"),
		CacheControl:       h.Get("Cache-Control"),
		Expires:            h.Get("Expires"),
		Meta:               userMeta(h),
		Tags:               tags,
	}
	if err := objects.CheckMeta(&m); err != nil {
		return catalog.Manifest{}, &Error{Code: ErrMetadataTooLarge, Err: err, Message: metadataTooLarge(&m)}
	}
	return m, nil
}

// metadataTooLarge says which of the two limits m exceeds.
func metadataTooLarge(m *catalog.Manifest) string {
	if n := objects.UserMetaSize(m.Meta); n > objects.MaxUserMeta {
		return fmt.Sprintf("Your metadata headers are %d bytes; the limit is %d.", n, objects.MaxUserMeta)
	}
	return fmt.Sprintf("Your Content-Type, Content-Encoding, Content-Disposition, Content-Language, Cache-Control and Expires headers are %d bytes together; the limit is %d.",
		objects.HeaderMetaSize(m), objects.MaxHeaderMeta)
}

// storedContentEncoding is Content-Encoding without the "aws-chunked"
// coding, which describes only this request's framing. The rest is kept
// exactly as sent ("aws-chunked, gzip, br" stores "gzip, br"): it is the
// object's header, returned on every GET.
func storedContentEncoding(v string) string {
	if !strings.Contains(strings.ToLower(v), "aws-chunked") {
		return v
	}
	var keep []string
	for c := range strings.SplitSeq(v, ",") {
		if !strings.EqualFold(strings.TrimSpace(c), "aws-chunked") {
			keep = append(keep, c)
		}
	}
	return strings.TrimSpace(strings.Join(keep, ","))
}

// checkUnsupportedWriteHeaders refuses request headers asking for features
// this server lacks, rather than silently ignoring them. Encryption at rest
// is always on, so "AES256" is accepted; customer keys and KMS are not.
func checkUnsupportedWriteHeaders(h http.Header) error {
	switch sse := h.Get("x-amz-server-side-encryption"); {
	case sse == "", sse == "AES256":
	default:
		return s3Err(ErrNotImplemented, "This server does not implement server-side encryption %q; objects are always encrypted at rest (AES256).", sse)
	}
	for _, name := range []string{
		"x-amz-server-side-encryption-customer-algorithm",
		"x-amz-server-side-encryption-customer-key",
		"x-amz-copy-source-server-side-encryption-customer-algorithm",
	} {
		if h.Get(name) != "" {
			return s3Err(ErrNotImplemented, "This server does not implement server-side encryption with customer-provided keys (SSE-C).")
		}
	}
	if h.Get("x-amz-server-side-encryption-aws-kms-key-id") != "" {
		return s3Err(ErrNotImplemented, "This server does not implement SSE-KMS.")
	}
	for _, name := range []string{"x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date", "x-amz-object-lock-legal-hold"} {
		if h.Get(name) != "" {
			return s3Err(ErrNotImplemented, "This server does not implement S3 Object Lock.")
		}
	}
	return nil
}

// writeCondition turns If-None-Match / If-Match on a write into the
// catalog's commit-time condition. Only "If-None-Match: *" is meaningful on a
// write (S3 rejects other values).
func writeCondition(h http.Header) (catalog.Condition, error) {
	var c catalog.Condition
	if v := strings.TrimSpace(h.Get("If-None-Match")); v != "" {
		if v != "*" {
			return c, s3Err(ErrNotImplemented, "If-None-Match on writes supports only \"*\".")
		}
		c.IfNoneMatchAny = true
	}
	if v := strings.TrimSpace(h.Get("If-Match")); v != "" {
		c.IfMatch = quoteETag(v)
	}
	return c, nil
}

// quoteETag normalises a client-sent ETag to the quoted form stored.
func quoteETag(v string) string {
	v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v
	}
	return `"` + v + `"`
}

func (s *server) putObject(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := checkKey(rq.key); err != nil {
		return err
	}
	if err := checkUnsupportedWriteHeaders(r.Header); err != nil {
		return err
	}
	// Without a length (Transfer-Encoding: chunked, which some streaming
	// clients send) the body is streamed like any other, in bounded
	// memory, and refused once it passes the single-PUT limit.
	size := rq.auth.DecodedLength
	if size > maxPutSize {
		return s3Err(ErrEntityTooLarge, "Your proposed upload of %d bytes exceeds the %d-byte limit of a single PUT; use multipart upload.", size, int64(maxPutSize))
	}
	md5sum, err := contentMD5(r.Header)
	if err != nil {
		return err
	}
	meta, err := headerMeta(r.Header)
	if err != nil {
		return err
	}
	cond, err := writeCondition(r.Header)
	if err != nil {
		return err
	}
	body, finish, err := checksummed(r.Header, rq.auth)
	if err != nil {
		return err
	}
	verify := func(m *catalog.Manifest) error {
		sums, err := finish()
		m.Checksums = sums
		return err
	}
	if size < 0 {
		body = &capReader{r: body, left: maxPutSize}
	}
	m, err := s.objs.Put(r.Context(), rq.org, rq.bucket, rq.key, body, objects.PutOptions{
		Size:       size,
		ContentMD5: md5sum,
		Meta:       meta,
		Cond:       cond,
		Verify:     verify,
	})
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("ETag", m.ETag)
	h.Set("x-amz-server-side-encryption", "AES256")
	for alg, v := range m.Checksums {
		h.Set(checksum.HeaderName(checksum.Algorithm(alg)), v)
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

// capReader fails a body of unknown length once it passes the limit of a
// single PUT, with the error S3 gives for a declared length over it.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, s3Err(ErrEntityTooLarge, "Your upload exceeds the %d-byte limit of a single PUT; use multipart upload.", int64(maxPutSize))
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1] // one byte past the limit is enough to know
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n, s3Err(ErrEntityTooLarge, "Your upload exceeds the %d-byte limit of a single PUT; use multipart upload.", int64(maxPutSize))
	}
	return n, err
}

// checksummed handles the flexible checksum a PUT or UploadPart declares,
// either as an x-amz-checksum-* header or as a trailer of an aws-chunked
// body. It returns the body to read (hashing as it streams) and finish, to
// call once the body has returned io.EOF and before the commit: it verifies
// the declared value and returns it keyed by algorithm, for storing so
// GET/HEAD (or the completion of a multipart upload) can use it. Without a
// declared checksum, CRC64NVME is computed and stored, as S3 does for every
// upload since 2025, so a later GET with checksum mode can return one.
func checksummed(h http.Header, auth *sigv4.Result) (io.Reader, func() (map[string]string, error), error) {
	alg, value, err := checksum.FromHeaders(h)
	if err != nil {
		return nil, nil, err
	}
	if auth.TrailerChecksum != "" {
		ta, err := checksum.Parse(auth.TrailerChecksum)
		if err != nil {
			return nil, nil, err
		}
		if alg != "" && alg != ta {
			return nil, nil, s3Err(ErrInvalidRequest, "x-amz-trailer names %s but the headers declare %s.", ta, alg)
		}
		alg = ta
	}
	if alg == "" {
		alg = checksum.CRC64NVME
	}
	cr := checksum.NewReader(auth.Body, alg)
	finish := func() (map[string]string, error) {
		want := value
		if want == "" && auth.Trailers != nil {
			want = auth.Trailers()[checksum.HeaderName(alg)]
		}
		if want != "" {
			if err := cr.Verify(alg, want); err != nil {
				return nil, fmt.Errorf("verify %s: %w", alg, err)
			}
		}
		return map[string]string{string(alg): checksum.Encode(cr.Sum(alg))}, nil
	}
	return cr, finish, nil
}
