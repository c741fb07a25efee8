package s3gw

import (
	"errors"
	"io"
	"net/http"

	"excloud.dev/buckets/catalog"
)

// maxDeleteKeys is S3's limit on keys per DeleteObjects request.
const maxDeleteKeys = 1000

// maxDeleteBody bounds the DeleteObjects body: 1000 keys of up to 1024 bytes,
// XML-escaped (up to 6 bytes per byte in the worst case), plus framing.
const maxDeleteBody = 8 << 20

func isNotFound(err error) bool { return errors.Is(err, catalog.ErrNotFound) }

// parseDeleteRequest decodes and validates a DeleteObjects body.
func parseDeleteRequest(body []byte) (deleteRequest, error) {
	var req deleteRequest
	if tooManyChildren(body, "Object", maxDeleteKeys) {
		return req, s3Err(ErrMalformedXML, "A DeleteObjects request must name between 1 and %d keys.", maxDeleteKeys)
	}
	if err := decodeXML(body, maxDeleteBody, &req); err != nil {
		return req, err
	}
	if n := len(req.Objects); n == 0 || n > maxDeleteKeys {
		return req, s3Err(ErrMalformedXML, "A DeleteObjects request must name between 1 and %d keys; it named %d.", maxDeleteKeys, n)
	}
	return req, nil
}

func (s *server) deleteObjects(w http.ResponseWriter, r *http.Request, rq *request) error {
	body, err := io.ReadAll(io.LimitReader(rq.auth.Body, maxDeleteBody+1))
	if err != nil {
		return err
	}
	if len(body) > maxDeleteBody {
		return s3Err(ErrMalformedXML, "The DeleteObjects body exceeds %d bytes.", maxDeleteBody)
	}
	// S3 requires an integrity header here; we verify Content-MD5 or an
	// x-amz-checksum-* header when sent (a trailing one is verified by
	// sigv4), but do not insist on either, for older clients.
	if err := checkBodyDigests(r.Header, body, "DeleteObjects body"); err != nil {
		return err
	}
	req, err := parseDeleteRequest(body)
	if err != nil {
		return err
	}
	// A missing bucket fails the whole request, not each key.
	if _, err := s.objs.Bucket(r.Context(), rq.org, rq.bucket); err != nil {
		return err
	}
	res := deleteResult{}
	for _, o := range req.Objects {
		err := s.deleteOne(r, rq, o.Key, o.VersionID)
		if err == nil {
			if !req.Quiet {
				res.Deleted = append(res.Deleted, deletedObject{Key: o.Key})
			}
			continue
		}
		se := toS3Error(err)
		msg := se.message()
		if se.Code == ErrInternalError {
			stateFrom(r.Context()).logger.Error("s3 delete objects: key failed",
				"request_id", stateFrom(r.Context()).id, "bucket", rq.bucket, "key", o.Key, "err", err)
			msg = errorTable[ErrInternalError].Message
		}
		res.Errors = append(res.Errors, deleteError{Key: o.Key, Code: errorTable[se.Code].Code, Message: msg})
	}
	return writeXML(w, res)
}

// deleteOne deletes one key of a DeleteObjects request; an absent key counts
// as deleted, as with DeleteObject.
func (s *server) deleteOne(r *http.Request, rq *request, key, versionID string) error {
	if versionID != "" && versionID != "null" {
		return s3Err(ErrNotImplemented, "This server does not implement object versioning.")
	}
	if err := checkKey(key); err != nil {
		return err
	}
	if err := s.objs.Delete(r.Context(), rq.org, rq.bucket, key); err != nil && !isNotFound(err) {
		return err
	}
	return nil
}
