package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"excloud.dev/buckets/catalog"
)

// Catalog is the part of *catalog.DB the admin API uses.
type Catalog interface {
	CreateOrg(ctx context.Context, name string) (catalog.Org, error)
	Org(ctx context.Context, idOrName string) (catalog.Org, error)
	ListOrgs(ctx context.Context) ([]catalog.Org, error)
	DefaultOrg(ctx context.Context) (catalog.Org, error)
	DeleteOrg(ctx context.Context, id string) error

	CreateAccessKey(ctx context.Context, k catalog.AccessKey) (catalog.AccessKey, error)
	AccessKey(ctx context.Context, id string) (catalog.AccessKey, error)
	ListAccessKeys(ctx context.Context, orgID string) ([]catalog.AccessKey, error)
	DeleteAccessKey(ctx context.Context, id string) error

	CreateBucket(ctx context.Context, orgID, name string) (catalog.Bucket, error)
	Bucket(ctx context.Context, orgID, name string) (catalog.Bucket, error)
	ListBuckets(ctx context.Context, orgID string) ([]catalog.Bucket, error)
	DeleteBucket(ctx context.Context, orgID, name string) error
	SetBucketPublic(ctx context.Context, orgID, name string, public bool) error

	Stats(ctx context.Context) (catalog.Stats, error)
}

// Config configures a Server.
type Config struct {
	Catalog Catalog
	// Status reports what only the daemon knows: Version, Commit,
	// UptimeSeconds and BytesAfterDedup. The server fills in the catalog
	// counts. Nil leaves those fields zero.
	Status func(ctx context.Context) (Status, error)
	// Logger receives one line per request and the detail of internal
	// errors; nil means slog.Default(). Request bodies are never logged:
	// they may hold nothing secret today, but responses do.
	Logger *slog.Logger
	// Ops are the maintenance operations (gc, scrub, backup); see ops.go.
	Ops Ops
	// PublicURL returns the base URL of org's public host
	// ("http://<org-id>.<public_domain>:9000"), or "" when the daemon has
	// no public domain; nil is the same as "". Without one, making a bucket
	// public is refused (CodeNoPublicDomain): see setPublic.
	PublicURL func(orgID string) string
}

// maxBody bounds request bodies; the largest legitimate one is a key scope
// listing some buckets.
const maxBody = 1 << 20

// Server serves the admin API. It is an http.Handler; Serve and Shutdown
// run it on a listener from Listen.
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
	hs  *http.Server
}

// NewServer returns a server over cfg.Catalog.
func NewServer(cfg Config) *Server {
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "admin")
	routes := []struct {
		pattern string
		h       handler
	}{
		{"GET /v1/status", s.status},

		{"GET /v1/orgs", s.listOrgs},
		{"POST /v1/orgs", s.createOrg},
		{"GET /v1/orgs/{org}", s.getOrg},
		{"DELETE /v1/orgs/{org}", s.deleteOrg},

		{"GET /v1/orgs/{org}/buckets", s.listBuckets},
		{"POST /v1/orgs/{org}/buckets", s.createBucket},
		{"GET /v1/orgs/{org}/buckets/{name}", s.getBucket},
		{"DELETE /v1/orgs/{org}/buckets/{name}", s.deleteBucket},
		{"PUT /v1/orgs/{org}/buckets/{name}/public", s.setPublic},

		{"GET /v1/orgs/{org}/keys", s.listKeys},
		{"POST /v1/orgs/{org}/keys", s.createKey},
		{"GET /v1/orgs/{org}/keys/{id}", s.getKey},
		{"DELETE /v1/orgs/{org}/keys/{id}", s.deleteKey},
		// Key ids are unique across orgs, so a key can also be addressed
		// without its org (exc keys delete ID needs no --org).
		{"GET /v1/keys/{id}", s.getKey},
		{"DELETE /v1/keys/{id}", s.deleteKey},

		{"/", s.unknownRoute},
	}
	for _, rt := range routes {
		s.mux.Handle(rt.pattern, s.adapt(rt.h))
	}
	for _, rt := range s.opsRoutes() {
		s.mux.Handle(rt.pattern, rt.h)
	}
	s.hs = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Serve answers connections from ln (normally from Listen) until Shutdown;
// it then returns nil. Any other return is a listener failure.
func (s *Server) Serve(ln net.Listener) error {
	err := s.hs.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("admin: serve: %w", err)
}

