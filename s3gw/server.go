// Package s3gw speaks the S3 wire protocol in front of the object layer:
// routing (path-style only), authentication through sigv4, the XML bodies,
// the one table of S3 errors, and streaming request and response bodies
// without buffering objects.
//
// Decisions:
//   - Every request to the S3 API is authenticated; the org comes from the
//     access key. Anonymous requests get AccessDenied. Presigned URLs work
//     for reads and for uploads (PutObject, UploadPart,
//     CompleteMultipartUpload; presign.go). The one exception is a public-bucket host,
//     "<org-id>.<Config.PublicDomain>", which serves anonymous reads of
//     public buckets only (public.go). Unsigned GET and HEAD of exactly
//     /healthz and /readyz are health probes, not S3 (health.go).
//   - Handlers return errors; handlerFunc.ServeHTTP alone renders them, sets
//     x-amz-request-id and writes one access-log line per request.
//   - Unsupported subresources (?lifecycle, ?policy, PUT ?acl, …) get 501
//     NotImplemented naming the feature, never 404 or 405.
//   - Range: one byte range is honoured; a header with several ranges, or
//     one that does not parse, is ignored and the whole object is sent
//     (as S3 does); a syntactically valid but unsatisfiable range is 416.
//   - Conditional GET/HEAD follow RFC 9110 section 13.2.2 precedence.
//   - Virtual-hosted-style requests are refused; see isVirtualHosted.
//   - Multipart: CompleteMultipartUpload is metadata only and takes
//     milliseconds, so it answers with the error status directly instead of
//     the "200 then an error body" S3 uses for long completions. Part ETags
//     are accepted quoted or unquoted. The object's checksum (composite
//     "sum-N", or full-object for CRC64NVME and FULL_OBJECT CRC32/CRC32C)
//     is computed from the parts' checksums at completion, only when the
//     upload named an algorithm and every part carries that checksum.
//     Objects may reach 10000 parts of up to 5 GiB; a single PutObject is
//     limited to 5 GiB (EntityTooLarge) as in S3.
//   - The daemon bounds open connections; a connection it marked with
//     Refuse has every request answered 503 SlowDown and is closed, before
//     routing or authentication.
//   - Metadata limits are the object layer's (objects.CheckMeta), applied
//     before any body is read: MetadataTooLarge.
package s3gw

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/gorilla/mux"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/objects"
)

// Objects is the part of the object layer the gateway calls; *objects.Layer
// satisfies it.
type Objects interface {
	CreateBucket(ctx context.Context, orgID, name string) (catalog.Bucket, error)
	DeleteBucket(ctx context.Context, orgID, name string) error
	Bucket(ctx context.Context, orgID, name string) (catalog.Bucket, error)
	ListBuckets(ctx context.Context, orgID string) ([]catalog.Bucket, error)
	Put(ctx context.Context, orgID, bucket, key string, body io.Reader, opts objects.PutOptions) (*catalog.Manifest, error)
	Head(ctx context.Context, orgID, bucket, key string) (*catalog.Manifest, error)
	Open(ctx context.Context, orgID, bucket, key string) (*objects.Object, error)
	Delete(ctx context.Context, orgID, bucket, key string) error
	Copy(ctx context.Context, orgID, srcBucket, srcKey, dstBucket, dstKey string, opts objects.CopyOptions) (*catalog.Manifest, error)
	List(ctx context.Context, orgID, bucket string, opts catalog.ListOptions) (catalog.ListResult, error)
	SetTags(ctx context.Context, orgID, bucket, key string, tags map[string]string) (*catalog.Manifest, error)

	CreateMultipart(ctx context.Context, orgID, bucket, key string, meta catalog.Manifest) (catalog.Upload, error)
	UploadPart(ctx context.Context, orgID, bucket, key, uploadID string, number int, body io.Reader, opts objects.PartOptions) (*catalog.UploadPart, error)
	UploadPartCopy(ctx context.Context, orgID, bucket, key, uploadID string, number int, srcBucket, srcKey string, off, length int64, check func(*catalog.Manifest) error) (*catalog.UploadPart, error)
	CompleteMultipart(ctx context.Context, orgID, bucket, key, uploadID string, parts []objects.CompletePart, opts objects.CompleteOptions) (*catalog.Manifest, error)
	AbortMultipart(ctx context.Context, orgID, bucket, key, uploadID string) error
	ListUploads(ctx context.Context, orgID, bucket, prefix, keyMarker, uploadIDMarker string, max int) ([]catalog.Upload, bool, error)
	ListParts(ctx context.Context, orgID, bucket, key, uploadID string, after, max int) (catalog.Upload, []catalog.UploadPart, bool, error)
}

