package admin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Ops are the maintenance operations only the daemon can run: they need the
// object layer and the chunk store, which the admin server does not see.
// A nil func answers "not_supported".
type Ops struct {
	GC     func(ctx context.Context) (GCReport, error)
	Scrub  func(ctx context.Context) (ScrubReport, error)
	Backup func(ctx context.Context, w io.Writer) error
}

// GCReport is the response of POST /v1/gc.
type GCReport struct {
	Scanned         int     `json:"scanned"`
	Deleted         int     `json:"deleted"`
	BytesFreed      int64   `json:"bytes_freed"`
	Deferred        int     `json:"deferred"` // unreferenced but held by an open reader or write session
	DurationSeconds float64 `json:"duration_seconds"`
}

// ScrubReport is the response of POST /v1/scrub. Damaged is true when any of
// the lists is non-empty.
type ScrubReport struct {
	Damaged         bool           `json:"damaged"`
	Chunks          int            `json:"chunks"`
	ChunkBytes      int64          `json:"chunk_bytes"`
	Objects         int            `json:"objects"`
	Parts           int            `json:"parts"`
	Referenced      int            `json:"referenced_chunks"`
	Bodies          int            `json:"bodies"`     // object bodies kept in the catalog, read and checked
	BodyBytes       int64          `json:"body_bytes"` // their bytes
	Corrupt         []ChunkProblem `json:"corrupt"`
	Missing         []ChunkProblem `json:"missing"`
	Mismatched      []RefMismatch  `json:"mismatched_ref_counts"`
	DurationSeconds float64        `json:"duration_seconds"`
}

// ChunkProblem is a corrupt or missing chunk.
type ChunkProblem struct {
	Chunk string `json:"chunk"`
	Error string `json:"error,omitempty"`
	Ref   string `json:"referenced_by,omitempty"`
}

// RefMismatch is a stored reference count that differs from the recount.
type RefMismatch struct {
	Chunk   string `json:"chunk"`
	Stored  int64  `json:"stored"`
	Counted int64  `json:"counted"`
}

// backupTrailer is the HTTP trailer in which GET /v1/backup reports how the
// stream ended: "ok", or the error. The status line went out before the
// first byte, so only a trailer can tell a complete backup from one the
// daemon had to abandon.
const backupTrailer = "Exc-Backup-Result"

// CodeNotSupported: the daemon does not offer this operation.
const CodeNotSupported = "not_supported"

// notSupported is built here rather than with apiError so codes.go's
// table stays the admin author's.
func notSupported(msg string) *Error {
	return &Error{Code: CodeNotSupported, Message: msg, Status: http.StatusNotImplemented}
}

// opsRoutes are the maintenance routes, added to NewServer's table.
func (s *Server) opsRoutes() []struct {
	pattern string
	h       http.Handler
} {
	return []struct {
		pattern string
		h       http.Handler
	}{
		{"POST /v1/gc", s.adapt(s.gc)},
		{"POST /v1/scrub", s.adapt(s.scrub)},
		{"GET /v1/backup", http.HandlerFunc(s.backup)},
	}
}

func (s *Server) gc(r *http.Request) (int, any, error) {
	if s.cfg.Ops.GC == nil {
		return 0, nil, notSupported("this daemon does not run garbage collection")
	}
	start := time.Now()
	rep, err := s.cfg.Ops.GC(r.Context())
	if err != nil {
		return 0, nil, fmt.Errorf("gc: %w", err)
	}
	rep.DurationSeconds = time.Since(start).Seconds()
	s.log.Info("gc run by admin", "scanned", rep.Scanned, "deleted", rep.Deleted, "bytes_freed", rep.BytesFreed)
	return http.StatusOK, rep, nil
}

func (s *Server) scrub(r *http.Request) (int, any, error) {
	if s.cfg.Ops.Scrub == nil {
		return 0, nil, notSupported("this daemon does not scrub")
	}
	start := time.Now()
	rep, err := s.cfg.Ops.Scrub(r.Context())
	if err != nil {
		return 0, nil, fmt.Errorf("scrub: %w", err)
	}
	rep.DurationSeconds = time.Since(start).Seconds()
	rep.Damaged = len(rep.Corrupt)+len(rep.Missing)+len(rep.Mismatched) > 0
	lvl := s.log.Info
	if rep.Damaged {
		lvl = s.log.Error
	}
	lvl("scrub run by admin", "chunks", rep.Chunks, "corrupt", len(rep.Corrupt), "missing", len(rep.Missing), "mismatched", len(rep.Mismatched))
	return http.StatusOK, rep, nil
}

// backup streams the catalog backup as the response body. It does not go
// through adapt: a stream has no JSON body, and an error after the first
// byte can only be reported in the trailer.
func (s *Server) backup(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ops.Backup == nil {
		s.adapt(func(*http.Request) (int, any, error) {
			return 0, nil, notSupported("this daemon does not back up its catalog")
		}).ServeHTTP(w, r)
		return
	}
	start := time.Now()
	w.Header().Set("Trailer", backupTrailer)
	w.Header().Set("Content-Type", "application/octet-stream")
	cw := &countWriter{w: w}
	err := s.cfg.Ops.Backup(r.Context(), cw)
	if err != nil {
		s.log.Error("catalog backup failed", "err", err, "bytes", cw.n)
		w.Header().Set(backupTrailer, "error: "+err.Error())
		return
	}
	w.Header().Set(backupTrailer, "ok")
	s.log.Info("catalog backup streamed", "bytes", cw.n, "duration", time.Since(start).Round(time.Millisecond))
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Close closes the listener and every connection at once, for a shutdown
// whose grace period ran out (a backup still streaming, say); the request
// contexts are cancelled.
func (s *Server) Close() error { return s.hs.Close() }
