// Package console is the web console excd serves on its own listener
// (console_listen): a JSON API over the same object layer and catalog as the
// S3 gateway, sessions signed in with an access key, a change feed over
// server-sent events, and the browser application of package console/web.
// console/API.md is the contract between the two.
//
// Decisions:
//   - A session is worth exactly what its access key is worth over S3: every
//     request re-reads the key from the catalog (a deleted key ends its
//     sessions) and passes s3gw.Authorize with the S3 operation it amounts
//     to. An org administrator is a key with full access: not read-only and
//     not limited to buckets.
//   - Sessions live in memory: a restart signs everyone out. They hold the
//     secret (share links are presigned with it); it is never logged and
//     never sent back.
//   - Every mutating request carries X-CSRF-Token, and is refused when its
//     Origin or Sec-Fetch-Site says another site sent it; the session cookie
//     is SameSite=Strict besides.
//   - Nothing an object holds is ever served as active content in the
//     console's origin: previews are a short list of inert types under a
//     sandbox CSP; everything else is an attachment of
//     application/octet-stream.
package console

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/console/web"
	"excloud.dev/buckets/objects"
)

// Config configures the console.
type Config struct {
	Objects *objects.Layer
	Catalog *catalog.DB
	Logger  *slog.Logger // default slog.Default()
	// TLS says the listener is HTTPS: cookies are then Secure.
	TLS bool
	// S3URL returns the S3 endpoint as clients reach it,
	// "scheme://host[:port]": share links point there and key snippets
	// name it. Read per request.
	S3URL func(r *http.Request) string
	// Region is signed into share links; default "auto".
	Region string
	// PublicURL returns the base URL of an org's public buckets, "" when
	// no public domain is configured.
	PublicURL func(orgID string) string
	// Store reports the store's status (GET /api/store); nil answers
	// 501 NotImplemented.
	Store func(ctx context.Context) (StoreStatus, error)
	// IdleTimeout ends a session this long after its last request
	// (default 30 min); MaxAge this long after sign-in whatever happens
	// (default 12 h).
	IdleTimeout, MaxAge time.Duration
	// PingInterval is how often the change feed sends a keep-alive comment
	// (default 15 s).
	PingInterval time.Duration
	Now          func() time.Time // default time.Now
	// Assets overrides the browser application (default web.FS).
	Assets fs.FS
}

// StoreStatus is GET /api/store.
type StoreStatus struct {
	Version         string         `json:"version"`
	UsedBytes       int64          `json:"used_bytes"`        // what the chunk store holds (after dedup)
	FreeBytes       int64          `json:"free_bytes"`        // free on the data directory's filesystem
	LogicalBytes    int64          `json:"logical_bytes"`     // the sum of object sizes
	DedupSavedBytes int64          `json:"dedup_saved_bytes"` // logical - used, when positive
	Objects         int64          `json:"objects"`
	GC              map[string]any `json:"gc"`
	Scrub           map[string]any `json:"scrub"`
}

// Server is the console's http.Handler.
type Server struct {
	cfg      Config
	log      *slog.Logger
	sessions *sessions
	mux      *http.ServeMux
	assets   fs.FS

	closeOnce sync.Once
	closed    chan struct{} // closed by Close: change feeds end
}

// New returns the console.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Region == "" {
		cfg.Region = "auto"
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 12 * time.Hour
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 15 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.S3URL == nil {
		cfg.S3URL = func(*http.Request) string { return "" }
	}
	if cfg.PublicURL == nil {
		cfg.PublicURL = func(string) string { return "" }
	}
	s := &Server{cfg: cfg, log: cfg.Logger, assets: cfg.Assets, closed: make(chan struct{})}
	if s.assets == nil {
		s.assets = web.FS
	}
	s.sessions = newSessions(cfg.IdleTimeout, cfg.MaxAge, cfg.Now)
	s.mux = s.routes()
	return s
}

