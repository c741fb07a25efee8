// Package sigv4 authenticates S3 requests signed with AWS Signature Version 4,
// in every form real clients send: the Authorization header with a hex
// payload hash, UNSIGNED-PAYLOAD, the aws-chunked streaming forms (signed
// chunks, unsigned chunks with trailers, signed chunks with trailers), and
// presigned query strings. It also decodes the aws-chunked framing, so that
// what callers read from Result.Body is exactly the object's bytes, verified
// as they stream.
//
// It knows nothing of buckets or the catalog: the caller supplies a function
// from access key id to secret.
//
// Decisions:
//   - The canonical URI is the decoded path encoded once, as S3 does (no
//     double encoding). If that fails, the path exactly as the client
//     escaped it is tried, for signers that do not normalize; both name
//     the same object, so this widens nothing.
//   - Query pairs are decoded as net/url decodes them ('+' is a space), so
//     what is signed is what the handlers read from r.URL.Query().
//   - Header values are trimmed and runs of spaces collapsed (as S3 and
//     aws-sdk-go-v2 do); host comes from r.Host.
//   - aws-chunked data reaches the caller as it arrives; each chunk's
//     signature, the decoded length, the trailer signature and the trailing
//     checksum are checked as the body ends, and any failure is returned by
//     Read instead of io.EOF. Memory is a 4 KiB buffer whatever the sizes
//     on the wire claim. x-amz-decoded-content-length is required.
//   - Trailer blocks are accepted in both framings real clients produce
//     (CRLF lines, as the AWS SDKs send, and minio-go's LF lines followed by
//     an extra CRLF); the trailer signature covers "name:value\n" lines.
//   - Every x-amz-* header present must be signed (ErrHeadersNotSigned),
//     with header authentication as with presigned URLs: whoever sees a
//     signed request can replay it within MaxSkew with headers added, and
//     whoever holds a presigned URL can add any, so an unsigned x-amz-*
//     header (x-amz-copy-source, x-amz-metadata-directive, …) could change
//     what the request does. Header authentication exempts only
//     x-amz-content-sha256 and x-amz-date, whose values the signature
//     covers whether or not SignedHeaders lists them. Other headers
//     (Content-Type, Range, If-*) need not be signed, as in S3; callers
//     must not let one decide which operation a request is.
//   - Errors carry the access key id and scope, never a secret, a signing
//     key or a signature.
package sigv4

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"
)

// The kinds of authentication failure; the S3 layer maps each to its error
// code. Returned wrapped with detail; test with errors.Is.
var (
	ErrMissingAuth          = errors.New("request is not signed")                                         // AccessDenied
	ErrMalformedAuth        = errors.New("authorization header malformed")                                // AuthorizationHeaderMalformed
	ErrUnsupportedAlgorithm = errors.New("unsupported signing algorithm")                                 // InvalidArgument / AuthorizationHeaderMalformed
	ErrInvalidAccessKeyID   = errors.New("access key id does not exist")                                  // InvalidAccessKeyId
	ErrSignatureMismatch    = errors.New("signature does not match")                                      // SignatureDoesNotMatch
	ErrTimeSkewed           = errors.New("request time too skewed")                                       // RequestTimeTooSkewed
	ErrExpired              = errors.New("request has expired")                                           // AccessDenied "Request has expired"
	ErrHeadersNotSigned     = errors.New("x-amz-* headers present that the signature does not cover")     // AccessDenied
	ErrExpiresTooLarge      = errors.New("presigned expiry exceeds 7 days")                               // AuthorizationQueryParametersError
	ErrMalformedQuery       = errors.New("presigned query parameters malformed")                          // AuthorizationQueryParametersError
	ErrContentSHA256        = errors.New("x-amz-content-sha256 does not match body")                      // XAmzContentSHA256Mismatch
	ErrInvalidContentSHA256 = errors.New("x-amz-content-sha256 value invalid")                            // InvalidArgument
	ErrChunkSignature       = errors.New("chunk signature does not match")                                // SignatureDoesNotMatch
	ErrMalformedChunk       = errors.New("aws-chunked body malformed")                                    // IncompleteBody / InvalidRequest
	ErrBadTrailer           = errors.New("trailing checksum malformed or mismatched")                     // BadDigest / InvalidRequest
	ErrDecodedLength        = errors.New("decoded body length differs from x-amz-decoded-content-length") // IncompleteBody
)

// MaxSkew is how far the request time may be from the server's clock.
const MaxSkew = 15 * time.Minute

// MaxPresignExpiry is the longest X-Amz-Expires accepted.
const MaxPresignExpiry = 7 * 24 * time.Hour

// SecretFunc returns the secret of an access key id, or an error wrapping
// ErrInvalidAccessKeyID when it does not exist.
type SecretFunc func(ctx context.Context, accessKeyID string) (secret string, err error)

// Result is an authenticated request.
type Result struct {
	AccessKeyID string
	Presigned   bool
	// Region is the region named in the credential scope (any is accepted).
	Region string
	// Body yields the payload with any aws-chunked framing removed. Reading
	// it verifies the payload as declared by x-amz-content-sha256: a mismatch
	// surfaces as an error from Read (never io.EOF) before or at the end, so
	// a caller that commits only after a clean io.EOF never stores bad data.
	Body io.Reader
	// DecodedLength is the payload length if known (Content-Length, or
	// x-amz-decoded-content-length for aws-chunked), else -1.
	DecodedLength int64
	// Trailers returns the trailing headers (lowercased names, e.g.
	// "x-amz-checksum-crc32") once Body has returned io.EOF; nil otherwise.
	Trailers func() map[string]string
	// ContentSHA256 is the x-amz-content-sha256 value as sent (or
	// "UNSIGNED-PAYLOAD" for presigned requests).
	ContentSHA256 string
	// TrailerChecksum names the checksum algorithm announced in
	// x-amz-trailer for the STREAMING-*-TRAILER forms: "CRC32", "CRC32C",
	// "CRC64NVME", "SHA1", "SHA256" (the checksum.Algorithm values), or ""
	// when none was announced. Body checks the trailing value against the
	// data before it returns io.EOF (ErrBadTrailer, wrapping
	// checksum.ErrMismatch on a wrong value).
	TrailerChecksum string
	// Date is the signed request time (x-amz-date, Date, or X-Amz-Date).
	Date time.Time
	// Expires is when a presigned URL stops being valid; zero otherwise.
	Expires time.Time
	// SignedHeaders lists the lowercase header names the signature covers.
	SignedHeaders []string
}

// Verify authenticates r at time now using secrets from lookup. On success
// the caller must read the payload from Result.Body, not r.Body.
func Verify(r *http.Request, now time.Time, lookup SecretFunc) (*Result, error) {
	return verify(r, now, lookup)
}
