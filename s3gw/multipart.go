package s3gw

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/objects"
	"excloud.dev/buckets/s3gw/checksum"
	"excloud.dev/buckets/s3gw/sigv4"
)

// Multipart uploads. The object layer does the work (parts are chunk writes,
// completion is metadata only); this file speaks the protocol: the query
// parameters, the XML bodies, the checksum rules and the list markers.
//
// The checksum algorithm named at CreateMultipartUpload
// (x-amz-checksum-algorithm, with x-amz-checksum-type) is recorded in the
// upload template's Checksums map as {algorithm: ""} for COMPOSITE and
// {algorithm: "FULL_OBJECT"} for FULL_OBJECT. The template map never reaches
// a completed object: completion replaces it with the computed value, which
// a client can tell apart by form ("base64-N" is composite).

const (
	// maxPartSize is S3's limit on one UploadPart body.
	maxPartSize = 5 << 30
	// maxCompleteBody bounds the CompleteMultipartUpload body: 10000 parts
	// with an ETag and the longest checksum each take about 200 bytes, so
	// 8 MiB leaves room for whitespace and namespaces without letting a
	// client make us buffer more.
	maxCompleteBody = 8 << 20
	// maxListUploads and maxListParts cap max-uploads and max-parts.
	maxListUploads = 1000
	maxListParts   = 1000
	// fullObjectMark is the template value that records FULL_OBJECT.
	fullObjectMark = "FULL_OBJECT"
)

// uploadAlgorithm returns the checksum algorithm and type recorded in an
// upload template, or "" when the upload has none.
func uploadAlgorithm(tmpl catalog.Manifest) (checksum.Algorithm, string) {
	for alg, v := range tmpl.Checksums {
		a := checksum.Algorithm(alg)
		if !a.Valid() {
			continue
		}
		if v == fullObjectMark {
			return a, "FULL_OBJECT"
		}
		return a, "COMPOSITE"
	}
	return "", ""
}

// parseChecksumAlgorithm reads x-amz-checksum-algorithm and
// x-amz-checksum-type from a CreateMultipartUpload. The types follow S3:
// CRC64NVME is full-object only, SHA1 and SHA256 composite only, the
// CRC32s either (composite by default).
func parseChecksumAlgorithm(h http.Header) (checksum.Algorithm, string, error) {
	name := strings.TrimSpace(h.Get("x-amz-checksum-algorithm"))
	typ := strings.ToUpper(strings.TrimSpace(h.Get("x-amz-checksum-type")))
	if name == "" {
		if typ != "" {
			return "", "", s3Err(ErrInvalidRequest, "x-amz-checksum-type requires x-amz-checksum-algorithm.")
		}
		return "", "", nil
	}
	alg, err := checksum.Parse(name)
	if err != nil {
		return "", "", s3Err(ErrInvalidRequest, "Unsupported x-amz-checksum-algorithm %q.", name)
	}
	switch {
	case typ == "" && alg == checksum.CRC64NVME:
		typ = "FULL_OBJECT"
	case typ == "":
		typ = "COMPOSITE"
	case typ != "COMPOSITE" && typ != "FULL_OBJECT":
		return "", "", s3Err(ErrInvalidRequest, "x-amz-checksum-type must be COMPOSITE or FULL_OBJECT.")
	case typ == "COMPOSITE" && alg == checksum.CRC64NVME,
		typ == "FULL_OBJECT" && (alg == checksum.SHA1 || alg == checksum.SHA256):
		return "", "", s3Err(ErrInvalidRequest, "The %s checksum type is not supported for %s.", typ, alg)
	}
	return alg, typ, nil
}

// uploadIDParam returns the uploadId query value; an empty one names no
// upload at all.
func uploadIDParam(r *http.Request) (string, error) {
	id := requestQuery(r).Get("uploadId")
	if id == "" {
		return "", &Error{Code: ErrNoSuchUpload, Message: "The specified multipart upload does not exist: the uploadId is empty."}
	}
	return id, nil
}