// Shutdown stops accepting, closes the listener (removing the socket) and
// waits for requests in flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.hs.Shutdown(ctx) }

// A handler returns the status and body of a successful response, or an
// error; adapt writes either. Only adapt writes responses and logs.
type handler func(r *http.Request) (status int, body any, err error)

func (s *Server) adapt(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		status, body, err := h(r)
		if err != nil {
			e, internal := toAPIError(err)
			if internal {
				s.log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			var eb errorBody
			eb.Error.Code, eb.Error.Message = e.Code, e.Message
			status, body = e.Status, eb
		}
		s.log.Info("admin request", "method", r.Method, "path", r.URL.Path, "status", status,
			"duration", time.Since(start).Round(time.Microsecond))
		if body == nil {
			w.WriteHeader(status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(body) // the client has gone if this fails; nothing to do
	})
}

// decode reads a JSON request body into v. Unknown fields are refused: a
// misspelt scope field silently ignored would make a broader key than asked.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return apiError(CodeInvalidRequest, "request body: %v", err)
	}
	if dec.More() {
		return apiError(CodeInvalidRequest, "request body: more than one JSON value")
	}
	return nil
}

func (s *Server) unknownRoute(r *http.Request) (int, any, error) {
	return 0, nil, apiError(CodeUnknownRoute, "no route %s %s in admin API v1", r.Method, r.URL.Path)
}

func (s *Server) status(r *http.Request) (int, any, error) {
	ctx := r.Context()
	var st Status
	if s.cfg.Status != nil {
		d, err := s.cfg.Status(ctx)
		if err != nil {
			return 0, nil, fmt.Errorf("daemon status: %w", err)
		}
		// Only the daemon's own fields; the counts below are the catalog's.
		st = Status{Version: d.Version, Commit: d.Commit, UptimeSeconds: d.UptimeSeconds, BytesAfterDedup: d.BytesAfterDedup}
	}
	cs, err := s.cfg.Catalog.Stats(ctx)
	if err != nil {
		return 0, nil, err
	}
	st.Orgs, st.Chunks = len(cs.Orgs), cs.Chunks
	st.Usage = make([]OrgUsage, 0, len(cs.Orgs))
	for id, o := range cs.Orgs {
		st.Buckets += o.Buckets
		st.Objects += o.Objects
		st.BytesStored += o.Bytes
		st.Uploads += o.Uploads
		st.Usage = append(st.Usage, OrgUsage{OrgID: id, Name: o.Name, Buckets: o.Buckets,
			Objects: o.Objects, BytesStored: o.Bytes, Uploads: o.Uploads})
	}
	slices.SortFunc(st.Usage, func(a, b OrgUsage) int { return strings.Compare(a.Name, b.Name) })
	return http.StatusOK, st, nil
}

// Orgs.

func (s *Server) org(r *http.Request) (catalog.Org, error) {
	return s.cfg.Catalog.Org(r.Context(), r.PathValue("org"))
}

func (s *Server) listOrgs(r *http.Request) (int, any, error) {
	orgs, err := s.cfg.Catalog.ListOrgs(r.Context())
	if err != nil {
		return 0, nil, err
	}
	def, err := s.defaultOrgID(r.Context())
	if err != nil {
		return 0, nil, err
	}
	out := OrgList{Orgs: make([]Org, 0, len(orgs))}
	for _, o := range orgs {
		out.Orgs = append(out.Orgs, wireOrg(o, def))
	}
	return http.StatusOK, out, nil
}

func (s *Server) createOrg(r *http.Request) (int, any, error) {
	var req CreateOrgRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if err := ValidOrgName(req.Name); err != nil {
		return 0, nil, apiError(CodeInvalidOrgName, "%v", err)
	}
	o, err := s.cfg.Catalog.CreateOrg(r.Context(), req.Name)
	if err != nil {
		return 0, nil, err
	}
	s.log.Info("org created", "org_id", o.ID, "name", o.Name)
	def, err := s.defaultOrgID(r.Context())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, wireOrg(o, def), nil
}

func (s *Server) getOrg(r *http.Request) (int, any, error) {
	o, err := s.org(r)
	if err != nil {
		return 0, nil, err
	}
	def, err := s.defaultOrgID(r.Context())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, wireOrg(o, def), nil
}

func (s *Server) deleteOrg(r *http.Request) (int, any, error) {
	o, err := s.org(r)
	if err != nil {
		return 0, nil, err
	}
	if err := s.cfg.Catalog.DeleteOrg(r.Context(), o.ID); err != nil {
		return 0, nil, err
	}
	s.log.Info("org deleted", "org_id", o.ID, "name", o.Name)
	return http.StatusNoContent, nil, nil
}

