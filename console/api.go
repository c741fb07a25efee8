package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/s3gw"
)

// access is what an endpoint amounts to over S3, for s3gw.Authorize.
type access struct {
	op    s3gw.Op
	none  bool // any signed-in key (the session itself)
	admin bool // org administrators only
	// bucketQuery: the bucket is the "bucket" query parameter, not the
	// path (the change feed).
	bucketQuery bool
	// passive: the request does not count as activity for idle expiry.
	passive bool
}

var (
	opNone         = access{none: true}
	opAdmin        = access{admin: true}
	opListBuckets  = access{op: s3gw.OpListBuckets}
	opCreateBucket = access{op: s3gw.OpCreateBucket}
	opDeleteBucket = access{op: s3gw.OpDeleteBucket}
	opList         = access{op: s3gw.OpListObjectsV2}
	opHead         = access{op: s3gw.OpHeadObject}
	opGet          = access{op: s3gw.OpGetObject}
	opPut          = access{op: s3gw.OpPutObject}
	opDelete       = access{op: s3gw.OpDeleteObjects}
	// A rename is a copy and a delete over S3.
	opRename       = access{op: s3gw.OpCopyObject}
	opListUploads  = access{op: s3gw.OpListMultipartUploads}
	opCreateUpload = access{op: s3gw.OpCreateMultipartUpload}
	opUploadPart   = access{op: s3gw.OpUploadPart}
	opListParts    = access{op: s3gw.OpListParts}
	opComplete     = access{op: s3gw.OpCompleteMultipartUpload}
	opAbort        = access{op: s3gw.OpAbortMultipartUpload}
	opEvents       = access{op: s3gw.OpListObjectsV2, bucketQuery: true, passive: true}
)

// call is an authenticated request: its session and the key as the catalog
// has it now.
type call struct {
	sess *session
	key  catalog.AccessKey
}

func (c *call) org() string { return c.key.OrgID }

type apiFunc func(w http.ResponseWriter, r *http.Request, c *call) error

// api wraps an endpoint: session, CSRF for anything that changes state, the
// key's scope exactly as S3 applies it, then fn.
func (s *Server) api(acc access, fn apiFunc) http.Handler {
	return s.plain(func(w http.ResponseWriter, r *http.Request) error {
		sess, k, err := s.authenticate(r.Context(), r, !acc.passive)
		if err != nil {
			return err
		}
		if rw, ok := w.(*respWriter); ok {
			rw.keyID = k.ID
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
		default:
			if err := checkCSRF(r, sess); err != nil {
				s.log.Warn("console request refused: cross-site", "access_key", k.ID,
					"method", r.Method, "path", r.URL.Path, "origin", r.Header.Get("Origin"))
				return err
			}
		}
		switch {
		case acc.none:
		case acc.admin:
			if !isAdmin(k) {
				return apiErr(http.StatusForbidden, "AccessDenied", "Only an org administrator (a key with full access) may do this.")
			}
		default:
			bucket := r.PathValue("b")
			if acc.bucketQuery {
				bucket = r.URL.Query().Get("bucket")
			}
			if err := s3gw.Authorize(k, acc.op, bucket); err != nil {
				return err
			}
		}
		return fn(w, r, &call{sess: sess, key: k})
	})
}

// plain renders fn's error as the console's JSON error, and writes the
// request's line in the log, as the S3 access log does ("s3 request"): the
// path (never the query), the key that made it, the status and the error
// code.
func (s *Server) plain(fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &respWriter{ResponseWriter: w}
		err := fn(rw, r)
		code := ""
		if err != nil {
			if rw.status != 0 {
				// A download failed mid-stream: the short body tells
				// the browser; the log gets the cause.
				s.log.Error("console response aborted", "path", r.URL.Path, "err", err)
				code = "Aborted"
			} else {
				code = s.writeError(rw, r, err)
			}
		}
		s.log.Info("console request", "method", r.Method, "path", r.URL.Path, "access_key", rw.keyID,
			"status", rw.status, "code", code, "remote_addr", r.RemoteAddr, "duration", time.Since(start))
	})
}

type respWriter struct {
	http.ResponseWriter
	status int
	keyID  string // set once the session is known
}

func (w *respWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// apiError is an answer a handler decided on.
type apiError struct {
	status        int
	code, message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func apiErr(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *apiError {
	return apiErr(http.StatusBadRequest, "InvalidArgument", format, args...)
}

// writeError answers err as {"error":{"code","message"}}. Domain errors get
// the code and status S3 would give them (s3gw.ErrorInfo); anything else
// is an InternalError whose cause goes to the log only.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) string {
	ae := s.toAPIError(r, err)
	h := w.Header()
	h.Del("Content-Disposition")
	h.Del("ETag")
	h.Del("Content-Length")
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message = ae.code, ae.message
	_ = writeJSON(w, ae.status, body)
	return ae.code
}

// toAPIError maps err onto the console's codes.
func (s *Server) toAPIError(r *http.Request, err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	switch {
	case errors.Is(err, catalog.ErrRenameTooLarge):
		return apiErr(http.StatusConflict, "RenameTooLarge", "The folder holds more keys than one rename may move (%d).", catalog.DefaultRenameLimit)
	case errors.Is(err, catalog.ErrNoSuchKey):
		return apiErr(http.StatusNotFound, "NoSuchAccessKey", "There is no such access key in this org.")
	}
	code, msg, status := s3gw.ErrorInfo(err)
	if code == "InternalError" {
		s.log.Error("console internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	return &apiError{status: status, code: code, message: msg}
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}

// readJSON decodes a small JSON body; anything past limit, or not JSON, is
// InvalidArgument. The body must be declared JSON: a form another site
// posts cannot be (that would need a preflight).
func readJSON(r *http.Request, v any, limit int64) error {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	if strings.TrimSpace(strings.ToLower(ct)) != "application/json" {
		return apiErr(http.StatusUnsupportedMediaType, "UnsupportedMediaType", "The body must be JSON (Content-Type: application/json).")
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("The JSON body does not parse: %v.", err)
	}
	return nil
}
