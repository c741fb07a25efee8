package s3gw

import (
	"net/http"

	"excloud.dev/buckets/internal/health"
)

// Health probes on the S3 listener. Load balancers probe the port they
// route, so /healthz and /readyz answer here as on the metrics listener
// (internal/health: the same words, the same readiness).
//
// Decisions:
//   - A probe is an unsigned GET or HEAD of exactly "/healthz" or
//     "/readyz", any query. Unsigned means no Authorization header and no
//     presign parameters (SigV4's X-Amz-Signature, -Credential, -Algorithm;
//     SigV2's Signature, AWSAccessKeyId).
//   - "healthz" and "readyz" are valid bucket names and stay fully usable:
//     every request an S3 client sends for such a bucket is signed and goes
//     to the S3 API as before. The only requests the probes take are the
//     unsigned ones, which the S3 API answers 403 AccessDenied on those
//     paths anyway, so nothing that worked is shadowed and a probe can never
//     be answered with data. The same holds on a public-bucket host, where
//     "/healthz" names a bucket, and buckets are never listed there.
//   - Probes are not S3 requests: no request id, no access-log line, no
//     S3 metrics, so a probe every second adds nothing to the journal.
//   - A connection over the daemon's bound is still refused first (503
//     SlowDown): an overloaded daemon is what a probe should see.

// probe returns the handler of a health probe, or nil if r is not one.
func (s *server) probe(r *http.Request) http.HandlerFunc {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return nil
	}
	path := r.URL.EscapedPath()
	if path != health.LivePath && path != health.ReadyPath {
		return nil
	}
	if len(r.Header.Values("Authorization")) > 0 {
		return nil
	}
	q := requestQuery(r)
	for _, p := range []string{"X-Amz-Signature", "X-Amz-Credential", "X-Amz-Algorithm", "Signature", "AWSAccessKeyId"} {
		if q.Has(p) {
			return nil
		}
	}
	if path == health.LivePath {
		return health.ServeLive
	}
	return func(w http.ResponseWriter, r *http.Request) { health.ServeReady(w, r, s.ready) }
}
