package s3gw

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/s3gw/sigv4"
)

// Op names an S3 operation. The router decides it before anything else
// happens, so authorization, logging and the handler all agree on it.
type Op int

const (
	OpUnknown Op = iota
	OpListBuckets
	OpCreateBucket
	OpHeadBucket
	OpDeleteBucket
	OpGetBucketLocation
	OpGetBucketAcl
	OpGetBucketVersioning
	OpListObjects
	OpListObjectsV2
	OpDeleteObjects
	OpPutObject
	OpCopyObject
	OpGetObject
	OpHeadObject
	OpDeleteObject
	OpGetObjectAcl
	OpCreateMultipartUpload
	OpUploadPart
	OpUploadPartCopy
	OpCompleteMultipartUpload
	OpAbortMultipartUpload
	OpListMultipartUploads
	OpListParts
	OpGetObjectTagging
	OpPutObjectTagging
	OpDeleteObjectTagging
	OpPublicGetObject  // anonymous GET on a public-bucket host
	OpPublicHeadObject // anonymous HEAD on a public-bucket host
	OpPublicDenied     // anything else on a public-bucket host
	OpNotImplemented   // a recognised but unsupported feature
	OpMethodNotAllowed // no operation for this method on this resource
	OpVirtualHosted    // refused: the gateway is path-style only
	OpConnLimited      // refused: the connection is over the daemon's bound (Refuse)
	OpGetBucketCors
	OpPutBucketCors
	OpDeleteBucketCors
	OpPreflight  // CORS preflight OPTIONS, unauthenticated (cors.go)
	OpPostObject // browser POST upload, authenticated by its policy (post_policy.go)
)

type opInfo struct {
	name  string
	write bool // denied to read-only keys
}

var opTable = map[Op]opInfo{
	OpUnknown:             {"Unknown", true},
	OpListBuckets:         {"ListBuckets", false},
	OpCreateBucket:        {"CreateBucket", true},
	OpHeadBucket:          {"HeadBucket", false},
	OpDeleteBucket:        {"DeleteBucket", true},
	OpGetBucketLocation:   {"GetBucketLocation", false},
	OpGetBucketAcl:        {"GetBucketAcl", false},
	OpGetBucketVersioning: {"GetBucketVersioning", false},
	OpListObjects:         {"ListObjects", false},
	OpListObjectsV2:       {"ListObjectsV2", false},
	OpDeleteObjects:       {"DeleteObjects", true},
	OpPutObject:           {"PutObject", true},
	OpCopyObject:          {"CopyObject", true},
	OpGetObject:           {"GetObject", false},
	OpHeadObject:          {"HeadObject", false},
	OpDeleteObject:        {"DeleteObject", true},
	OpGetObjectAcl:        {"GetObjectAcl", false},
	// Multipart: everything that creates, changes or discards an upload is
	// a write; listing uploads and parts is a read.
	OpCreateMultipartUpload:   {"CreateMultipartUpload", true},
	OpUploadPart:              {"UploadPart", true},
	OpUploadPartCopy:          {"UploadPartCopy", true},
	OpCompleteMultipartUpload: {"CompleteMultipartUpload", true},
	OpAbortMultipartUpload:    {"AbortMultipartUpload", true},
	OpListMultipartUploads:    {"ListMultipartUploads", false},
	OpListParts:               {"ListParts", false},
	OpGetObjectTagging:        {"GetObjectTagging", false},
	OpPutObjectTagging:        {"PutObjectTagging", true},
	OpDeleteObjectTagging:     {"DeleteObjectTagging", true},
	OpPublicGetObject:         {"PublicGetObject", false},
	OpPublicHeadObject:        {"PublicHeadObject", false},
	OpPublicDenied:            {"PublicDenied", false},
	OpNotImplemented:          {"NotImplemented", false},
	OpMethodNotAllowed:        {"MethodNotAllowed", false},
	OpVirtualHosted:           {"VirtualHosted", false},
	OpConnLimited:             {"ConnectionLimit", false},
	OpGetBucketCors:           {"GetBucketCors", false},
	OpPutBucketCors:           {"PutBucketCors", true},
	OpDeleteBucketCors:        {"DeleteBucketCors", true},
	OpPreflight:               {"PreflightCORS", false},
	OpPostObject:              {"PostObject", true},
}

