package s3gw

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/s3gw/checksum"
)

// precondition is the outcome of evaluating conditional request headers.
type precondition int

const (
	condPass        precondition = iota
	condFailed                   // 412
	condNotModified              // 304 (GET/HEAD)
)

// conditions are the four validators, as sent (empty = absent).
type conditions struct {
	IfMatch, IfNoneMatch, IfModifiedSince, IfUnmodifiedSince string
}

func getConditions(h http.Header) conditions {
	return conditions{
		IfMatch:           h.Get("If-Match"),
		IfNoneMatch:       h.Get("If-None-Match"),
		IfModifiedSince:   h.Get("If-Modified-Since"),
		IfUnmodifiedSince: h.Get("If-Unmodified-Since"),
	}
}

// evaluate applies RFC 9110 section 13.2.2: If-Match, else
// If-Unmodified-Since; then If-None-Match, else If-Modified-Since. A date
// that does not parse is ignored, as the RFC requires. Times compare at
// one-second resolution, the resolution of HTTP dates.
func (c conditions) evaluate(etag string, mod time.Time) precondition {
	mod = mod.Truncate(time.Second)
	if c.IfMatch != "" {
		if !etagListMatches(c.IfMatch, etag) {
			return condFailed
		}
	} else if t, err := http.ParseTime(c.IfUnmodifiedSince); c.IfUnmodifiedSince != "" && err == nil {
		if mod.After(t) {
			return condFailed
		}
	}
	if c.IfNoneMatch != "" {
		if etagListMatches(c.IfNoneMatch, etag) {
			return condNotModified
		}
	} else if t, err := http.ParseTime(c.IfModifiedSince); c.IfModifiedSince != "" && err == nil {
		if !mod.After(t) {
			return condNotModified
		}
	}
	return condPass
}

// etagListMatches reports whether a comma-separated list of entity tags (or
// "*") contains etag. Comparison ignores weakness and quoting, since
// clients are inconsistent about both and S3 ETags are never weak.
func etagListMatches(list, etag string) bool {
	want := strings.Trim(etag, `"`)
	for _, tok := range strings.Split(list, ",") {
		tok = strings.TrimSpace(tok)
		if tok == "*" {
			return true
		}
		if strings.Trim(strings.TrimPrefix(tok, "W/"), `"`) == want {
			return true
		}
	}
	return false
}

// objectHeaders sets the headers GET and HEAD share.
func objectHeaders(h http.Header, m *catalog.Manifest) {
	h.Set("ETag", m.ETag)
	h.Set("Last-Modified", m.ModTime.UTC().Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	ct := m.ContentType
	if ct == "" {
		ct = "binary/octet-stream" // S3's default for objects stored without one
	}
	h.Set("Content-Type", ct)
	for name, v := range map[string]string{
		"Content-Encoding":    m.ContentEncoding,
		"Content-Disposition": m.ContentDisposition,
		"Content-Language":    m.ContentLanguage,
		"Cache-Control":       m.CacheControl,
		"Expires":             m.Expires,
	} {
		if v != "" {
			h.Set(name, v)
		}
	}
	for k, v := range m.Meta {
		// Set the lowercase name directly: canonicalising would change
		// what clients see for names like "x-amz-meta-camelCase".
		h[metaPrefix+k] = []string{encodeMetaValue(v)}
	}
	h.Set("x-amz-server-side-encryption", "AES256")
	if len(m.Parts) > 0 {
		h.Set("x-amz-mp-parts-count", strconv.Itoa(len(m.Parts)))
	}
	if len(m.Tags) > 0 {
		h.Set("x-amz-tagging-count", strconv.Itoa(len(m.Tags)))
	}
}

// checksumHeaders returns the stored checksums with their type: a
// multipart composite value ends in "-N" (the part count), anything else is
// a checksum of the whole object's bytes.
func checksumHeaders(h http.Header, m *catalog.Manifest) {
	for alg, v := range m.Checksums {
		h.Set(checksum.HeaderName(checksum.Algorithm(alg)), v)
		typ := "FULL_OBJECT"
		if i := strings.LastIndexByte(v, '-'); i > 0 && allDigits(v[i+1:]) {
			typ = "COMPOSITE"
		}
		h.Set("x-amz-checksum-type", typ)
	}
}

// responseOverrides are the query parameters that replace response headers
// on GET and HEAD (used by presigned download links).
var responseOverrides = map[string]string{
	"response-content-type":        "Content-Type",
	"response-content-language":    "Content-Language",
	"response-expires":             "Expires",
	"response-cache-control":       "Cache-Control",
	"response-content-disposition": "Content-Disposition",
	"response-content-encoding":    "Content-Encoding",
}

func applyOverrides(h http.Header, r *http.Request) {
	q := requestQuery(r)
	for param, header := range responseOverrides {
		if vs, ok := q[param]; ok && len(vs) > 0 {
			h.Set(header, vs[0])
		}
	}
}

// checkConditions answers 304 or 412 for GET/HEAD. A 304 carries the
// validators so caches can refresh.
// ignoreFutureDate drops an If-Modified-Since date later than now: such a
// date is invalid (RFC 9110, 13.1.3), and S3 ignores it rather than
// answering "not modified" (or, for a copy, 412) to everything.
func ignoreFutureDate(v string, now time.Time) string {
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return ""
	}
	return v
}

func checkConditions(r *http.Request, m *catalog.Manifest, now time.Time) error {
	c := getConditions(r.Header)
	c.IfModifiedSince = ignoreFutureDate(c.IfModifiedSince, now)
	switch c.evaluate(m.ETag, m.ModTime) {
	case condFailed:
		return &Error{Code: ErrPreconditionFailed}
	case condNotModified:
		return &Error{Code: ErrNotModified, Header: map[string]string{
			"ETag":          m.ETag,
			"Last-Modified": m.ModTime.UTC().Format(http.TimeFormat),
		}}
	}
	return nil
}