var _ Objects = (*objects.Layer)(nil)

// Keys resolves access keys; *catalog.DB satisfies it. An unknown id is an
// error wrapping catalog.ErrNoSuchKey.
type Keys interface {
	AccessKey(ctx context.Context, id string) (catalog.AccessKey, error)
}

// Config configures the gateway.
type Config struct {
	Objects Objects
	Keys    Keys
	// Region is reported by GetBucketLocation and x-amz-bucket-region.
	// Clients may sign with any region. Default "auto".
	Region string
	// Endpoint is the public host name of the S3 endpoint (no scheme, no
	// port), e.g. "buckets.excloud.dev". Optional: when set, a request for
	// "<bucket>.<Endpoint>" is recognised as virtual-hosted-style and
	// refused with a clear message instead of being misread as path-style.
	Endpoint string
	// PublicDomain, when set (e.g. "objects.excloud.dev": no scheme, no
	// port), makes "<org-id>.<PublicDomain>" the public host of that org on
	// the same listener: anonymous GET and HEAD of objects in its buckets
	// marked Public, 403 AccessDenied for everything else there (see
	// public.go). Empty disables public hosts; every request must then be
	// signed.
	PublicDomain string
	// TrustedProxies are the peers (reverse proxies) whose
	// X-Forwarded-For header names the client in the access log; the
	// header from any other peer is ignored, since anyone can send one.
	TrustedProxies []netip.Prefix
	Logger         *slog.Logger // default slog.Default()
	Now            func() time.Time
	// Observer, if set, is told about every request once its response is
	// written (the daemon's Prometheus metrics).
	Observer Observer
	// Ready answers /readyz on this listener (health.go): nil when the
	// daemon serves. Nil means always ready: the gateway answering is all
	// there is to know.
	Ready func() error
}

type refusalKey struct{}

// Refuse marks a connection's context (http.Server.ConnContext) so that
// every request on it is answered 503 SlowDown with why as the message,
// and the connection is closed after the answer: the daemon's bound on
// open connections refuses in S3's words, which SDKs retry with backoff,
// instead of dropping the connection unexplained. Nothing else runs for
// such a request: no authentication, no routing, no body read.
func Refuse(ctx context.Context, why string) context.Context {
	return context.WithValue(ctx, refusalKey{}, why)
}

// Observer receives one call per request: the operation (an Op's String),
// the HTTP status, the body bytes read and written, and the time from the
// request's arrival to the end of its response.
type Observer interface {
	ObserveRequest(op string, status int, bytesIn, bytesOut int64, d time.Duration)
}

type server struct {
	objs     Objects
	keys     Keys
	region   string
	endpoint string
	// publicDomain is Config.PublicDomain, normalized; "" when off.
	publicDomain string
	logger       *slog.Logger
	now          func() time.Time
	observer     Observer
	trusted      []netip.Prefix
	router       *mux.Router
	completed    completedUploads // for retried CompleteMultipartUpload
	ready        func() error     // Config.Ready, never nil
}

// New returns the S3 gateway as an http.Handler.
func New(cfg Config) http.Handler {
	s := &server{
		objs:         cfg.Objects,
		keys:         cfg.Keys,
		region:       cfg.Region,
		endpoint:     normalizeHost(cfg.Endpoint),
		publicDomain: normalizeHost(cfg.PublicDomain),
		logger:       cfg.Logger,
		now:          cfg.Now,
		observer:     cfg.Observer,
		trusted:      cfg.TrustedProxies,
		ready:        cfg.Ready,
	}
	if s.ready == nil {
		s.ready = func() error { return nil }
	}
	if s.region == "" {
		s.region = "auto"
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.router = s.newRouter()
	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := &reqState{logger: s.logger, op: OpUnknown, observer: s.observer, trusted: s.trusted}
	r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
	if why, ok := r.Context().Value(refusalKey{}).(string); ok {
		st.op = OpConnLimited
		handlerFunc(func(http.ResponseWriter, *http.Request) error {
			return &Error{Code: ErrSlowDown, Message: why,
				// The client should come back on a connection of its own
				// once others have closed; this one is not kept.
				Header: map[string]string{"Connection": "close", "Retry-After": "1"}}
		}).ServeHTTP(w, r)
		return
	}
	if probe := s.probe(r); probe != nil {
		probe(w, r)
		return
	}
	// Public hosts are decided by Host alone, before routing: none of the
	// S3 API's routes, and none of its authentication, applies to them.
	if org, ok := s.publicOrg(r.Host); ok {
		s.servePublic(org).ServeHTTP(w, r)
		return
	}
	s.router.ServeHTTP(w, r)
}
