package daemon

import (
	"io"
	"net/http"
	"time"
)

// ioDeadlines cuts off a client that stops sending a request body or stops
// reading a response for longer than idle, however long the transfer as a
// whole takes. Each read of the body and each write of the response pushes
// the connection's deadline idle into the future.
//
// The read deadline is cleared once the body is read to its end: net/http
// then reads the connection in the background to notice a client going
// away, and a deadline expiring there would cancel the request's context
// half way through a long response.
func ioDeadlines(h http.Handler, idle time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		// Errors mean the connection cannot take deadlines (only in tests
		// with recorders); serving without them is still correct.
		_ = rc.SetWriteDeadline(time.Now().Add(idle))
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &deadlineReader{ReadCloser: r.Body, rc: rc, idle: idle}
		}
		h.ServeHTTP(&deadlineWriter{ResponseWriter: w, rc: rc, idle: idle}, r)
		// Covers the flush net/http does after the handler returns.
		_ = rc.SetWriteDeadline(time.Now().Add(idle))
	})
}

type deadlineReader struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
	done bool
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if d.done {
		return d.ReadCloser.Read(p)
	}
	_ = d.rc.SetReadDeadline(time.Now().Add(d.idle))
	n, err := d.ReadCloser.Read(p)
	if err != nil {
		d.done = true
		_ = d.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

type deadlineWriter struct {
	http.ResponseWriter
	rc   *http.ResponseController
	idle time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.idle))
	return d.ResponseWriter.Write(p)
}

func (d *deadlineWriter) Flush() {
	if f, ok := d.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (d *deadlineWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }
