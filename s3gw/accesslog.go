package s3gw

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"excloud.dev/buckets/catalog"
)

// The access log: one "s3 request" record per request, written by
// handlerFunc.ServeHTTP once the response is complete. Its attributes
// (docs/service.md, "Access log") say who did what:
//
//	request_id     the x-amz-request-id the client saw
//	remote_addr    the client's IP: the peer's, or, when the peer is a
//	               trusted proxy (Config.TrustedProxies), the address its
//	               X-Forwarded-For names
//	forwarded_by   the proxy's IP, only when remote_addr came from
//	               X-Forwarded-For
//	access_key_id  the key the request claims to be signed with, even when
//	               the signature is wrong ("" when unsigned)
//	org            the org the key (or public host) belongs to
//	bucket, key    from the path (for a POST upload, the form's key)
//	op             the S3 operation (Op)
//	method, status the HTTP method and status
//	code           the S3 error code, "" on success
//	bytes_in       request body bytes read, as sent (aws-chunked framing
//	               included)
//	bytes_out      response body bytes written
//	duration       from arrival to the end of the response (seconds, as
//	               internal/logging writes every duration)
//	user_agent     the User-Agent header
//
// Attacker-controlled values (key, user agent, a claimed key id) are
// logged as given: the JSON handler escapes them, and they are what an
// operator investigating a request needs.

// maxLoggedClaim bounds a claimed access key id taken from an unverified
// header, so a request cannot make its log line arbitrarily long with it.
const maxLoggedClaim = 64

func (st *reqState) logAccess(r *http.Request, rw *respWriter, body *countingBody, start time.Time, code string) {
	var in int64
	if body != nil {
		in = body.n
	}
	bucket, key := st.bucket, st.key
	if !st.named {
		if p := requestPath(r); p.err == nil {
			bucket, key = p.bucket, p.key
		}
	}
	client, proxy := clientAddr(r, st.trusted)
	attrs := make([]any, 0, 36)
	attrs = append(attrs,
		"request_id", st.id,
		"remote_addr", client,
	)
	if proxy != "" {
		attrs = append(attrs, "forwarded_by", proxy)
	}
	attrs = append(attrs,
		"access_key_id", st.keyID(r),
		"org", st.org,
		"bucket", bucket,
		"key", key,
		"op", st.op.String(),
		"method", r.Method,
		"status", rw.status,
		"code", code,
		"bytes_in", in,
		"bytes_out", rw.bytes,
		"duration", time.Since(start),
		"user_agent", r.UserAgent(),
	)
	st.logger.Info("s3 request", attrs...)
}

// claimedKeyID is the access key id a request names in its Authorization
// header or presigned query, read without verifying anything: for the log
// of a request refused before its key was looked up (a skewed clock, an
// unsigned x-amz-* header).
func claimedKeyID(r *http.Request) string {
	cred := ""
	if h := r.Header.Get("Authorization"); h != "" {
		if _, after, ok := strings.Cut(h, "Credential="); ok {
			cred = after
		}
	} else if q := requestQuery(r); q.Has("X-Amz-Credential") {
		cred = q.Get("X-Amz-Credential")
	}
	id, _, _ := strings.Cut(cred, "/")
	id, _, _ = strings.Cut(id, ",")
	id = strings.TrimSpace(id)
	if len(id) > maxLoggedClaim {
		id = id[:maxLoggedClaim]
	}
	return id
}

// clientAddr returns the client's IP for the log and, when it was taken
// from X-Forwarded-For, the proxy's. The header is believed only from a
// trusted peer, and read from the right: each trusted proxy appends the
// address it received from, so the rightmost address that is not itself a
// trusted proxy is the client; anything left of it was written by the
// client and may be forged.
func clientAddr(r *http.Request, trusted []netip.Prefix) (client, proxy string) {
	peer, ok := parseIP(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr, ""
	}
	xff := r.Header.Values("X-Forwarded-For")
	if len(xff) == 0 || !trustedIP(peer, trusted) {
		return peer.String(), ""
	}
	hops := strings.Split(strings.Join(xff, ","), ",")
	found := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseIP(strings.TrimSpace(hops[i]))
		if !ok {
			// A hop that is no address: nothing left of it can be
			// trusted; the nearest known hop is the best answer.
			break
		}
		found = a
		if !trustedIP(a, trusted) {
			break
		}
	}
	if found == peer {
		return peer.String(), ""
	}
	return found.String(), peer.String()
}

// parseIP reads "ip", "ip:port" or "[ipv6]:port"; IPv4-mapped IPv6
// addresses become IPv4.
func parseIP(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if h, _, err := net.SplitHostPort(s); err == nil {
		s = h
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func trustedIP(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// authDenied logs, at debug level, why a request was refused before its
// handler ran: the key it named and the verifier's reason (a signature
// mismatch, an unknown key, a skewed clock, a read-only key, a bucket out
// of the key's scope). At info level the access line's code says only
// what the client was told.
func (st *reqState) authDenied(r *http.Request, err error) {
	if !st.logger.Enabled(r.Context(), slog.LevelDebug) {
		return
	}
	st.logger.Debug("s3 auth denied",
		"request_id", st.id,
		"access_key_id", st.keyID(r),
		"op", st.op.String(),
		"code", errorTable[toS3Error(err).Code].Code,
		"reason", err.Error())
}

// authAccepted logs, at debug level, the key a request was authenticated
// with and the scope it was allowed under.
func (st *reqState) authAccepted(r *http.Request, k catalog.AccessKey, presigned bool) {
	// Checked first: this runs for every request, and at info level it
	// should cost nothing.
	if !st.logger.Enabled(r.Context(), slog.LevelDebug) {
		return
	}
	st.logger.Debug("s3 auth accepted",
		"request_id", st.id,
		"access_key_id", k.ID,
		"org", k.OrgID,
		"op", st.op.String(),
		"presigned", presigned,
		"read_only", k.ReadOnly,
		"key_buckets", k.Buckets)
}

// keyID is the access key id to log: the one looked up, else the one the
// request names.
func (st *reqState) keyID(r *http.Request) string {
	if st.accessKey != "" {
		return st.accessKey
	}
	return claimedKeyID(r)
}
