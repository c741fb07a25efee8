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
// half way through a long response. It is not cleared when a read fails
// (a stalled client stays cut off), and it is armed again when the handler
// returns with body unread: net/http then discards up to 256 KiB of what
// remains before answering, and without a deadline a client that stopped
// sending would hold the connection and its goroutine for ever.
//
// The handler gets a shallow copy of r carrying the wrapped body: net/http
// inspects the original r.Body (its own type) after the handler to decide
// whether the remainder is too large to discard, and must still find it.
func ioDeadlines(h http.Handler, idle time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		// Errors mean the connection cannot take deadlines (only in tests
		// with recorders); serving without them is still correct.
		_ = rc.SetWriteDeadline(time.Now().Add(idle))
		var dr *deadlineReader
		if r.Body != nil && r.Body != http.NoBody {
			dr = &deadlineReader{ReadCloser: r.Body, rc: rc, idle: idle}
			r = r.WithContext(r.Context())
			r.Body = dr
		}
		h.ServeHTTP(&deadlineWriter{ResponseWriter: w, rc: rc, idle: idle}, r)
		// Covers the flush net/http does after the handler returns; when
		// the body was left unread, that flush comes after a discard that
		// may itself take idle, so the write gets idle on top.
		// (After a failed read the deadline has passed already, and the
		// discard fails at once.)
		write := idle
		if dr != nil && !dr.eof && !dr.err {
			_ = rc.SetReadDeadline(time.Now().Add(idle))
			write = 2 * idle
		}
		_ = rc.SetWriteDeadline(time.Now().Add(write))
	})
}

type deadlineReader struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
	eof  bool // read to its end; the deadline is cleared
	err  bool // a read failed; the deadline stays as it was
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if d.eof || d.err {
		return d.ReadCloser.Read(p)
	}
	_ = d.rc.SetReadDeadline(time.Now().Add(d.idle))
	n, err := d.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		d.eof = true
		_ = d.rc.SetReadDeadline(time.Time{})
	case err != nil:
		d.err = true
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