// ifRangeHolds reports whether an If-Range validator still matches, so the
// Range applies; otherwise the whole object is sent (RFC 9110 13.1.5).
func ifRangeHolds(v string, m *catalog.Manifest) bool {
	v = strings.TrimSpace(v)
	if v == "" {
		return true
	}
	if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, `W/`) {
		return !strings.HasPrefix(v, "W/") && v == m.ETag
	}
	t, err := http.ParseTime(v)
	return err == nil && m.ModTime.Truncate(time.Second).Equal(t)
}

// resolveRange decides what part of the object to send: ok=false means the
// whole object with 200.
func resolveRange(r *http.Request, m *catalog.Manifest) (byteRange, bool, error) {
	if q := requestQuery(r); q.Has("partNumber") {
		return partRange(q.Get("partNumber"), m)
	}
	rh := r.Header.Get("Range")
	if rh == "" || !ifRangeHolds(r.Header.Get("If-Range"), m) {
		return byteRange{}, false, nil
	}
	br, ok, err := parseRange(rh, m.Size)
	if err != nil {
		return byteRange{}, false, &Error{
			Code:   ErrInvalidRange,
			Header: map[string]string{"Content-Range": fmt.Sprintf("bytes */%d", m.Size)},
		}
	}
	return br, ok, nil
}

// partRange serves ?partNumber=N: the bytes of part N of an object completed
// from a multipart upload; an object uploaded in one piece is its part 1.
func partRange(pn string, m *catalog.Manifest) (byteRange, bool, error) {
	n, err := parsePartNumber(pn)
	if err != nil {
		return byteRange{}, false, err
	}
	if len(m.Parts) == 0 {
		if n != 1 {
			return byteRange{}, false, &Error{Code: ErrInvalidPartNumber}
		}
		return byteRange{}, false, nil
	}
	var off int64
	for _, p := range m.Parts {
		if p.Number == n {
			return byteRange{Start: off, Length: p.Size}, true, nil
		}
		off += p.Size
	}
	return byteRange{}, false, &Error{Code: ErrInvalidPartNumber}
}

func checkReadQuery(r *http.Request) error {
	if v := requestQuery(r).Get("versionId"); v != "" && v != "null" {
		return s3Err(ErrNotImplemented, "This server does not implement object versioning; only versionId=null exists.")
	}
	return nil
}

func (s *server) getObject(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := checkReadQuery(r); err != nil {
		return err
	}
	obj, err := s.objs.Open(r.Context(), rq.org, rq.bucket, rq.key)
	if err != nil {
		return err
	}
	defer obj.Close()
	m := obj.Manifest
	if err := checkConditions(r, m, s.now()); err != nil {
		return err
	}
	br, partial, err := resolveRange(r, m)
	if err != nil {
		return err
	}
	if !partial {
		br = byteRange{Start: 0, Length: m.Size}
	}
	body, err := obj.NewReader(r.Context(), br.Start, br.Length)
	if err != nil {
		return err
	}
	defer body.Close()

	h := w.Header()
	objectHeaders(h, m)
	applyOverrides(h, r)
	h.Set("Content-Length", itoa(br.Length))
	status := http.StatusOK
	if partial {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", br.Start, br.Start+br.Length-1, m.Size))
		status = http.StatusPartialContent
	} else if strings.EqualFold(r.Header.Get("x-amz-checksum-mode"), "ENABLED") {
		// Whole-object checksums describe only the whole object.
		checksumHeaders(h, m)
	}
	// Read the first bytes before the status line: damage there (a corrupt
	// or missing chunk) is then a 500 the client sees, not a 200 cut short.
	// Reading one byte authenticates the whole first segment.
	first := make([]byte, min(br.Length, 4096))
	if n, err := io.ReadFull(body, first); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			// Not the client's short body: our data ended early.
			err = fmt.Errorf("object data ended after %d of %d bytes", n, len(first))
		}
		return fmt.Errorf("read %s/%s: %w", rq.bucket, rq.key, err)
	}
	w.WriteHeader(status)
	// Stream: the object reader verifies each chunk segment as it goes, so a
	// corrupt chunk ends the response short instead of sending bad bytes.
	if _, err := io.Copy(w, io.MultiReader(bytes.NewReader(first), body)); err != nil {
		return fmt.Errorf("stream %s/%s: %w", rq.bucket, rq.key, err)
	}
	return nil
}

func (s *server) headObject(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := checkReadQuery(r); err != nil {
		return err
	}
	m, err := s.objs.Head(r.Context(), rq.org, rq.bucket, rq.key)
	if err != nil {
		return err
	}
	if err := checkConditions(r, m, s.now()); err != nil {
		return err
	}
	br, partial, err := resolveRange(r, m)
	if err != nil {
		return err
	}
	h := w.Header()
	objectHeaders(h, m)
	applyOverrides(h, r)
	status := http.StatusOK
	if partial {
		h.Set("Content-Length", itoa(br.Length))
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", br.Start, br.Start+br.Length-1, m.Size))
		status = http.StatusPartialContent
	} else {
		h.Set("Content-Length", itoa(m.Size))
		if strings.EqualFold(r.Header.Get("x-amz-checksum-mode"), "ENABLED") {
			checksumHeaders(h, m)
		}
	}
	w.WriteHeader(status)
	return nil
}

func (s *server) deleteObject(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := checkReadQuery(r); err != nil {
		return err
	}
	if err := s.objs.Delete(r.Context(), rq.org, rq.bucket, rq.key); err != nil && !isNotFound(err) {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