// Close ends every change feed, so an http.Server's Shutdown is not held
// up by streams that never end on their own (RegisterOnShutdown).
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	s.mux.ServeHTTP(w, r)
}

// csp is the console's own policy. No 'unsafe-inline' anywhere: the page's
// script and style come from /static only.
const csp = "default-src 'self'; img-src 'self' blob: data:; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; form-action 'self'"

func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

func (s *Server) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", s.index)
	m.HandleFunc("GET /static/{file}", s.static)

	m.Handle("POST /api/session", s.plain(s.signIn))
	m.Handle("GET /api/session", s.api(opNone, s.whoAmI))
	m.Handle("DELETE /api/session", s.api(opNone, s.signOut))

	m.Handle("GET /api/buckets", s.api(opListBuckets, s.listBuckets))
	m.Handle("POST /api/buckets", s.api(opCreateBucket, s.createBucket))
	m.Handle("DELETE /api/buckets/{b}", s.api(opDeleteBucket, s.deleteBucket))
	m.Handle("PUT /api/buckets/{b}/public", s.api(opAdmin, s.setPublic))

	m.Handle("GET /api/buckets/{b}/objects", s.api(opList, s.listObjects))
	m.Handle("GET /api/buckets/{b}/meta", s.api(opHead, s.meta))
	m.Handle("GET /api/buckets/{b}/download", s.api(opGet, s.download))
	m.Handle("PUT /api/buckets/{b}/object", s.api(opPut, s.putObject))
	m.Handle("POST /api/buckets/{b}/delete", s.api(opDelete, s.deleteObjects))
	m.Handle("POST /api/buckets/{b}/rename", s.api(opRename, s.rename))
	m.Handle("POST /api/buckets/{b}/share", s.api(opGet, s.share))

	m.Handle("GET /api/buckets/{b}/uploads", s.api(opListUploads, s.listUploads))
	m.Handle("POST /api/buckets/{b}/uploads", s.api(opCreateUpload, s.createUpload))
	m.Handle("PUT /api/buckets/{b}/uploads/{id}/{n}", s.api(opUploadPart, s.uploadPart))
	m.Handle("GET /api/buckets/{b}/uploads/{id}", s.api(opListParts, s.listParts))
	m.Handle("POST /api/buckets/{b}/uploads/{id}/complete", s.api(opComplete, s.complete))
	m.Handle("DELETE /api/buckets/{b}/uploads/{id}", s.api(opAbort, s.abort))

	m.Handle("GET /api/events", s.api(opEvents, s.events))

	m.Handle("GET /api/keys", s.api(opAdmin, s.listKeys))
	m.Handle("POST /api/keys", s.api(opAdmin, s.createKey))
	m.Handle("DELETE /api/keys/{id}", s.api(opAdmin, s.deleteKey))
	m.Handle("GET /api/store", s.api(opAdmin, s.store))

	m.Handle("/api/", s.plain(func(w http.ResponseWriter, r *http.Request) error {
		return apiErr(http.StatusNotFound, "NotFound", "No such console API endpoint.")
	}))
	return m
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	s.serveAsset(w, r, "index.html")
}

func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if name == "index.html" || strings.HasPrefix(name, ".") {
		http.NotFound(w, r)
		return
	}
	s.serveAsset(w, r, name)
}

// serveAsset serves one embedded file with a type from its extension; an
// unknown extension is refused rather than sniffed.
func (s *Server) serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	ct, ok := assetTypes[extOf(name)]
	if !ok {
		http.NotFound(w, r)
		return
	}
	b, err := fs.ReadFile(s.assets, name)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Error("console asset", "file", name, "err", err)
		}
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ct)
	// Assets change with the binary only; revalidation is cheap.
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}

var assetTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".ico":         "image/x-icon",
	".json":        "application/json",
	".woff2":       "font/woff2",
	".webmanifest": "application/manifest+json",
}

func extOf(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return strings.ToLower(name[i:])
	}
	return ""
}
