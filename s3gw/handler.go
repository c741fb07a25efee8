package s3gw

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// handlerFunc is the shape of every gateway endpoint: it writes a successful
// response itself and returns an error otherwise. Its ServeHTTP is the only
// code that writes error bodies, request ids and the access log, so no
// endpoint can forget one of them.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// reqState is what the gateway learns about a request as it is routed and
// authenticated; the access-log line is written from it.
type reqState struct {
	id       string
	logger   *slog.Logger
	op       Op
	org      string
	observer Observer
	// accessKey is the id the request was signed (or claims to be signed)
	// with, set when it is looked up.
	accessKey string
	// bucket and key, when named, replace the path's in the log (a POST
	// upload's key is in its form).
	bucket, key string
	named       bool
	trusted     []netip.Prefix // Config.TrustedProxies
	path        *parsedPath    // requestPath's cache
	query       url.Values     // requestQuery's cache
}

type stateKey struct{}

// stateFrom returns the request's state, or nil outside the gateway.
func stateFrom(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	return st
}

func (f handlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	st := stateFrom(r.Context())
	if st == nil {
		// Reached without the server's wrapper (only in tests); still log.
		st = &reqState{logger: slog.Default()}
		r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
	}
	st.id = newRequestID()
	h := w.Header()
	h.Set("x-amz-request-id", st.id)
	h.Set("x-amz-id-2", hostID(st.id))
	h.Set("Server", "excloud-buckets")
	rw := &respWriter{ResponseWriter: w}
	var body *countingBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &countingBody{ReadCloser: r.Body}
		r.Body = body
	}

	err := f.serve(rw, r)
	var code string
	if err != nil {
		if rw.status != 0 {
			// Headers are gone (a GET failed mid-stream). The short body
			// against the promised Content-Length tells the client; all we
			// can add is the log line.
			st.logger.Error("s3 response aborted", "request_id", st.id, "op", st.op.String(), "err", err)
			code = errorTable[toS3Error(err).Code].Code
		} else {
			code = writeError(rw, r, st, err)
		}
	}
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	st.logAccess(r, rw, body, start, code)
	if st.observer != nil {
		var in int64
		if body != nil {
			in = body.n
		}
		st.observer.ObserveRequest(st.op.String(), rw.status, in, rw.bytes, time.Since(start))
	}
}

// countingBody counts the request body bytes a handler read.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}

// serve runs f, turning a panic into an InternalError so one bad request
// cannot take the daemon down. http.ErrAbortHandler keeps its meaning.
func (f handlerFunc) serve(w http.ResponseWriter, r *http.Request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			err = &Error{Code: ErrInternalError, Err: panicError{p}}
		}
	}()
	return f(w, r)
}

type panicError struct{ v any }

func (p panicError) Error() string { return "panic: " + strings.TrimSpace(fmtAny(p.v)) }

// writeError renders err as an S3 error response. The header map is reset
// first, so headers a handler prepared for success (Content-Type, ETag, …)
// never leak into an error; only the request ids and the error's own extra
// headers are kept. It returns the S3 code it sent, for the access log.
func writeError(w http.ResponseWriter, r *http.Request, st *reqState, err error) string {
	se := toS3Error(err)
	info, ok := errorTable[se.Code]
	if !ok {
		info = errorTable[ErrInternalError]
		se = &Error{Code: ErrInternalError, Err: err}
	}
	msg := se.message()
	if se.Code == ErrInternalError {
		// The cause may name files, chunk ids or keys of other requests:
		// it goes to the log with the request id, the client gets the
		// generic text and the id to quote.
		st.logger.Error("s3 internal error", "request_id", st.id, "op", st.op.String(), "err", err)
		msg = info.Message
	}
	h := w.Header()
	for k := range h {
		switch http.CanonicalHeaderKey(k) {
		case "X-Amz-Request-Id", "X-Amz-Id-2", "Server":
		default:
			if !keepOnError(http.CanonicalHeaderKey(k)) {
				delete(h, k)
			}
		}
	}
	for k, v := range se.Header {
		h.Set(k, v)
	}
	// 304 and HEAD responses have no body by definition.
	if r.Method == http.MethodHead || info.Status == http.StatusNotModified {
		w.WriteHeader(info.Status)
		return info.Code
	}
	body := encodeXML(errorBody{
		Code:      info.Code,
		Message:   msg,
		Resource:  r.URL.EscapedPath(),
		RequestID: st.id,
	})
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", itoa(int64(len(body))))
	w.WriteHeader(info.Status)
	_, _ = w.Write(body)
	return info.Code
}

// respWriter records the status and body size for the access log.
type respWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
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
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (flush,
// deadlines) through the wrapper.
func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// newRequestID returns 16 uppercase hex characters, the shape S3's own
// request ids have, so log tooling built for S3 copes.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// hostID fills x-amz-id-2, which some clients insist on seeing; it carries no
// information beyond the request id.
func hostID(id string) string {
	return base64.StdEncoding.EncodeToString([]byte("excd/" + id))
}
