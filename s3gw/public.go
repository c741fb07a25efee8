package s3gw

import (
	"errors"
	"net/http"
	"strings"

	"excloud.dev/buckets/catalog"
)

// Public buckets. With Config.PublicDomain set to D, a request whose Host
// is "<org-id>.D" (any port, any case, an optional trailing dot) is a public
// read: it is served on the same listener without credentials, as
// GET or HEAD of "/<bucket>/<key>" in a bucket of that org whose Public flag
// is set. Everything else on such a host is 403 AccessDenied: other methods,
// the service and bucket levels (no listing), subresources, private and
// missing buckets alike, so the host reveals nothing about what is private.
//
// Decisions:
//   - Credentials are ignored on a public host, never verified: a public
//     read is the same for everyone, so an Authorization header or presign
//     parameters neither widen nor narrow it, and a key's scope never
//     applies there. Writes with valid credentials are refused like any
//     other write; the S3 API host is the only place keys mean anything.
//   - A missing key in a public bucket is 404 NoSuchKey: anyone may read
//     every key there, so its absence is no secret, and caches and CDNs
//     need the 404.
//   - The public flag is read from the catalog on every request, so
//     SetBucketPublic(false) takes effect on the very next request.
//   - response-* query overrides are refused (InvalidRequest), as S3 refuses
//     them on anonymous requests: they would let anyone serve a stored
//     object as, say, text/html from the public domain.
//   - Only hosts of exactly that shape are public; any other host, the
//     S3 endpoint included, is the authenticated S3 API, which never serves
//     anonymous requests.

// publicOrg returns the org a public-bucket host names, if the host is one.
func (s *server) publicOrg(host string) (string, bool) {
	if s.publicDomain == "" {
		return "", false
	}
	label, ok := strings.CutSuffix(normalizeHost(host), "."+s.publicDomain)
	if !ok || !catalog.ValidOrgID(label) {
		return "", false
	}
	return label, true
}

// publicQueryAllowed reports whether a public read may carry a query
// parameter:
// part selection, the null version, and presign or cache-busting leftovers
// that are ignored. Any other S3 subresource is refused.
func publicQueryAllowed(name string) bool {
	switch name {
	case "partNumber", "versionId":
		return true
	}
	if _, ok := unsupported[name]; ok {
		return false
	}
	switch name {
	case "uploads", "uploadId", "acl", "delete", "location", "list-type", "prefix", "delimiter":
		return false
	}
	return true
}

// servePublic answers a request on org's public host.
func (s *server) servePublic(org string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		st := stateFrom(r.Context())
		st.org = org
		st.op = OpPublicDenied
		denied := func(why string) error {
			return s3Err(ErrAccessDenied, "Access Denied: %s", why)
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return denied("public bucket hosts serve only GET and HEAD of objects.")
		}
		bucket, key, lv, err := splitPath(r.URL.EscapedPath())
		if err != nil {
			return &Error{Code: ErrInvalidURI, Err: err}
		}
		if lv != levelObject {
			return denied("public buckets cannot be listed.")
		}
		q := requestQuery(r)
		for name := range q {
			if _, ok := responseOverrides[name]; ok {
				return s3Err(ErrInvalidRequest, "Request specific response headers cannot be used for anonymous GET requests.")
			}
			if !publicQueryAllowed(name) {
				return denied("public bucket hosts serve only GET and HEAD of objects.")
			}
		}
		b, err := s.objs.Bucket(r.Context(), org, bucket)
		if errors.Is(err, catalog.ErrNoSuchBucket) || errors.Is(err, catalog.ErrNoSuchOrg) || err == nil && !b.Public {
			// Private and missing buckets answer alike.
			return denied("the bucket is not public.")
		}
		if err != nil {
			return err
		}
		rq := &request{bucket: bucket, key: key, org: org}
		if r.Method == http.MethodHead {
			st.op = OpPublicHeadObject
			return s.headObject(w, r, rq)
		}
		st.op = OpPublicGetObject
		return s.getObject(w, r, rq)
	}
}