// partNumberParam parses partNumber for UploadPart and UploadPartCopy.
func partNumberParam(r *http.Request) (int, error) {
	return parsePartNumber(requestQuery(r).Get("partNumber"))
}

// parsePartNumber parses a partNumber query value (UploadPart,
// UploadPartCopy, GetObject and HeadObject): plain decimal digits without
// sign or leading zero, 1 to objects.MaxParts. strconv.Atoi alone would
// take "+1" and "01" as part 1, so several spellings would name one part,
// and the same request could mean different things to us and to a cache
// or proxy that compares query strings.
func parsePartNumber(v string) (int, error) {
	bad := len(v) == 0 || len(v) > 5 || v[0] == '0'
	n := 0
	for i := 0; i < len(v) && !bad; i++ {
		if v[i] < '0' || v[i] > '9' {
			bad = true
			break
		}
		n = n*10 + int(v[i]-'0')
	}
	if bad || n < 1 || n > objects.MaxParts {
		return 0, s3Err(ErrInvalidArgument, "Part number must be an integer between 1 and %d, inclusive.", objects.MaxParts)
	}
	return n, nil
}

func (s *server) createMultipartUpload(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := checkKey(rq.key); err != nil {
		return err
	}
	if err := checkUnsupportedWriteHeaders(r.Header); err != nil {
		return err
	}
	meta, err := headerMeta(r.Header)
	if err != nil {
		return err
	}
	alg, typ, err := parseChecksumAlgorithm(r.Header)
	if err != nil {
		return err
	}
	if alg != "" {
		v := ""
		if typ == "FULL_OBJECT" {
			v = fullObjectMark
		}
		meta.Checksums = map[string]string{string(alg): v}
	}
	up, err := s.objs.CreateMultipart(r.Context(), rq.org, rq.bucket, rq.key, meta)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("x-amz-server-side-encryption", "AES256")
	if alg != "" {
		h.Set("x-amz-checksum-algorithm", string(alg))
		h.Set("x-amz-checksum-type", typ)
	}
	return writeXML(w, initiateMultipartUploadResult{Bucket: rq.bucket, Key: rq.key, UploadID: up.ID})
}

