package s3gw

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/objects"
	"excloud.dev/buckets/s3gw/sigv4"
)

// renderError writes err as the adapter would, with a fixed request id.
func renderError(t *testing.T, method, target string, err error) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(method, target, nil)
	st := &reqState{id: "4442587FB7D0A2F9", logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	writeError(w, r, st, err)
	return w
}

func TestErrorTableComplete(t *testing.T) {
	for code := ErrInternalError; code <= ErrEntityTooSmall; code++ {
		info, ok := errorTable[code]
		if !ok || info.Code == "" || info.Message == "" || info.Status < 300 {
			t.Errorf("error code %d: row %+v", code, info)
		}
	}
}

func TestClassify(t *testing.T) {
	wrap := func(e error) error { return fmt.Errorf("op x/y: %w", e) }
	tests := []struct {
		err    error
		code   string
		status int
	}{
		{wrap(sigv4.ErrMissingAuth), "AccessDenied", 403},
		{wrap(sigv4.ErrExpired), "AccessDenied", 403},
		{wrap(sigv4.ErrInvalidAccessKeyID), "InvalidAccessKeyId", 403},
		{wrap(sigv4.ErrSignatureMismatch), "SignatureDoesNotMatch", 403},
		{wrap(sigv4.ErrChunkSignature), "SignatureDoesNotMatch", 403},
		{wrap(sigv4.ErrTimeSkewed), "RequestTimeTooSkewed", 403},
		{wrap(sigv4.ErrMalformedAuth), "AuthorizationHeaderMalformed", 400},
		{wrap(sigv4.ErrExpiresTooLarge), "AuthorizationQueryParametersError", 403},
		{wrap(sigv4.ErrMalformedQuery), "AuthorizationQueryParametersError", 400},
		{wrap(sigv4.ErrContentSHA256), "XAmzContentSHA256Mismatch", 400},
		{wrap(sigv4.ErrInvalidContentSHA256), "InvalidArgument", 400},
		{wrap(sigv4.ErrBadTrailer), "BadDigest", 400},
		{wrap(sigv4.ErrDecodedLength), "IncompleteBody", 400},
		{wrap(objects.ErrBadDigest), "BadDigest", 400},
		{wrap(objects.ErrIncompleteBody), "IncompleteBody", 400},
		{wrap(objects.ErrInvalidRange), "InvalidRange", 416},
		{wrap(objects.ErrInvalidPart), "InvalidPart", 400},
		{wrap(objects.ErrInvalidPartOrder), "InvalidPartOrder", 400},
		{wrap(objects.ErrEntityTooSmall), "EntityTooSmall", 400},
		{wrap(objects.ErrInvalidPartNumber), "InvalidArgument", 400},
		{wrap(objects.ErrMetadataTooLarge), "MetadataTooLarge", 400},
		{wrap(fmt.Errorf("upload for another key: %w", catalog.ErrNoSuchUpload)), "NoSuchUpload", 404},
		{wrap(catalog.ErrNoSuchBucket), "NoSuchBucket", 404},
		{wrap(catalog.ErrNotFound), "NoSuchKey", 404},
		{wrap(catalog.ErrBucketExists), "BucketAlreadyOwnedByYou", 409},
		{wrap(catalog.ErrBucketNotEmpty), "BucketNotEmpty", 409},
		{wrap(catalog.ErrPreconditionFailed), "PreconditionFailed", 412},
		{wrap(catalog.ErrBusy), "SlowDown", 503},
		{wrap(catalog.ErrNoSuchUpload), "NoSuchUpload", 404},
		{wrap(catalog.ErrNoSuchKey), "InvalidAccessKeyId", 403},
		{wrap(&writeErr{syscall.ENOSPC}), "InsufficientStorage", 507},
		{wrap(io.ErrUnexpectedEOF), "IncompleteBody", 400},
		{wrap(context.Canceled), "RequestTimeout", 400},
		{wrap(&http.MaxBytesError{Limit: 1}), "EntityTooLarge", 400},
		{errors.New("disk on fire"), "InternalError", 500},
		{s3Err(ErrNotImplemented, "x"), "NotImplemented", 501},
		{wrap(&Error{Code: ErrKeyTooLong}), "KeyTooLongError", 400},
	}
	for _, tt := range tests {
		e := toS3Error(tt.err)
		info := errorTable[e.Code]
		if info.Code != tt.code || info.Status != tt.status {
			t.Errorf("%v: %s %d, want %s %d", tt.err, info.Code, info.Status, tt.code, tt.status)
		}
	}
}

// writeErr stands in for an *os.PathError-style wrapper around an errno.
type writeErr struct{ err error }

func (e *writeErr) Error() string { return "write chunk: " + e.err.Error() }
func (e *writeErr) Unwrap() error { return e.err }

func TestErrorRendering(t *testing.T) {
	// Internal errors never leak their cause.
	w := renderError(t, "GET", "/b/k", errors.New("open /var/lib/excd/chunks/ab/cd: permission denied"))
	if w.Code != 500 || strings.Contains(w.Body.String(), "/var/lib") || !strings.Contains(w.Body.String(), "<Code>InternalError</Code>") {
		t.Errorf("internal error rendered as %d %s", w.Code, w.Body)
	}
	// HEAD errors have no body.
	w = renderError(t, "HEAD", "/b/k", catalog.ErrNotFound)
	if w.Code != 404 || w.Body.Len() != 0 {
		t.Errorf("HEAD 404 rendered as %d %q", w.Code, w.Body)
	}
	// 304 has no body but keeps its validators.
	w = renderError(t, "GET", "/b/k", &Error{Code: ErrNotModified, Header: map[string]string{"ETag": `"x"`}})
	if w.Code != 304 || w.Body.Len() != 0 || w.Header().Get("ETag") != `"x"` {
		t.Errorf("304 rendered as %d %q %v", w.Code, w.Body, w.Header())
	}
	// 416 carries Content-Range.
	w = renderError(t, "GET", "/b/k", &Error{Code: ErrInvalidRange, Header: map[string]string{"Content-Range": "bytes */10"}})
	if w.Code != 416 || w.Header().Get("Content-Range") != "bytes */10" {
		t.Errorf("416 rendered as %d %v", w.Code, w.Header())
	}
}

// The adapter sets request ids on every response, renders returned errors
// and strips headers a handler had prepared for success.
func TestHandlerAdapter(t *testing.T) {
	h := handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("ETag", `"abc"`)
		return catalog.ErrNoSuchBucket
	})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, quietRequest("GET", "/nope"))
	if w.Code != 404 || w.Header().Get("x-amz-request-id") == "" || w.Header().Get("x-amz-id-2") == "" || w.Header().Get("ETag") != "" {
		t.Errorf("got %d %v", w.Code, w.Header())
	}
	if !strings.Contains(w.Body.String(), "<Code>NoSuchBucket</Code>") || !strings.Contains(w.Body.String(), w.Header().Get("x-amz-request-id")) {
		t.Errorf("body %s", w.Body)
	}

	panicky := handlerFunc(func(w http.ResponseWriter, r *http.Request) error { panic("boom") })
	w = httptest.NewRecorder()
	panicky.ServeHTTP(w, quietRequest("PUT", "/b/k"))
	if w.Code != 500 || strings.Contains(w.Body.String(), "boom") {
		t.Errorf("panic rendered as %d %s", w.Code, w.Body)
	}
}

// quietRequest carries the state the server would attach, logging nowhere.
func quietRequest(method, target string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	st := &reqState{logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
}
