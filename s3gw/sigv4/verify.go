package sigv4

import (
	"crypto/hmac"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"excloud.dev/buckets/s3gw/checksum"
)

// The x-amz-content-sha256 values other than a hex SHA-256.
const (
	UnsignedPayload          = "UNSIGNED-PAYLOAD"
	StreamingPayload         = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingPayloadTrailer  = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	StreamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// emptySHA256 is the hex SHA-256 of no bytes.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// payloadMode is how the body is framed and verified.
type payloadMode int

const (
	payloadHex               payloadMode = iota // plain body, SHA-256 checked at EOF
	payloadUnsigned                             // plain body, not checked
	payloadStreamSigned                         // aws-chunked, signed chunks
	payloadStreamSignedTrl                      // aws-chunked, signed chunks + signed trailer
	payloadStreamUnsignedTrl                    // aws-chunked, unsigned chunks + trailer
)

func classifyPayload(v string) (payloadMode, error) {
	switch v {
	case UnsignedPayload:
		return payloadUnsigned, nil
	case StreamingPayload:
		return payloadStreamSigned, nil
	case StreamingPayloadTrailer:
		return payloadStreamSignedTrl, nil
	case StreamingUnsignedTrailer:
		return payloadStreamUnsignedTrl, nil
	}
	if len(v) == 64 && isLowerHex(strings.ToLower(v)) {
		return payloadHex, nil
	}
	return 0, fmt.Errorf("%w: %.80q", ErrInvalidContentSHA256, v)
}

// isPresigned reports whether the query carries presigned-URL
// authentication. Any of the three defining parameters counts, so that a
// URL with a signature but no algorithm is reported as malformed rather
// than as unsigned.
func isPresigned(q url.Values) bool {
	return q.Has(QuerySignature) || q.Has(QueryAlgorithm) || q.Has(QueryCredential)
}

func verify(r *http.Request, now time.Time, lookup SecretFunc) (*Result, error) {
	authz := r.Header.Values("Authorization")
	// A parse error still leaves every well-formed pair in q; the canonical
	// query builder reports undecodable pairs on its own.
	q, _ := url.ParseQuery(r.URL.RawQuery)
	presigned := isPresigned(q)
	switch {
	case len(authz) == 0 && !presigned:
		return nil, ErrMissingAuth
	case len(authz) > 0 && presigned:
		return nil, fmt.Errorf("%w: both an Authorization header and presigned query parameters", ErrMalformedAuth)
	case len(authz) > 1:
		return nil, fmt.Errorf("%w: %d Authorization headers", ErrMalformedAuth, len(authz))
	case presigned:
		return verifyPresigned(r, q, now, lookup)
	}
	return verifyHeader(r, authz[0], now, lookup)
}

// parseHTTPDate reads a Date header in the forms clients send: the three
// of RFC 9110, and the RFC 1123 form with a numeric zone ("-0000", "+0000")
// that Python's email.utils.formatdate writes, which botocore sends when a
// caller passes Date (or Date and X-Amz-Date) as request headers.
func parseHTTPDate(v string) (time.Time, error) {
	if t, err := http.ParseTime(v); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC1123Z, v)
}

// requestTime returns the request time from x-amz-date, or from Date when
// x-amz-date is absent, and the ISO 8601 basic form used in the string to
// sign.
func requestTime(r *http.Request) (time.Time, string, error) {
	if v := r.Header.Values("X-Amz-Date"); len(v) > 0 {
		if len(v) > 1 {
			return time.Time{}, "", fmt.Errorf("%w: %d x-amz-date headers", ErrMalformedAuth, len(v))
		}
		t, err := parseAmzDate(v[0])
		return t, v[0], err
	}
	if v := r.Header.Get("Date"); v != "" {
		t, err := parseHTTPDate(v)
		if err != nil {
			return time.Time{}, "", fmt.Errorf("%w: Date header %.40q unparsable", ErrMalformedAuth, v)
		}
		t = t.UTC()
		return t, t.Format(amzDateFormat), nil
	}
	return time.Time{}, "", fmt.Errorf("%w: neither x-amz-date nor Date header", ErrMalformedAuth)
}