func (s *server) uploadPart(w http.ResponseWriter, r *http.Request, rq *request) error {
	n, err := partNumberParam(r)
	if err != nil {
		return err
	}
	id, err := uploadIDParam(r)
	if err != nil {
		return err
	}
	if err := checkUnsupportedWriteHeaders(r.Header); err != nil {
		return err
	}
	size := rq.auth.DecodedLength
	if size < 0 {
		return &Error{Code: ErrMissingContentLength}
	}
	if size > maxPartSize {
		return s3Err(ErrEntityTooLarge, "Your part of %d bytes exceeds the %d-byte limit of one part.", size, int64(maxPartSize))
	}
	md5sum, err := contentMD5(r.Header)
	if err != nil {
		return err
	}
	body, finish, err := checksummed(r.Header, rq.auth)
	if err != nil {
		return err
	}
	opts := objects.PartOptions{Size: size, ContentMD5: md5sum, Verify: func(p *catalog.UploadPart) error {
		sums, err := finish()
		p.Checksum = sums
		return err
	}}
	p, err := s.objs.UploadPart(r.Context(), rq.org, rq.bucket, rq.key, id, n, body, opts)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("ETag", p.ETag)
	h.Set("x-amz-server-side-encryption", "AES256")
	for alg, v := range p.Checksum {
		h.Set(checksum.HeaderName(checksum.Algorithm(alg)), v)
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

// parseCopySourceRange reads x-amz-copy-source-range: exactly
// "bytes=first-last", both offsets given, first ≤ last. Whether the range
// lies within the source is the object layer's check (InvalidRange).
func parseCopySourceRange(v string) (off, length int64, err error) {
	if v == "" {
		return 0, -1, nil
	}
	bad := s3Err(ErrInvalidArgument, "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy.")
	spec, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	if !ok {
		return 0, 0, bad
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok || !allDigits(a) || !allDigits(b) {
		return 0, 0, bad
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || first > last {
		return 0, 0, bad
	}
	// Offsets beyond any object are clamped so that neither last-first+1
	// here nor off+length in the object layer can overflow int64; the
	// range still lies beyond the source and fails there as InvalidRange.
	first, last = min(first, maxRangeOffset), min(last, maxRangeOffset)
	return first, last - first + 1, nil
}

// maxRangeOffset is far beyond any object (S3's limit is 5 TiB) and far
// enough below MaxInt64 that adding a length to it cannot overflow.
const maxRangeOffset = 1 << 60

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (s *server) uploadPartCopy(w http.ResponseWriter, r *http.Request, rq *request) error {
	n, err := partNumberParam(r)
	if err != nil {
		return err
	}
	id, err := uploadIDParam(r)
	if err != nil {
		return err
	}
	srcBucket, srcKey, err := parseCopySource(r.Header.Get("x-amz-copy-source"))
	if err != nil {
		return err
	}
	// The source is read, so a key limited to some buckets must be allowed
	// there too; authorize only saw the destination.
	if !bucketAllowed(rq.access, srcBucket) {
		return s3Err(ErrAccessDenied, "This access key is not allowed to access bucket %q.", srcBucket)
	}
	off, length, err := parseCopySourceRange(r.Header.Get("x-amz-copy-source-range"))
	if err != nil {
		return err
	}
	p, err := s.objs.UploadPartCopy(r.Context(), rq.org, rq.bucket, rq.key, id, n, srcBucket, srcKey, off, length, copyConditions(r.Header, s.now()))
	if err != nil {
		return err
	}
	w.Header().Set("x-amz-server-side-encryption", "AES256")
	return writeXML(w, copyPartResult{ETag: p.ETag, LastModified: xmlTime(p.ModTime)})
}

// parseCompleteRequest decodes a CompleteMultipartUpload body. An empty
// list, more than MaxParts parts, or anything that does not parse is
// MalformedXML, as S3 answers; a part number out of range is InvalidArgument.
// Order and existence are the object layer's checks.
func parseCompleteRequest(body []byte) (completeMultipartUpload, error) {
	var req completeMultipartUpload
	if tooManyChildren(body, "Part", objects.MaxParts) {
		return req, s3Err(ErrMalformedXML, "A CompleteMultipartUpload request must name between 1 and %d parts.", objects.MaxParts)
	}
	if err := decodeXML(body, maxCompleteBody, &req); err != nil {
		return req, err
	}
	if n := len(req.Parts); n == 0 || n > objects.MaxParts {
		return req, s3Err(ErrMalformedXML, "A CompleteMultipartUpload request must name between 1 and %d parts; it named %d.", objects.MaxParts, n)
	}
	for _, p := range req.Parts {
		if p.PartNumber < 1 || p.PartNumber > objects.MaxParts {
			return req, s3Err(ErrInvalidArgument, "Part number must be an integer between 1 and %d, inclusive.", objects.MaxParts)
		}
	}
	return req, nil
}

func (s *server) completeMultipartUpload(w http.ResponseWriter, r *http.Request, rq *request) error {
	id, err := uploadIDParam(r)
	if err != nil {
		return err
	}
	cond, err := writeCondition(r.Header)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(rq.auth.Body, maxCompleteBody+1))
	if err != nil {
		return err
	}
	if len(body) > maxCompleteBody {
		return s3Err(ErrMalformedXML, "The CompleteMultipartUpload body exceeds %d bytes.", maxCompleteBody)
	}
	req, err := parseCompleteRequest(body)
	if err != nil {
		return err
	}
	parts := make([]objects.CompletePart, len(req.Parts))
	for i, p := range req.Parts {
		parts[i] = objects.CompletePart{Number: p.PartNumber, ETag: p.ETag}
	}
	// An x-amz-checksum-<alg> header here is the client's expectation of
	// the object's checksum: compared with the computed one (BadDigest).
	wantAlg, wantValue := completeChecksumHeader(r.Header)
	var typ string
	verify := func(m *catalog.Manifest, used []catalog.UploadPart) error {
		var alg checksum.Algorithm
		alg, typ = uploadAlgorithm(*m)
		m.Checksums = nil // the template's record, not a value
		for i, p := range used {
			for a, v := range req.Parts[i].values() {
				if got, ok := p.Checksum[a]; ok && got != v {
					return s3Err(ErrInvalidPart, "The %s checksum given for part %d does not match the uploaded part.", a, p.Number)
				}
			}
		}
		if alg == "" {
			return nil
		}
		v, ok, err := objectChecksum(alg, typ, used)
		if err != nil || !ok {
			typ = ""
			return err
		}
		if wantAlg == alg && !sameObjectChecksum(wantValue, v) {
			return fmt.Errorf("complete: x-amz-checksum-%s %s, computed %s: %w", strings.ToLower(string(alg)), wantValue, v, checksum.ErrMismatch)
		}
		m.Checksums = map[string]string{string(alg): v}
		return nil
	}
	ck := completedKey{org: rq.org, bucket: rq.bucket, uploadID: id}
	m, err := s.objs.CompleteMultipart(r.Context(), rq.org, rq.bucket, rq.key, id, parts, objects.CompleteOptions{Cond: cond, Verify: verify})
	var done *completedUpload
	switch {
	case errors.Is(err, catalog.ErrNoSuchUpload):
		prev, ok := s.completed.lookup(ck, rq.key, parts, s.now())
		if !ok {
			return err
		}
		done = prev // a retry of a completion whose answer was lost
	case err != nil:
		return err
	default:
		done = &completedUpload{key: rq.key, parts: partsDigest(parts), etag: m.ETag, checksums: m.Checksums, at: s.now()}
		if len(m.Checksums) > 0 {
			done.typ = typ
		}
		s.completed.add(ck, done)
	}
	res := completeMultipartUploadResult{
		Location:     location(r, rq.bucket, rq.key),
		Bucket:       rq.bucket,
		Key:          rq.key,
		ETag:         done.etag,
		ChecksumType: done.typ,
	}
	res.set(done.checksums)
	w.Header().Set("x-amz-server-side-encryption", "AES256")
	return writeXML(w, res)
}

// completeChecksumHeader reads the optional whole-object checksum a client
// expects from a completion. FromHeaders validates value lengths for single
// sums, which a composite "sum-N" is not, so this only looks at the names.
func completeChecksumHeader(h http.Header) (checksum.Algorithm, string) {
	for _, a := range checksum.Algorithms {
		if v := strings.TrimSpace(h.Get(checksum.HeaderName(a))); v != "" {
			return a, v
		}
	}
	return "", ""
}

// sameObjectChecksum compares the checksum a client expects on completion
// with the one computed. A composite value is "sum-N"; clients send it with
// or without the part count (minio-go and the AWS SDKs' own multipart code
// send the bare sum), and S3 accepts both.
func sameObjectChecksum(want, computed string) bool {
	if want == computed {
		return true
	}
	if i := strings.LastIndexByte(computed, '-'); i > 0 && allDigits(computed[i+1:]) {
		return want == computed[:i]
	}
	return false
}

// objectChecksum computes the checksum of a completed object from its
// parts' checksums. ok is false when some part has none of alg (its client
// did not send one and the upload did not make us compute it): the object
// then gets no checksum rather than a wrong one.
func objectChecksum(alg checksum.Algorithm, typ string, parts []catalog.UploadPart) (string, bool, error) {
	sums := make([][]byte, len(parts))
	for i, p := range parts {
		v, ok := p.Checksum[string(alg)]
		if !ok {
			return "", false, nil
		}
		raw, err := checksum.Decode(alg, v)
		if err != nil {
			return "", false, fmt.Errorf("part %d: %w", p.Number, err)
		}
		sums[i] = raw
	}
	if typ == "FULL_OBJECT" {
		cps := make([]checksum.Part, len(parts))
		for i, p := range parts {
			cps[i] = checksum.Part{Sum: sums[i], Size: p.Size}
		}
		raw, err := checksum.FullObject(alg, cps)
		if err != nil {
			return "", false, err
		}
		return checksum.Encode(raw), true, nil
	}
	v, err := checksum.Composite(alg, sums)
	if err != nil {
		return "", false, err
	}
	return v, true, nil
}

// location is the object's URL as CompleteMultipartUploadResult reports it:
// path-style on the host the client used.
func location(r *http.Request, bucket, key string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/" + sigv4.EncodeURIPath(bucket+"/"+key)
}

func (s *server) abortMultipartUpload(w http.ResponseWriter, r *http.Request, rq *request) error {
	id, err := uploadIDParam(r)
	if err != nil {
		return err
	}
	if err := s.objs.AbortMultipart(r.Context(), rq.org, rq.bucket, rq.key, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// contentMD5 decodes a Content-MD5 header, if present.
func contentMD5(h http.Header) ([]byte, error) {
	vals, ok := h["Content-Md5"]
	if !ok {
		return nil, nil
	}
	// Present but empty is a digest that cannot match: S3 says InvalidDigest.
	v := vals[0]
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil || len(b) != 16 {
		return nil, &Error{Code: ErrInvalidDigest}
	}
	return b, nil
}

// The multipart XML documents.

type initiateMultipartUploadResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ InitiateMultipartUploadResult"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	UploadID string   `xml:"UploadId"`
}

// checksumXML holds the Checksum<ALG> elements several documents share.
type checksumXML struct {
	ChecksumCRC32     string `xml:"ChecksumCRC32,omitempty"`
	ChecksumCRC32C    string `xml:"ChecksumCRC32C,omitempty"`
	ChecksumCRC64NVME string `xml:"ChecksumCRC64NVME,omitempty"`
	ChecksumSHA1      string `xml:"ChecksumSHA1,omitempty"`
	ChecksumSHA256    string `xml:"ChecksumSHA256,omitempty"`
}

func (c *checksumXML) set(m map[string]string) {
	c.ChecksumCRC32 = m[string(checksum.CRC32)]
	c.ChecksumCRC32C = m[string(checksum.CRC32C)]
	c.ChecksumCRC64NVME = m[string(checksum.CRC64NVME)]
	c.ChecksumSHA1 = m[string(checksum.SHA1)]
	c.ChecksumSHA256 = m[string(checksum.SHA256)]
}

func (c checksumXML) values() map[string]string {
	m := make(map[string]string)
	for alg, v := range map[checksum.Algorithm]string{
		checksum.CRC32: c.ChecksumCRC32, checksum.CRC32C: c.ChecksumCRC32C, checksum.CRC64NVME: c.ChecksumCRC64NVME,
		checksum.SHA1: c.ChecksumSHA1, checksum.SHA256: c.ChecksumSHA256,
	} {
		if v = strings.TrimSpace(v); v != "" {
			m[string(alg)] = v
		}
	}
	return m
}

// completeMultipartUpload is the CompleteMultipartUpload body; element names
// match without regard to namespace, since clients differ in sending one.
type completeMultipartUpload struct {
	XMLName xml.Name `xml:"CompleteMultipartUpload"`
	Parts   []struct {
		PartNumber int    `xml:"PartNumber"`
		ETag       string `xml:"ETag"`
		checksumXML
	} `xml:"Part"`
}

type completeMultipartUploadResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CompleteMultipartUploadResult"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
	checksumXML
	// ChecksumType is COMPOSITE or FULL_OBJECT when a checksum is reported.
	ChecksumType string `xml:"ChecksumType,omitempty"`
}

type copyPartResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyPartResult"`
	ETag         string   `xml:"ETag"`
	LastModified string   `xml:"LastModified"`
}
