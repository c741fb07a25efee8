package sigv4

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Algorithm is the only signing algorithm accepted (SigV4 with HMAC-SHA256).
// SigV4a (AWS4-ECDSA-P256-SHA256) and SigV2 are refused with
// ErrUnsupportedAlgorithm.
const Algorithm = "AWS4-HMAC-SHA256"

// Service is the only service name accepted in a credential scope.
const Service = "s3"

const (
	amzDateFormat   = "20060102T150405Z"
	scopeDateFormat = "20060102"
	scopeTerminator = "aws4_request"
)

// Credential is the parsed credential scope
// "<access key id>/<yyyymmdd>/<region>/s3/aws4_request".
type Credential struct {
	AccessKeyID string
	Date        string // yyyymmdd, exactly as sent
	Region      string
	Service     string
}

// Scope returns "<date>/<region>/<service>/aws4_request", the credential
// scope as it appears in the string to sign.
func (c Credential) Scope() string {
	return c.Date + "/" + c.Region + "/" + c.Service + "/" + scopeTerminator
}

// ParseCredential parses a Credential= value (header or X-Amz-Credential).
// Errors wrap ErrMalformedAuth.
func ParseCredential(s string) (Credential, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 5 {
		return Credential{}, fmt.Errorf("%w: credential has %d '/'-separated parts, want 5", ErrMalformedAuth, len(parts))
	}
	c := Credential{AccessKeyID: parts[0], Date: parts[1], Region: parts[2], Service: parts[3]}
	if c.AccessKeyID == "" {
		return Credential{}, fmt.Errorf("%w: empty access key id", ErrMalformedAuth)
	}
	if len(c.Date) != 8 {
		return Credential{}, fmt.Errorf("%w: credential date %q is not yyyymmdd", ErrMalformedAuth, c.Date)
	}
	if _, err := time.Parse(scopeDateFormat, c.Date); err != nil {
		return Credential{}, fmt.Errorf("%w: credential date %q is not yyyymmdd", ErrMalformedAuth, c.Date)
	}
	if c.Region == "" {
		return Credential{}, fmt.Errorf("%w: empty region in credential", ErrMalformedAuth)
	}
	if c.Service != Service {
		return Credential{}, fmt.Errorf("%w: credential service %q, want %q", ErrMalformedAuth, c.Service, Service)
	}
	if parts[4] != scopeTerminator {
		return Credential{}, fmt.Errorf("%w: credential must end in %q", ErrMalformedAuth, scopeTerminator)
	}
	return c, nil
}

// Authorization is a parsed "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
// Signature=…" header value.
type Authorization struct {
	Credential    Credential
	SignedHeaders []string // lowercase, strictly ascending, includes "host"
	Signature     string   // 64 lowercase hex digits
}

// ParseAuthorization parses an Authorization header value strictly: exactly
// the three components once each (any order, separated by commas with
// optional spaces), a valid credential scope, a sorted lowercase signed
// header list that includes host, and a 64-hex-digit signature. A value
// that names another algorithm returns ErrUnsupportedAlgorithm; anything
// else that is off returns ErrMalformedAuth with detail.
func ParseAuthorization(h string) (Authorization, error) {
	alg, rest, ok := strings.Cut(h, " ")
	if !ok {
		if h == Algorithm {
			return Authorization{}, fmt.Errorf("%w: no components after algorithm", ErrMalformedAuth)
		}
		// A lone token may be a credential of another scheme: not echoed.
		return Authorization{}, fmt.Errorf("%w: a %d-byte value without scheme components", ErrUnsupportedAlgorithm, len(h))
	}
	if alg != Algorithm {
		return Authorization{}, fmt.Errorf("%w: %.30q", ErrUnsupportedAlgorithm, alg)
	}
	var a Authorization
	var seen [3]bool
	for comp := range strings.SplitSeq(rest, ",") {
		comp = strings.TrimLeft(comp, " ")
		k, v, ok := strings.Cut(comp, "=")
		if !ok {
			return Authorization{}, fmt.Errorf("%w: component %.40q lacks '='", ErrMalformedAuth, comp)
		}
		var err error
		switch k {
		case "Credential":
			if seen[0] {
				return Authorization{}, fmt.Errorf("%w: Credential given twice", ErrMalformedAuth)
			}
			seen[0] = true
			a.Credential, err = ParseCredential(v)
		case "SignedHeaders":
			if seen[1] {
				return Authorization{}, fmt.Errorf("%w: SignedHeaders given twice", ErrMalformedAuth)
			}
			seen[1] = true
			a.SignedHeaders, err = parseSignedHeaders(v)
		case "Signature":
			if seen[2] {
				return Authorization{}, fmt.Errorf("%w: Signature given twice", ErrMalformedAuth)
			}
			seen[2] = true
			a.Signature, err = parseSignature(v)
		default:
			return Authorization{}, fmt.Errorf("%w: unknown component %.40q", ErrMalformedAuth, k)
		}
		if err != nil {
			return Authorization{}, err
		}
	}
	switch {
	case !seen[0]:
		return Authorization{}, fmt.Errorf("%w: missing Credential", ErrMalformedAuth)
	case !seen[1]:
		return Authorization{}, fmt.Errorf("%w: missing SignedHeaders", ErrMalformedAuth)
	case !seen[2]:
		return Authorization{}, fmt.Errorf("%w: missing Signature", ErrMalformedAuth)
	}
	return a, nil
}