func (o Op) String() string {
	if i, ok := opTable[o]; ok {
		return i.name
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// unsupported maps subresource query parameters to the feature they belong
// to. A request carrying one of them (and not matched by a supported route
// first, such as GET ?acl) is answered 501 NotImplemented naming the
// feature, so clients report "not implemented" rather than a confusing 404.
var unsupported = map[string]string{
	"acl":                 "setting ACLs (ACLs are read-only: owner full control)",
	"versioning":          "bucket versioning",
	"versions":            "object versioning (ListObjectVersions)",
	"lifecycle":           "lifecycle configuration",
	"policy":              "bucket policies",
	"policyStatus":        "bucket policies",
	"tagging":             "bucket tagging (object tagging is supported)",
	"cors":                "CORS configuration",
	"website":             "static website hosting",
	"replication":         "replication",
	"notification":        "event notifications",
	"object-lock":         "S3 Object Lock",
	"legal-hold":          "S3 Object Lock legal holds",
	"retention":           "S3 Object Lock retention",
	"inventory":           "inventory",
	"encryption":          "bucket encryption configuration (data is always encrypted at rest)",
	"analytics":           "analytics configuration",
	"metrics":             "metrics configuration",
	"intelligent-tiering": "intelligent tiering",
	"logging":             "server access logging",
	"accelerate":          "transfer acceleration",
	"requestPayment":      "requester pays",
	"ownershipControls":   "object ownership controls",
	"publicAccessBlock":   "public access block configuration",
	"restore":             "object restore",
	"select":              "S3 Select",
	"torrent":             "BitTorrent",
	"attributes":          "GetObjectAttributes",
	"session":             "directory bucket sessions",
}

// unsupportedFeature returns the feature named by the first unsupported
// subresource in the query, in a fixed order so the message is stable.
func unsupportedFeature(q url.Values) (string, bool) {
	names := make([]string, 0, len(q))
	for k := range q {
		if _, ok := unsupported[k]; ok {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return "", false
	}
	slices.Sort(names)
	return unsupported[names[0]], true
}

// hasMultipartParam matches requests that name a multipart upload but no
// multipart route took.
func hasMultipartParam(r *http.Request, _ *mux.RouteMatch) bool {
	q := requestQuery(r)
	return q.Has("uploads") || q.Has("uploadId")
}

// level says which kind of resource a path names.
type level int

const (
	levelNone    level = iota // not an S3 path at all
	levelService              // "/"
	levelBucket               // "/bucket" or "/bucket/"
	levelObject               // "/bucket/key…"
)

// splitPath takes the escaped request path and returns bucket and key, with
// percent-escapes decoded. It splits before decoding, so "%2F" inside a key
// is part of the key rather than a separator, and it uses path unescaping,
// so '+' stays a literal plus as it does in S3 paths. Everything after the
// bucket's slash is the key, including further slashes: "/b//k" is key "/k".
func splitPath(escaped string) (bucket, key string, lv level, err error) {
	rest, ok := strings.CutPrefix(escaped, "/")
	if !ok {
		return "", "", levelNone, fmt.Errorf("path %q does not start with /", escaped)
	}
	if rest == "" {
		return "", "", levelService, nil
	}
	b, k, _ := strings.Cut(rest, "/")
	if bucket, err = url.PathUnescape(b); err != nil {
		return "", "", levelNone, fmt.Errorf("bucket in path: %w", err)
	}
	if k == "" {
		return bucket, "", levelBucket, nil
	}
	if key, err = url.PathUnescape(k); err != nil {
		return "", "", levelNone, fmt.Errorf("key in path: %w", err)
	}
	return bucket, key, levelObject, nil
}

// parsedPath is splitPath's answer for one request.
type parsedPath struct {
	bucket, key string
	lv          level
	err         error
}

// requestPath splits r's path once per request: mux runs every route's
// matchers (a level matcher each) until one route matches, and the
// endpoint needs bucket and key again, so without the cache a GET of an
// object would unescape its key about twenty times.
func requestPath(r *http.Request) parsedPath {
	st := stateFrom(r.Context())
	if st != nil && st.path != nil {
		return *st.path
	}
	var p parsedPath
	p.bucket, p.key, p.lv, p.err = splitPath(r.URL.EscapedPath())
	if st != nil {
		st.path = &p
	}
	return p
}

// requestQuery is r.URL.Query(), parsed once per request for the same
// reason. Callers must not modify it.
func requestQuery(r *http.Request) url.Values {
	st := stateFrom(r.Context())
	if st != nil && st.query != nil {
		return st.query
	}
	q := r.URL.Query()
	if st != nil {
		st.query = q
	}
	return q
}

func pathLevel(r *http.Request) level {
	p := requestPath(r)
	if p.err != nil {
		return levelNone
	}
	return p.lv
}

func atLevel(lv level) mux.MatcherFunc {
	return func(r *http.Request, _ *mux.RouteMatch) bool { return pathLevel(r) == lv }
}

// route is a mux handler that knows its Op, so the router table test can ask
// which operation a request resolves to.
type route struct {
	op Op
	h  handlerFunc
}

func (rt *route) ServeHTTP(w http.ResponseWriter, r *http.Request) { rt.h.ServeHTTP(w, r) }

func (s *server) newRouter() *mux.Router {
	m := mux.NewRouter()
	// Keys may contain "//" and "/./": never let mux clean and redirect.
	m.SkipClean(true)
	m.UseEncodedPath()

	svc, bkt, obj := atLevel(levelService), atLevel(levelBucket), atLevel(levelObject)
	// x-amz-copy-source may pick the route because sigv4 refuses any
	// x-amz-* header the signature does not cover: an Op chosen by it
	// either was signed that way or fails authentication.
	hasCopySource := func(r *http.Request, _ *mux.RouteMatch) bool { return r.Header.Get("x-amz-copy-source") != "" }
	hasUnsupported := func(r *http.Request, _ *mux.RouteMatch) bool {
		_, ok := unsupportedFeature(requestQuery(r))
		return ok
	}

	m.MatcherFunc(s.isVirtualHosted).Handler(s.op(OpVirtualHosted, s.virtualHosted))
	// Every OPTIONS is a CORS preflight, whatever its query (a presigned
	// UploadPart URL has uploadId): no S3 operation uses the method.
	m.Methods(http.MethodOptions).Handler(s.unauthenticated(OpPreflight, s.preflight))

	// Supported subresources, before the catch-all for unsupported ones.
	m.Methods(http.MethodGet).MatcherFunc(bkt).Queries("location", "").Handler(s.op(OpGetBucketLocation, s.getBucketLocation))
	m.Methods(http.MethodGet).MatcherFunc(bkt).Queries("acl", "").Handler(s.op(OpGetBucketAcl, s.getBucketACL))
	m.Methods(http.MethodGet).MatcherFunc(bkt).Queries("versioning", "").Handler(s.op(OpGetBucketVersioning, s.getBucketVersioning))
	m.Methods(http.MethodGet).MatcherFunc(bkt).Queries("cors", "").Handler(s.op(OpGetBucketCors, s.getBucketCors))
	m.Methods(http.MethodPut).MatcherFunc(bkt).Queries("cors", "").Handler(s.op(OpPutBucketCors, s.putBucketCors))
	m.Methods(http.MethodDelete).MatcherFunc(bkt).Queries("cors", "").Handler(s.op(OpDeleteBucketCors, s.deleteBucketCors))
	m.Methods(http.MethodPost).MatcherFunc(bkt).Queries("delete", "").Handler(s.op(OpDeleteObjects, s.deleteObjects))
	m.Methods(http.MethodGet).MatcherFunc(obj).Queries("acl", "").Handler(s.op(OpGetObjectAcl, s.getObjectACL))
	m.Methods(http.MethodGet).MatcherFunc(obj).Queries("tagging", "").Handler(s.op(OpGetObjectTagging, s.getObjectTagging))
	m.Methods(http.MethodPut).MatcherFunc(obj).Queries("tagging", "").Handler(s.op(OpPutObjectTagging, s.putObjectTagging))
	m.Methods(http.MethodDelete).MatcherFunc(obj).Queries("tagging", "").Handler(s.op(OpDeleteObjectTagging, s.deleteObjectTagging))
	// Multipart. Matched on the presence of uploads / uploadId (any value);
	// a combination S3 has no operation for is MethodNotAllowed below,
	// never a PutObject or CreateBucket that ignores the parameter.
	m.Methods(http.MethodPost).MatcherFunc(obj).Queries("uploads", "").Handler(s.op(OpCreateMultipartUpload, s.createMultipartUpload))
	m.Methods(http.MethodPut).MatcherFunc(obj).Queries("uploadId", "", "partNumber", "").MatcherFunc(hasCopySource).Handler(s.op(OpUploadPartCopy, s.uploadPartCopy))
	m.Methods(http.MethodPut).MatcherFunc(obj).Queries("uploadId", "", "partNumber", "").Handler(s.op(OpUploadPart, s.uploadPart))
	m.Methods(http.MethodPost).MatcherFunc(obj).Queries("uploadId", "").Handler(s.op(OpCompleteMultipartUpload, s.completeMultipartUpload))
	m.Methods(http.MethodDelete).MatcherFunc(obj).Queries("uploadId", "").Handler(s.op(OpAbortMultipartUpload, s.abortMultipartUpload))
	m.Methods(http.MethodGet).MatcherFunc(obj).Queries("uploadId", "").Handler(s.op(OpListParts, s.listParts))
	m.Methods(http.MethodGet).MatcherFunc(bkt).Queries("uploads", "").Handler(s.op(OpListMultipartUploads, s.listMultipartUploads))
	m.MatcherFunc(hasMultipartParam).Handler(s.op(OpMethodNotAllowed, s.methodNotAllowed))

	m.MatcherFunc(hasUnsupported).Handler(s.op(OpNotImplemented, s.notImplemented))

	m.Methods(http.MethodGet).MatcherFunc(svc).Handler(s.op(OpListBuckets, s.listBuckets))

	m.Methods(http.MethodGet).MatcherFunc(bkt).Queries("list-type", "2").Handler(s.op(OpListObjectsV2, s.listObjectsV2))
	m.Methods(http.MethodGet).MatcherFunc(bkt).Handler(s.op(OpListObjects, s.listObjectsV1))
	m.Methods(http.MethodPut).MatcherFunc(bkt).Handler(s.op(OpCreateBucket, s.createBucket))
	m.Methods(http.MethodHead).MatcherFunc(bkt).Handler(s.op(OpHeadBucket, s.headBucket))
	m.Methods(http.MethodDelete).MatcherFunc(bkt).Handler(s.op(OpDeleteBucket, s.deleteBucket))
	m.Methods(http.MethodPost).MatcherFunc(bkt).Handler(s.unauthenticated(OpPostObject, s.postObject))

	m.Methods(http.MethodPut).MatcherFunc(obj).MatcherFunc(hasCopySource).Handler(s.op(OpCopyObject, s.copyObject))
	m.Methods(http.MethodPut).MatcherFunc(obj).Handler(s.op(OpPutObject, s.putObject))
	m.Methods(http.MethodGet).MatcherFunc(obj).Handler(s.op(OpGetObject, s.getObject))
	m.Methods(http.MethodHead).MatcherFunc(obj).Handler(s.op(OpHeadObject, s.headObject))
	m.Methods(http.MethodDelete).MatcherFunc(obj).Handler(s.op(OpDeleteObject, s.deleteObject))

	// Everything else: a method S3 has no operation for on this resource.
	notAllowed := s.op(OpMethodNotAllowed, s.methodNotAllowed)
	m.MethodNotAllowedHandler = notAllowed
	m.NotFoundHandler = notAllowed
	return m
}

// opOf resolves a request to its Op without serving it.
func opOf(m *mux.Router, r *http.Request) Op {
	var match mux.RouteMatch
	if m.Match(r, &match) {
		if rt, ok := match.Handler.(*route); ok {
			return rt.op
		}
	}
	return OpMethodNotAllowed
}

// request is a routed, authenticated request as handlers see it.
type request struct {
	bucket string
	key    string
	org    string
	access catalog.AccessKey
	auth   *sigv4.Result
}

type opFunc func(w http.ResponseWriter, r *http.Request, rq *request) error

// op wraps an endpoint: it records the Op, authenticates, enforces the key's
// scope, and only then calls fn. Nothing here reads the body, so a client
// that sent "Expect: 100-continue" gets an auth failure without uploading.
func (s *server) op(op Op, fn opFunc) *route {
	return &route{op: op, h: func(w http.ResponseWriter, r *http.Request) error {
		st := stateFrom(r.Context())
		st.op = op
		p := requestPath(r)
		if p.err != nil {
			return &Error{Code: ErrInvalidURI, Err: p.err}
		}
		bucket, key := p.bucket, p.key
		rq := &request{bucket: bucket, key: key}
		r = s.preread(r, bucket, key)
		var err error
		if rq.auth, rq.access, err = s.authenticate(r); err != nil {
			st.authDenied(r, err)
			return err
		}
		rq.org = rq.access.OrgID
		st.org = rq.org
		s.applyCORS(w, r, rq.org, bucket)
		if rq.auth.Presigned && !presignAllowed(op, r.Method) {
			err := s3Err(ErrAccessDenied, "Presigned URLs are supported for reads (GET, HEAD), PutObject, UploadPart and CompleteMultipartUpload only.")
			st.authDenied(r, err)
			return err
		}
		if err := authorize(rq.access, op, bucket); err != nil {
			st.authDenied(r, err)
			return err
		}
		st.authAccepted(r, rq.access, rq.auth.Presigned)
		return fn(w, r, rq)
	}}
}

// prereader is what Keys may also do (*catalog.DB on a shared engine):
// read a request's access key, bucket and object in one step, which its
// reads then take their records from.
type prereader interface {
	Preread(ctx context.Context, keyID, bucket, key string) context.Context
}

// preread gives r a context carrying its records read in one step, when
// Keys can: the access key named by the request's credential (not yet
// verified: reading it is what verifying starts with), the bucket and, for
// a read, the object.
func (s *server) preread(r *http.Request, bucket, key string) *http.Request {
	pr, ok := s.keys.(prereader)
	if !ok {
		return r
	}
	id := credentialID(r)
	if id == "" {
		return r
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		key = ""
	}
	return r.WithContext(pr.Preread(r.Context(), id, bucket, key))
}

// credentialID is the access key id a request says it is signed with, from
// its Authorization header or presigned query; "" if it names none. A
// guess only: sigv4.Verify parses and checks it.
func credentialID(r *http.Request) string {
	var c string
	if h := r.Header.Get("Authorization"); h != "" {
		i := strings.Index(h, "Credential=")
		if i < 0 {
			return ""
		}
		c = h[i+len("Credential="):]
	} else if strings.Contains(r.URL.RawQuery, "X-Amz-Credential=") {
		c = requestQuery(r).Get("X-Amz-Credential")
	}
	if i := strings.IndexByte(c, '/'); i > 0 {
		return c[:i]
	}
	return ""
}

// authenticate verifies the signature and returns the key that signed it.
func (s *server) authenticate(r *http.Request) (*sigv4.Result, catalog.AccessKey, error) {
	var key catalog.AccessKey
	res, err := sigv4.Verify(r, s.now(), func(ctx context.Context, id string) (string, error) {
		k, err := s.lookupKey(ctx, id)
		if err != nil {
			return "", err
		}
		key = k
		return k.Secret, nil
	})
	if err != nil {
		return nil, catalog.AccessKey{}, err
	}
	return res, key, nil
}

// authorize enforces a key's scope: read-only keys may not write, and keys
// limited to some buckets may touch only those (ListBuckets filters instead).
func authorize(k catalog.AccessKey, op Op, bucket string) error {
	if op == OpNotImplemented || op == OpMethodNotAllowed || op == OpVirtualHosted {
		return nil // these fail on their own, whatever the key
	}
	if k.ReadOnly && opTable[op].write {
		return s3Err(ErrAccessDenied, "This access key is read-only.")
	}
	if bucket != "" && !bucketAllowed(k, bucket) {
		return s3Err(ErrAccessDenied, "This access key is not allowed to access bucket %q.", bucket)
	}
	return nil
}

func bucketAllowed(k catalog.AccessKey, bucket string) bool {
	return len(k.Buckets) == 0 || slices.Contains(k.Buckets, bucket)
}

func (s *server) notImplemented(w http.ResponseWriter, r *http.Request, rq *request) error {
	if f, ok := unsupportedFeature(requestQuery(r)); ok {
		return s3Err(ErrNotImplemented, "This server does not implement %s.", f)
	}
	return &Error{Code: ErrNotImplemented}
}

func (s *server) methodNotAllowed(w http.ResponseWriter, r *http.Request, rq *request) error {
	return s3Err(ErrMethodNotAllowed, "The method %s is not allowed against this resource.", r.Method)
}

func (s *server) virtualHosted(w http.ResponseWriter, r *http.Request, rq *request) error {
	return s3Err(ErrInvalidRequest, "This endpoint supports path-style requests only (https://endpoint/bucket/key); configure your client for path-style addressing (e.g. UsePathStyle, forcePathStyle, addressing_style=path).")
}

// isVirtualHosted reports whether the Host header names a bucket, i.e. the
// client used virtual-hosted-style addressing. Serving such a request as
// path-style would misread the key as a bucket name (a PUT could create a
// bucket named after the key), so it is refused instead. The rule:
//
//   - a host that is an IP literal or has no dot (127.0.0.1:9000,
//     localhost:9000, [::1]:9000, excd) is never virtual-hosted;
//   - "<bucket>.localhost" and "<bucket>.<IP literal>" are, when <bucket> is
//     a valid bucket name (this is what SDKs send for a local endpoint);
//   - with Config.Endpoint set, "<bucket>.<Endpoint>" is, when <bucket> is a
//     valid bucket name; the Endpoint itself and every other host are
//     path-style.
//
// Without Endpoint no other host is treated as virtual-hosted, because no
// rule based on the host alone can tell "buckets.example.com/" (ListBuckets
// on the endpoint) from "<bucket>.example.com/".
func (s *server) isVirtualHosted(r *http.Request, _ *mux.RouteMatch) bool {
	return virtualHostBucket(r.Host, s.endpoint) != ""
}

// virtualHostBucket returns the bucket named by host under the rule above,
// or "" if the host is path-style.
func virtualHostBucket(host, endpoint string) string {
	h := normalizeHost(host)
	if h == "" || isIP(h) || !strings.Contains(h, ".") {
		return ""
	}
	if endpoint != "" && h != endpoint {
		if b, ok := strings.CutSuffix(h, "."+endpoint); ok && catalog.ValidBucketName(b) == nil {
			return b
		}
	}
	i := strings.LastIndex(h, ".localhost")
	if i > 0 && i+len(".localhost") == len(h) && catalog.ValidBucketName(h[:i]) == nil {
		return h[:i]
	}
	// "<bucket>.<IPv4>": the bucket is everything before the last four labels.
	if labels := strings.Split(h, "."); len(labels) > 4 {
		if ip := strings.Join(labels[len(labels)-4:], "."); isIP(ip) {
			b := strings.Join(labels[:len(labels)-4], ".")
			if catalog.ValidBucketName(b) == nil {
				return b
			}
		}
	}
	return ""
}

// normalizeHost lowercases a Host value and strips the port and a trailing
// dot; IPv6 literals lose their brackets.
func normalizeHost(host string) string {
	h := strings.ToLower(strings.TrimSpace(host))
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	h = strings.TrimPrefix(strings.TrimSuffix(h, "]"), "[")
	return strings.TrimSuffix(h, ".")
}

func isIP(h string) bool { return net.ParseIP(h) != nil }