func verifyHeader(r *http.Request, authz string, now time.Time, lookup SecretFunc) (*Result, error) {
	a, err := ParseAuthorization(authz)
	if err != nil {
		return nil, err
	}
	t, amzDate, err := requestTime(r)
	if err != nil {
		return nil, err
	}
	if d := t.Format(scopeDateFormat); d != a.Credential.Date {
		return nil, fmt.Errorf("%w: credential date %s does not match request date %s", ErrMalformedAuth, a.Credential.Date, d)
	}
	if err := checkSkew(t, now); err != nil {
		return nil, err
	}
	cs := r.Header.Values("X-Amz-Content-Sha256")
	if len(cs) != 1 {
		return nil, fmt.Errorf("%w: want exactly one x-amz-content-sha256 header, got %d", ErrInvalidContentSHA256, len(cs))
	}
	mode, err := classifyPayload(cs[0])
	if err != nil {
		return nil, err
	}
	// Parse the body's declarations before the secret lookup: they are
	// cheap, and a malformed request should not cost a catalog read.
	var plan *streamPlan
	if mode >= payloadStreamSigned {
		if plan, err = planStream(r, mode); err != nil {
			return nil, err
		}
	} else if r.Header.Get("X-Amz-Trailer") != "" {
		return nil, fmt.Errorf("%w: x-amz-trailer needs a STREAMING-*-TRAILER payload, got %.80q", ErrInvalidContentSHA256, cs[0])
	}
	// Whoever sees a signed request may replay it within MaxSkew with
	// headers added. An unsigned x-amz-* header could change what the
	// request does (x-amz-copy-source turns PutObject into CopyObject,
	// UploadPart into UploadPartCopy), so, as S3 does, none is accepted.
	if h := unsignedAmzHeader(r.Header, a.SignedHeaders, boundBySignature); h != "" {
		return nil, fmt.Errorf("%w: %s", ErrHeadersNotSigned, h)
	}
	secret, err := lookup(r.Context(), a.Credential.AccessKeyID)
	if err != nil {
		return nil, fmt.Errorf("access key %q: %w", a.Credential.AccessKeyID, err)
	}
	key := signingKeys.signingKey(secret, a.Credential)
	query, err := canonicalQuery(r.URL.RawQuery, "")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedAuth, err)
	}
	scope := a.Credential.Scope()
	if !matchSignature(r, key, amzDate, scope, query, a.SignedHeaders, cs[0], a.Signature) {
		return nil, fmt.Errorf("%w: access key %q, scope %s", ErrSignatureMismatch, a.Credential.AccessKeyID, scope)
	}
	res := &Result{
		AccessKeyID:   a.Credential.AccessKeyID,
		Region:        a.Credential.Region,
		ContentSHA256: cs[0],
		Date:          t,
		SignedHeaders: a.SignedHeaders,
	}
	if plan != nil {
		plan.key, plan.amzDate, plan.scope, plan.seed = key, amzDate, scope, a.Signature
		plan.attach(r, res)
		return res, nil
	}
	attachPlain(r, res, mode, cs[0])
	return res, nil
}