// Buckets.

func (s *Server) listBuckets(r *http.Request) (int, any, error) {
	o, err := s.org(r)
	if err != nil {
		return 0, nil, err
	}
	bs, err := s.cfg.Catalog.ListBuckets(r.Context(), o.ID)
	if err != nil {
		return 0, nil, err
	}
	out := BucketList{Buckets: make([]Bucket, 0, len(bs))}
	for _, b := range bs {
		out.Buckets = append(out.Buckets, s.wireBucket(b))
	}
	return http.StatusOK, out, nil
}

func (s *Server) createBucket(r *http.Request) (int, any, error) {
	o, err := s.org(r)
	if err != nil {
		return 0, nil, err
	}
	var req CreateBucketRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if err := ValidBucketName(req.Name); err != nil {
		return 0, nil, apiError(CodeInvalidBucketName, "%v", err)
	}
	b, err := s.cfg.Catalog.CreateBucket(r.Context(), o.ID, req.Name)
	if err != nil {
		return 0, nil, err
	}
	s.log.Info("bucket created", "org_id", o.ID, "bucket", b.Name, "via", "admin")
	return http.StatusCreated, s.wireBucket(b), nil
}

func (s *Server) getBucket(r *http.Request) (int, any, error) {
	o, err := s.org(r)
	if err != nil {
		return 0, nil, err
	}
	b, err := s.cfg.Catalog.Bucket(r.Context(), o.ID, r.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.wireBucket(b), nil
}

func (s *Server) deleteBucket(r *http.Request) (int, any, error) {
	o, err := s.org(r)
	if err != nil {
		return 0, nil, err
	}
	name := r.PathValue("name")
	if err := s.cfg.Catalog.DeleteBucket(r.Context(), o.ID, name); err != nil {
		return 0, nil, err
	}
	s.log.Info("bucket deleted", "org_id", o.ID, "bucket", name, "via", "admin")
	return http.StatusNoContent, nil, nil
}

// setPublic refuses to make a bucket public while the daemon has no public
// domain, rather than setting the flag and warning. The flag alone serves
// nothing, so "PUBLIC yes" would be a success that did not happen, and a
// warning is lost in scripts. Worse, the flag would lie dormant: the day
// someone sets public_domain for another bucket, every bucket flagged long
// ago would go public at once, unseen. Refusing costs nothing, because
// setting the domain makes nothing public by itself: set it, restart, then
// set-public, and the answer carries the URL that now serves the bucket.
// Making a bucket private is never refused.
func (s *Server) setPublic(r *http.Request) (int, any, error) {
	o, err := s.org(r)
	if err != nil {
		return 0, nil, err
	}
	var req SetPublicRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	ctx, name := r.Context(), r.PathValue("name")
	if req.IsPublic && s.publicBase(o.ID) == "" {
		// The bucket must exist all the same: a typo is no_such_bucket,
		// whatever the configuration.
		if _, err := s.cfg.Catalog.Bucket(ctx, o.ID, name); err != nil {
			return 0, nil, err
		}
		return 0, nil, apiError(CodeNoPublicDomain,
			"bucket %s not made public: excd has no public domain, so nothing would serve it; "+
				"set public_domain (excd --public-domain, EXC_PUBLIC_DOMAIN), restart excd, and run this again (see docs/public-buckets.md)", name)
	}
	if err := s.cfg.Catalog.SetBucketPublic(ctx, o.ID, name, req.IsPublic); err != nil {
		return 0, nil, err
	}
	// Logged at warn when opening up: anonymous read of a whole bucket is
	// the one admin change an operator most wants to find later.
	lvl := slog.LevelInfo
	if req.IsPublic {
		lvl = slog.LevelWarn
	}
	s.log.Log(ctx, lvl, "bucket visibility changed", "org_id", o.ID, "bucket", name, "is_public", req.IsPublic)
	b, err := s.cfg.Catalog.Bucket(ctx, o.ID, name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.wireBucket(b), nil
}

// publicBase is Config.PublicURL's answer for org, "" when there is none.
func (s *Server) publicBase(orgID string) string {
	if s.cfg.PublicURL == nil {
		return ""
	}
	return s.cfg.PublicURL(orgID)
}

// Access keys.

func (s *Server) listKeys(r *http.Request) (int, any, error) {
	o, err := s.org(r)
	if err != nil {
		return 0, nil, err
	}
	ks, err := s.cfg.Catalog.ListAccessKeys(r.Context(), o.ID)
	if err != nil {
		return 0, nil, err
	}
	out := KeyList{Keys: make([]AccessKey, 0, len(ks))}
	for _, k := range ks {
		out.Keys = append(out.Keys, wireKey(k))
	}
	return http.StatusOK, out, nil
}

// createKey makes a key with a generated id and secret. Scope buckets must
// exist in the org: a typo would otherwise yield a key that can touch
// nothing, found out only when a client fails.
func (s *Server) createKey(r *http.Request) (int, any, error) {
	o, err := s.org(r)
	if err != nil {
		return 0, nil, err
	}
	var req CreateKeyRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	var scope []string
	for _, name := range req.Buckets {
		if slices.Contains(scope, name) {
			continue
		}
		if err := ValidBucketName(name); err != nil {
			return 0, nil, apiError(CodeInvalidBucketName, "%v", err)
		}
		if _, err := s.cfg.Catalog.Bucket(ctx, o.ID, name); err != nil {
			return 0, nil, err
		}
		scope = append(scope, name)
	}
	k, err := s.cfg.Catalog.CreateAccessKey(ctx, catalog.AccessKey{OrgID: o.ID, ReadOnly: req.ReadOnly, Buckets: scope})
	if err != nil {
		return 0, nil, err
	}
	s.log.Info("access key created", "org_id", o.ID, "access_key_id", k.ID, "read_only", k.ReadOnly, "buckets", k.Buckets)
	return http.StatusCreated, NewAccessKey{AccessKey: wireKey(k), Secret: k.Secret}, nil
}

// key looks up the key named in the path; under /v1/orgs/{org}/ it must
// belong to that org, and a key of another org is reported missing, like
// every cross-org lookup.
func (s *Server) key(r *http.Request) (catalog.AccessKey, error) {
	ctx, id := r.Context(), r.PathValue("id")
	var orgID string
	if r.PathValue("org") != "" {
		o, err := s.org(r)
		if err != nil {
			return catalog.AccessKey{}, err
		}
		orgID = o.ID
	}
	k, err := s.cfg.Catalog.AccessKey(ctx, id)
	if err != nil {
		return catalog.AccessKey{}, err
	}
	if orgID != "" && k.OrgID != orgID {
		return catalog.AccessKey{}, apiError(CodeNoSuchKey, "access key %s: not in org %s", id, orgID)
	}
	return k, nil
}

func (s *Server) getKey(r *http.Request) (int, any, error) {
	k, err := s.key(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, wireKey(k), nil
}

func (s *Server) deleteKey(r *http.Request) (int, any, error) {
	k, err := s.key(r)
	if err != nil {
		return 0, nil, err
	}
	if err := s.cfg.Catalog.DeleteAccessKey(r.Context(), k.ID); err != nil {
		return 0, nil, err
	}
	s.log.Info("access key deleted", "org_id", k.OrgID, "access_key_id", k.ID)
	return http.StatusNoContent, nil, nil
}

// Conversions from catalog types. wireKey drops the secret by construction.

func wireOrg(o catalog.Org, defaultID string) Org {
	return Org{ID: o.ID, Name: o.Name, Created: o.Created, Default: o.ID == defaultID}
}

// defaultOrgID is the default org's id, "" when there is none.
func (s *Server) defaultOrgID(ctx context.Context) (string, error) {
	o, err := s.cfg.Catalog.DefaultOrg(ctx)
	if errors.Is(err, catalog.ErrNoDefaultOrg) {
		return "", nil
	}
	return o.ID, err
}

func (s *Server) wireBucket(b catalog.Bucket) Bucket {
	wb := Bucket{OrgID: b.OrgID, Name: b.Name, IsPublic: b.Public, Created: b.Created}
	if base := s.publicBase(b.OrgID); b.Public && base != "" {
		wb.PublicURL = base + "/" + url.PathEscape(b.Name) + "/"
	}
	return wb
}

func wireKey(k catalog.AccessKey) AccessKey {
	bs := k.Buckets
	if bs == nil {
		bs = []string{} // [] rather than null: "no restriction", not "unknown"
	}
	return AccessKey{ID: k.ID, OrgID: k.OrgID, ReadOnly: k.ReadOnly, Buckets: bs, Created: k.Created}
}
