package metrics

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Wrap measures every request h serves: in-flight, and on completion
// ObserveRequest with the operation named by OpOf. It writes no log line:
// the gateway writes the access log itself.
//
// Once the gateway reports its own routing decision through ObserveRequest,
// construct the wrapper with WrapInFlight instead so requests are not
// counted twice.
func (m *Metrics) Wrap(h http.Handler) http.Handler { return m.wrap(h, true) }

// WrapInFlight maintains only the in-flight gauge.
func (m *Metrics) WrapInFlight(h http.Handler) http.Handler { return m.wrap(h, false) }

func (m *Metrics) wrap(h http.Handler, observe bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.RequestStarted()
		defer m.RequestDone()
		if !observe {
			h.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		op := OpOf(r)
		cw := &countingWriter{ResponseWriter: w}
		var cr *countingReader
		if r.Body != nil && r.Body != http.NoBody {
			cr = &countingReader{ReadCloser: r.Body}
			r.Body = cr
		}
		h.ServeHTTP(cw, r)
		status := cw.status
		if status == 0 {
			status = http.StatusOK
		}
		var in int64
		if cr != nil {
			in = cr.n.Load()
		}
		m.ObserveRequest(op, status, in, cw.n, time.Since(start))
	})
}

type countingReader struct {
	io.ReadCloser
	n atomic.Int64 // the gateway may read the body from worker goroutines
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (c *countingWriter) WriteHeader(code int) {
	if c.status == 0 && code >= 200 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

// Flush keeps streaming responses streaming through the wrapper.
func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// OpOf names a path-style S3 request's operation as the gateway's router
// does (s3gw.Op names), from method, path depth and query alone. It is the
// stand-in until the gateway reports its own decision; requests it cannot
// place are "Unknown".
func OpOf(r *http.Request) string {
	p := strings.TrimPrefix(r.URL.EscapedPath(), "/")
	q := r.URL.Query()
	has := func(k string) bool { _, ok := q[k]; return ok }
	copySrc := r.Header.Get("x-amz-copy-source") != ""
	switch bucket, key, _ := strings.Cut(p, "/"); {
	case bucket == "":
		if r.Method == http.MethodGet {
			return "ListBuckets"
		}
	case key == "":
		switch r.Method {
		case http.MethodPut:
			return "CreateBucket"
		case http.MethodHead:
			return "HeadBucket"
		case http.MethodDelete:
			return "DeleteBucket"
		case http.MethodPost:
			if has("delete") {
				return "DeleteObjects"
			}
		case http.MethodGet:
			switch {
			case has("location"):
				return "GetBucketLocation"
			case has("acl"):
				return "GetBucketAcl"
			case has("versioning"):
				return "GetBucketVersioning"
			case has("uploads"):
				return "ListMultipartUploads"
			case q.Get("list-type") == "2":
				return "ListObjectsV2"
			default:
				return "ListObjects"
			}
		}
	default:
		switch r.Method {
		case http.MethodPut:
			switch {
			case has("uploadId") && copySrc:
				return "UploadPartCopy"
			case has("uploadId"):
				return "UploadPart"
			case copySrc:
				return "CopyObject"
			default:
				return "PutObject"
			}
		case http.MethodGet:
			switch {
			case has("uploadId"):
				return "ListParts"
			case has("acl"):
				return "GetObjectAcl"
			default:
				return "GetObject"
			}
		case http.MethodHead:
			return "HeadObject"
		case http.MethodDelete:
			if has("uploadId") {
				return "AbortMultipartUpload"
			}
			return "DeleteObject"
		case http.MethodPost:
			if has("uploads") {
				return "CreateMultipartUpload"
			}
			if has("uploadId") {
				return "CompleteMultipartUpload"
			}
		}
	}
	return "Unknown"
}