func verifyPresigned(r *http.Request, q url.Values, now time.Time, lookup SecretFunc) (*Result, error) {
	p, err := ParsePresignQuery(q)
	if err != nil {
		return nil, err
	}
	if p.Date.After(now.Add(MaxSkew)) {
		return nil, fmt.Errorf("%w: presigned X-Amz-Date %s is in the future (server time %s)", ErrTimeSkewed, p.Date.Format(amzDateFormat), now.UTC().Format(amzDateFormat))
	}
	if exp := p.Date.Add(p.Expires); now.After(exp) {
		return nil, fmt.Errorf("%w: expired at %s (server time %s)", ErrExpired, exp.Format(amzDateFormat), now.UTC().Format(amzDateFormat))
	}
	// A presigned URL carries its signature to whoever holds it; x-amz-*
	// headers it did not sign could change what the request means (a
	// checksum mode, a copy source, SSE), so S3 refuses them.
	if h := unsignedAmzHeader(r.Header, p.SignedHeaders, nil); h != "" {
		return nil, fmt.Errorf("%w: %s", ErrHeadersNotSigned, h)
	}
	mode, err := classifyPayload(p.ContentSHA256)
	if err != nil {
		return nil, err
	}
	if mode != payloadHex && mode != payloadUnsigned {
		return nil, fmt.Errorf("%w: streaming payload %q in a presigned URL", ErrInvalidContentSHA256, p.ContentSHA256)
	}
	secret, err := lookup(r.Context(), p.Credential.AccessKeyID)
	if err != nil {
		return nil, fmt.Errorf("access key %q: %w", p.Credential.AccessKeyID, err)
	}
	key := signingKeys.signingKey(secret, p.Credential)
	query, err := canonicalQuery(r.URL.RawQuery, QuerySignature)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedQuery, err)
	}
	scope := p.Credential.Scope()
	amzDate := p.Date.Format(amzDateFormat)
	if !matchSignature(r, key, amzDate, scope, query, p.SignedHeaders, p.ContentSHA256, p.Signature) {
		return nil, fmt.Errorf("%w: presigned, access key %q, scope %s", ErrSignatureMismatch, p.Credential.AccessKeyID, scope)
	}
	res := &Result{
		AccessKeyID:   p.Credential.AccessKeyID,
		Presigned:     true,
		Region:        p.Credential.Region,
		ContentSHA256: p.ContentSHA256,
		Date:          p.Date,
		Expires:       p.Date.Add(p.Expires),
		SignedHeaders: p.SignedHeaders,
	}
	attachPlain(r, res, mode, p.ContentSHA256)
	return res, nil
}

// boundBySignature are the x-amz-* headers header authentication accepts
// even when SignedHeaders leaves them out, because their values are part of
// what is signed anyway: x-amz-content-sha256 is the canonical request's
// last line and x-amz-date is in the string to sign, so changing either
// breaks the signature. (The SDKs and CLIs we test list both anyway.)
// Presigned URLs get no exemption: there the payload hash and date come
// from the query, not these headers.
var boundBySignature = []string{"x-amz-content-sha256", "x-amz-date"}

// unsignedAmzHeader returns an x-amz-* request header (lowercased) that is
// neither among signed (lowercase, ascending) nor in exempt, or "".
// "x-amzn-*" (X-Amzn-Trace-Id, added by AWS load balancers and left
// unsigned by every SDK) is another prefix and not matched.
func unsignedAmzHeader(h http.Header, signed, exempt []string) string {
	for name := range h {
		if len(name) < 6 || !strings.EqualFold(name[:6], "x-amz-") {
			continue
		}
		lower := strings.ToLower(name)
		if _, found := slices.BinarySearch(signed, lower); found || slices.Contains(exempt, lower) {
			continue
		}
		return lower
	}
	return ""
}

func checkSkew(t, now time.Time) error {
	d := now.Sub(t)
	if d > MaxSkew || d < -MaxSkew {
		return fmt.Errorf("%w: request time %s, server time %s", ErrTimeSkewed, t.Format(amzDateFormat), now.UTC().Format(amzDateFormat))
	}
	return nil
}

// matchSignature computes the request signature for the S3 canonical URI
// and, failing that, for the path as the client escaped it, and compares
// in constant time.
func matchSignature(r *http.Request, key []byte, amzDate, scope, query string, signed []string, payloadHash, claimed string) bool {
	want := []byte(claimed)
	primary, alt := canonicalURIs(r.URL)
	for _, uri := range []string{primary, alt} {
		if uri == "" {
			continue
		}
		sts := stringToSign(amzDate, scope, canonicalRequest(r, uri, query, signed, payloadHash))
		got := hmacSHA256(key, sts)
		var gotHex [64]byte
		hex.Encode(gotHex[:], got)
		if hmac.Equal(gotHex[:], want) {
			return true
		}
	}
	return false
}