// parseSignedHeaders checks the list is what a signer produces: lowercase
// token names, strictly ascending (so no duplicates), host included. Being
// strict here costs nothing with real clients and keeps the canonical
// request unambiguous.
func parseSignedHeaders(v string) ([]string, error) {
	if v == "" {
		return nil, fmt.Errorf("%w: empty SignedHeaders", ErrMalformedAuth)
	}
	names := strings.Split(v, ";")
	host := false
	for i, n := range names {
		if n == "" {
			return nil, fmt.Errorf("%w: empty name in SignedHeaders", ErrMalformedAuth)
		}
		for j := 0; j < len(n); j++ {
			if !isTokenLower(n[j]) {
				return nil, fmt.Errorf("%w: SignedHeaders name %.40q is not a lowercase header name", ErrMalformedAuth, n)
			}
		}
		if i > 0 && names[i-1] >= n {
			return nil, fmt.Errorf("%w: SignedHeaders not sorted or has duplicates at %.40q", ErrMalformedAuth, n)
		}
		if n == "host" {
			host = true
		}
	}
	if !host {
		return nil, fmt.Errorf("%w: SignedHeaders must include host", ErrMalformedAuth)
	}
	return names, nil
}

// isTokenLower reports whether c may appear in a lowercase HTTP header name
// (RFC 9110 tchar without upper-case letters).
func isTokenLower(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func parseSignature(v string) (string, error) {
	if len(v) != 64 || !isLowerHex(v) {
		return "", fmt.Errorf("%w: signature is not 64 lowercase hex digits", ErrMalformedAuth)
	}
	return v, nil
}

func isLowerHex[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Query parameter names of presigned (query string) authentication.
const (
	QueryAlgorithm     = "X-Amz-Algorithm"
	QueryCredential    = "X-Amz-Credential"
	QueryDate          = "X-Amz-Date"
	QueryExpires       = "X-Amz-Expires"
	QuerySignedHeaders = "X-Amz-SignedHeaders"
	QuerySignature     = "X-Amz-Signature"
	QueryContentSHA256 = "X-Amz-Content-Sha256"
)

// Presign is parsed presigned-URL authentication.
type Presign struct {
	Authorization
	Date    time.Time     // X-Amz-Date
	Expires time.Duration // X-Amz-Expires, 1s..MaxPresignExpiry
	// ContentSHA256 is X-Amz-Content-Sha256 if present, else
	// "UNSIGNED-PAYLOAD".
	ContentSHA256 string
}

// ParsePresignQuery parses the authentication parameters of a presigned
// URL from its decoded query. Every parameter must appear exactly once.
// Errors wrap ErrMalformedQuery (or ErrUnsupportedAlgorithm,
// ErrExpiresTooLarge). Time checks against the clock are left to Verify.
func ParsePresignQuery(q url.Values) (Presign, error) {
	get := func(k string) (string, error) {
		vs := q[k]
		switch len(vs) {
		case 0:
			return "", fmt.Errorf("%w: missing %s", ErrMalformedQuery, k)
		case 1:
			return vs[0], nil
		}
		return "", fmt.Errorf("%w: %s given %d times", ErrMalformedQuery, k, len(vs))
	}
	var p Presign
	alg, err := get(QueryAlgorithm)
	if err != nil {
		return p, err
	}
	if alg != Algorithm {
		return p, fmt.Errorf("%w: %.40q", ErrUnsupportedAlgorithm, alg)
	}
	cred, err := get(QueryCredential)
	if err != nil {
		return p, err
	}
	if p.Credential, err = ParseCredential(cred); err != nil {
		return p, requery(err)
	}
	date, err := get(QueryDate)
	if err != nil {
		return p, err
	}
	if p.Date, err = parseAmzDate(date); err != nil {
		return p, requery(err)
	}
	if p.Date.Format(scopeDateFormat) != p.Credential.Date {
		return p, fmt.Errorf("%w: credential date %s differs from X-Amz-Date day", ErrMalformedQuery, p.Credential.Date)
	}
	exp, err := get(QueryExpires)
	if err != nil {
		return p, err
	}
	if p.Expires, err = parseExpires(exp); err != nil {
		return p, err
	}
	sh, err := get(QuerySignedHeaders)
	if err != nil {
		return p, err
	}
	if p.SignedHeaders, err = parseSignedHeaders(sh); err != nil {
		return p, requery(err)
	}
	sig, err := get(QuerySignature)
	if err != nil {
		return p, err
	}
	if p.Signature, err = parseSignature(sig); err != nil {
		// A signature of the wrong shape cannot match: S3 says so (403)
		// rather than calling the query malformed.
		return p, fmt.Errorf("%w: %s", ErrSignatureMismatch, strings.TrimPrefix(err.Error(), ErrMalformedAuth.Error()+": "))
	}
	p.ContentSHA256 = UnsignedPayload
	if vs, ok := q[QueryContentSHA256]; ok {
		if len(vs) != 1 {
			return p, fmt.Errorf("%w: %s given %d times", ErrMalformedQuery, QueryContentSHA256, len(vs))
		}
		p.ContentSHA256 = vs[0]
	}
	return p, nil
}

// requery turns a shared ErrMalformedAuth parse error into the query form,
// keeping its detail.
func requery(err error) error {
	msg := strings.TrimPrefix(err.Error(), ErrMalformedAuth.Error()+": ")
	return fmt.Errorf("%w: %s", ErrMalformedQuery, msg)
}

// parseExpires reads X-Amz-Expires. As from S3, a value out of range is
// refused 403 and malformed only when it is not a number at all: zero or
// negative seconds is a URL expired when it was made (ErrExpired), more
// than MaxPresignExpiry, however many digits, is ErrExpiresTooLarge.
func parseExpires(s string) (time.Duration, error) {
	digits, neg := strings.CutPrefix(s, "-")
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, fmt.Errorf("%w: X-Amz-Expires %.20q is not a number of seconds", ErrMalformedQuery, s)
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	switch {
	case neg || (err == nil && n < 1):
		return 0, fmt.Errorf("%w: X-Amz-Expires %.20q must be at least 1", ErrExpired, s)
	case err != nil || n > int64(MaxPresignExpiry/time.Second):
		return 0, fmt.Errorf("%w: X-Amz-Expires %.20q s", ErrExpiresTooLarge, s)
	}
	return time.Duration(n) * time.Second, nil
}

// parseAmzDate parses the ISO 8601 basic form SigV4 uses. Errors wrap
// ErrMalformedAuth.
func parseAmzDate(s string) (time.Time, error) {
	if len(s) != len(amzDateFormat) {
		return time.Time{}, fmt.Errorf("%w: date %.40q is not yyyymmddThhmmssZ", ErrMalformedAuth, s)
	}
	t, err := time.Parse(amzDateFormat, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: date %.40q is not yyyymmddThhmmssZ", ErrMalformedAuth, s)
	}
	return t, nil
}
