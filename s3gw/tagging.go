package s3gw

import (
	"bytes"
	"crypto/md5"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/s3gw/checksum"
)

// Object tagging as S3 defines it: a set of at most maxTags key/value
// pairs per object, stored with the manifest (docs/format.md, "Manifest
// v2"), set by x-amz-tagging on PutObject, CreateMultipartUpload and
// CopyObject (with x-amz-tagging-directive: REPLACE) or by
// PutObjectTagging, and counted in x-amz-tagging-count on GET and HEAD.
const (
	maxTags        = 10
	maxTagKeyLen   = 128 // Unicode characters, not bytes
	maxTagValueLen = 256
	// maxTaggingBody bounds a PutObjectTagging body: ten maximal tags
	// escaped as character references stay well under it.
	maxTaggingBody = 64 << 10
)

// tagChars is the character set S3 allows in tag keys and values: letters,
// numbers, spaces and _ . : / = + - @.
var tagChars = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

// checkTags applies S3's limits to a tag set. A duplicate key has been
// reported by the caller already: what S3 answers for one depends on where
// the set came from.
func checkTags(tags map[string]string) error {
	if len(tags) > maxTags {
		return s3Err(ErrBadRequest, "Object tags cannot be greater than %d", maxTags)
	}
	for k, v := range tags {
		switch {
		case k == "", !utf8.ValidString(k), !tagChars.MatchString(k), strings.HasPrefix(k, "aws:"):
			return s3Err(ErrInvalidTag, "The TagKey you have provided is invalid")
		case utf8.RuneCountInString(k) > maxTagKeyLen:
			return s3Err(ErrInvalidTag, "The TagKey you have provided is too long, max %d", maxTagKeyLen)
		case !utf8.ValidString(v), !tagChars.MatchString(v):
			return s3Err(ErrInvalidTag, "The TagValue you have provided is invalid")
		case utf8.RuneCountInString(v) > maxTagValueLen:
			return s3Err(ErrInvalidTag, "The TagValue you have provided is too long, max %d", maxTagValueLen)
		}
	}
	return nil
}

// headerTags parses x-amz-tagging: URL query syntax, "k1=v1&k2=v2". Absent
// or empty is no tags.
func headerTags(h http.Header) (map[string]string, error) {
	v := h.Get("x-amz-tagging")
	if v == "" {
		return nil, nil
	}
	q, err := url.ParseQuery(v)
	bad := err != nil
	for _, vals := range q {
		bad = bad || len(vals) > 1
	}
	if bad {
		return nil, s3Err(ErrInvalidArgument, "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
	}
	tags := make(map[string]string, len(q))
	for k, vals := range q {
		tags[k] = vals[0]
	}
	if err := checkTags(tags); err != nil {
		return nil, err
	}
	return tags, nil
}

// tagging is the body of PutObjectTagging and GetObjectTagging.
type tagging struct {
	XMLName xml.Name `xml:"Tagging"`
	XMLNS   string   `xml:"xmlns,attr,omitempty"`
	TagSet  struct {
		Tags []tagXML `xml:"Tag"`
	} `xml:"TagSet"`
}

type tagXML struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

const s3XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"

func (s *server) getObjectTagging(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := checkReadQuery(r); err != nil {
		return err
	}
	m, err := s.objs.Head(r.Context(), rq.org, rq.bucket, rq.key)
	if err != nil {
		return err
	}
	out := tagging{XMLNS: s3XMLNS}
	keys := make([]string, 0, len(m.Tags))
	for k := range m.Tags {
		keys = append(keys, k)
	}
	slices.Sort(keys) // a stable answer; S3 keeps no order either
	out.TagSet.Tags = make([]tagXML, 0, len(keys))
	for _, k := range keys {
		out.TagSet.Tags = append(out.TagSet.Tags, tagXML{Key: k, Value: m.Tags[k]})
	}
	return writeXML(w, out)
}

func (s *server) putObjectTagging(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := checkReadQuery(r); err != nil {
		return err
	}
	data, err := io.ReadAll(io.LimitReader(rq.auth.Body, maxTaggingBody+1))
	if err != nil {
		return err
	}
	if err := checkSmallBodyDigests(r.Header, data); err != nil {
		return err
	}
	var in tagging
	if err := decodeXML(data, maxTaggingBody, &in); err != nil {
		return err
	}
	if in.XMLName.Local != "Tagging" {
		return &Error{Code: ErrMalformedXML}
	}
	if len(in.TagSet.Tags) > maxTags {
		return s3Err(ErrBadRequest, "Object tags cannot be greater than %d", maxTags)
	}
	tags := make(map[string]string, len(in.TagSet.Tags))
	for _, t := range in.TagSet.Tags {
		if _, dup := tags[t.Key]; dup {
			return s3Err(ErrInvalidTag, "Cannot provide multiple Tags with the same key")
		}
		tags[t.Key] = t.Value
	}
	if err := checkTags(tags); err != nil {
		return err
	}
	if len(tags) == 0 {
		tags = nil
	}
	if err := s.setTags(r, rq, tags); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *server) deleteObjectTagging(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := checkReadQuery(r); err != nil {
		return err
	}
	if err := s.setTags(r, rq, nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkSmallBodyDigests verifies the Content-MD5 and x-amz-checksum-*
// headers SDKs send with a configuration body (they mark PutObjectTagging
// as requiring one).
func checkSmallBodyDigests(h http.Header, data []byte) error {
	want, err := contentMD5(h)
	if err != nil {
		return err
	}
	if sum := md5.Sum(data); want != nil && !bytes.Equal(want, sum[:]) {
		return &Error{Code: ErrBadDigest}
	}
	alg, value, err := checksum.FromHeaders(h)
	if err != nil {
		return err
	}
	if alg != "" && value != "" && checksum.Encode(checksum.Sum(alg, data)) != value {
		return &Error{Code: ErrBadDigest}
	}
	return nil
}

// setTags replaces the tags of the request's object. Losing the race to a
// concurrent overwrite is reported as a conflict to retry, not as a failed
// precondition the client never set.
func (s *server) setTags(r *http.Request, rq *request, tags map[string]string) error {
	_, err := s.objs.SetTags(r.Context(), rq.org, rq.bucket, rq.key, tags)
	if errors.Is(err, catalog.ErrPreconditionFailed) {
		return s3Err(ErrOperationAborted, "The object changed while its tags were being set; please retry.")
	}
	return err
}