// attachPlain sets Body for a non-chunked payload.
func attachPlain(r *http.Request, res *Result, mode payloadMode, contentSHA256 string) {
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	res.DecodedLength = r.ContentLength
	if r.ContentLength < 0 {
		res.DecodedLength = -1
	}
	res.Trailers = noTrailers
	if mode == payloadHex {
		res.Body = newSHA256Reader(body, contentSHA256)
		return
	}
	res.Body = body
}

func noTrailers() map[string]string { return nil }

// planStream reads the headers that describe an aws-chunked body.
func planStream(r *http.Request, mode payloadMode) (*streamPlan, error) {
	p := &streamPlan{
		signed:  mode != payloadStreamUnsignedTrl,
		trailer: mode != payloadStreamSigned,
	}
	dl := r.Header.Values("X-Amz-Decoded-Content-Length")
	if len(dl) != 1 {
		return nil, fmt.Errorf("%w: want one x-amz-decoded-content-length header for aws-chunked, got %d", ErrDecodedLength, len(dl))
	}
	n, err := strconv.ParseInt(dl[0], 10, 64)
	if err != nil || n < 0 || dl[0][0] == '+' {
		return nil, fmt.Errorf("%w: x-amz-decoded-content-length %.40q", ErrDecodedLength, dl[0])
	}
	p.declared = n
	names, err := parseTrailerHeader(r.Header.Values("X-Amz-Trailer"))
	if err != nil {
		return nil, err
	}
	if len(names) > 0 && !p.trailer {
		return nil, fmt.Errorf("%w: x-amz-trailer needs a STREAMING-*-TRAILER payload, got %s", ErrInvalidContentSHA256, StreamingPayload)
	}
	p.announced = names
	for _, n := range names {
		if !strings.HasPrefix(n, "x-amz-checksum-") {
			continue
		}
		alg, err := checksum.Parse(n)
		if err != nil {
			return nil, fmt.Errorf("%w: x-amz-trailer names %q: %v", ErrBadTrailer, n, err)
		}
		if p.checksum != "" {
			return nil, fmt.Errorf("%w: x-amz-trailer announces two checksums", ErrBadTrailer)
		}
		p.checksum, p.checksumName = alg, n
	}
	return p, nil
}

// maxTrailers bounds how many trailing headers are announced or accepted.
const maxTrailers = 8

// parseTrailerHeader splits the x-amz-trailer values (comma-separated,
// possibly repeated) into lowercase names.
func parseTrailerHeader(vals []string) ([]string, error) {
	var names []string
	for _, v := range vals {
		for n := range strings.SplitSeq(v, ",") {
			n = strings.ToLower(strings.TrimSpace(n))
			if n == "" {
				continue
			}
			for i := 0; i < len(n); i++ {
				if !isTokenLower(n[i]) {
					return nil, fmt.Errorf("%w: x-amz-trailer name %.40q invalid", ErrBadTrailer, n)
				}
			}
			for _, m := range names {
				if m == n {
					return nil, fmt.Errorf("%w: x-amz-trailer names %q twice", ErrBadTrailer, n)
				}
			}
			names = append(names, n)
			if len(names) > maxTrailers {
				return nil, fmt.Errorf("%w: x-amz-trailer announces more than %d trailers", ErrBadTrailer, maxTrailers)
			}
		}
	}
	return names, nil
}

// StripAWSChunked removes the "aws-chunked" coding from a Content-Encoding
// value: it describes the transfer framing this package removes, not the
// stored object, so S3 does not store it.
func StripAWSChunked(contentEncoding string) string {
	var keep []string
	for c := range strings.SplitSeq(contentEncoding, ",") {
		c = strings.TrimSpace(c)
		if c != "" && !strings.EqualFold(c, "aws-chunked") {
			keep = append(keep, c)
		}
	}
	return strings.Join(keep, ",")
}
