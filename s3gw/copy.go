package s3gw

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/objects"
)

// parseCopySource reads x-amz-copy-source: "bucket/key" or "/bucket/key",
// percent-encoded, optionally with "?versionId=…". It is path-decoded, so
// '+' stays a literal plus, as in request paths.
func parseCopySource(v string) (bucket, key string, err error) {
	src, query, _ := strings.Cut(v, "?")
	if query != "" {
		q, perr := url.ParseQuery(query)
		if perr != nil {
			return "", "", s3Err(ErrInvalidArgument, "Invalid copy source.")
		}
		if vid := q.Get("versionId"); vid != "" && vid != "null" {
			return "", "", s3Err(ErrNotImplemented, "This server does not implement object versioning.")
		}
	}
	dec, err := url.PathUnescape(strings.TrimPrefix(src, "/"))
	if err != nil {
		return "", "", s3Err(ErrInvalidArgument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey.")
	}
	bucket, key, ok := strings.Cut(dec, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", s3Err(ErrInvalidArgument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey.")
	}
	return bucket, key, nil
}

// copyConditions evaluates x-amz-copy-source-if-* against the source. They
// follow the same precedence as GET, but every failure is 412: a copy has
// nothing to answer "not modified" with.
func copyConditions(h http.Header, now time.Time) func(src *catalog.Manifest) error {
	c := conditions{
		IfMatch:           h.Get("x-amz-copy-source-if-match"),
		IfNoneMatch:       h.Get("x-amz-copy-source-if-none-match"),
		IfModifiedSince:   ignoreFutureDate(h.Get("x-amz-copy-source-if-modified-since"), now),
		IfUnmodifiedSince: h.Get("x-amz-copy-source-if-unmodified-since"),
	}
	if c == (conditions{}) {
		return nil
	}
	return func(src *catalog.Manifest) error {
		if c.evaluate(src.ETag, src.ModTime) != condPass {
			return &Error{Code: ErrPreconditionFailed}
		}
		return nil
	}
}

func (s *server) copyObject(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := checkKey(rq.key); err != nil {
		return err
	}
	if err := checkUnsupportedWriteHeaders(r.Header); err != nil {
		return err
	}
	srcBucket, srcKey, err := parseCopySource(r.Header.Get("x-amz-copy-source"))
	if err != nil {
		return err
	}
	if !bucketAllowed(rq.access, srcBucket) {
		return s3Err(ErrAccessDenied, "This access key is not allowed to access bucket %q.", srcBucket)
	}
	var replace bool
	switch d := r.Header.Get("x-amz-metadata-directive"); d {
	case "", "COPY":
	case "REPLACE":
		replace = true
	default:
		return s3Err(ErrInvalidArgument, "Unknown metadata directive %q; use COPY or REPLACE.", d)
	}
	if srcBucket == rq.bucket && srcKey == rq.key && !replace {
		return s3Err(ErrInvalidRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	opts := objects.CopyOptions{ReplaceMeta: replace, Check: copyConditions(r.Header, s.now())}
	switch d := r.Header.Get("x-amz-tagging-directive"); d {
	case "", "COPY":
	case "REPLACE":
		opts.ReplaceTags = true
	default:
		return s3Err(ErrInvalidArgument, "Unknown tagging directive %q; use COPY or REPLACE.", d)
	}
	if replace {
		if opts.Meta, err = headerMeta(r.Header); err != nil {
			return err
		}
	}
	if opts.ReplaceTags {
		// The copy's tags come from x-amz-tagging, whatever the metadata
		// directive; without the header it has none.
		if opts.Meta.Tags, err = headerTags(r.Header); err != nil {
			return err
		}
	}
	if opts.Cond, err = writeCondition(r.Header); err != nil {
		return err
	}
	m, err := s.objs.Copy(r.Context(), rq.org, srcBucket, srcKey, rq.bucket, rq.key, opts)
	if err != nil {
		return err
	}
	w.Header().Set("x-amz-server-side-encryption", "AES256")
	return writeXML(w, copyObjectResult{ETag: m.ETag, LastModified: xmlTime(m.ModTime)})
}
