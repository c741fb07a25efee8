package s3gw

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"syscall"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/objects"
	"excloud.dev/buckets/s3gw/checksum"
	"excloud.dev/buckets/s3gw/sigv4"
)

// ErrorCode names one row of the S3 error table. Handlers return *Error
// values built from these; domain errors are turned into them by toS3Error,
// the only place that knows both vocabularies.
type ErrorCode int

const (
	ErrInternalError ErrorCode = iota // the zero value is the safe default
	ErrAccessDenied
	ErrInvalidAccessKeyID
	ErrSignatureDoesNotMatch
	ErrRequestTimeTooSkewed
	ErrAuthorizationHeaderMalformed
	ErrAuthorizationQueryParametersError
	ErrXAmzContentSHA256Mismatch
	ErrInvalidArgument
	ErrInvalidRequest
	ErrInvalidBucketName
	ErrInvalidDigest
	ErrBadDigest
	ErrIncompleteBody
	ErrKeyTooLong
	ErrMetadataTooLarge
	ErrMalformedXML
	ErrInvalidRange
	ErrNoSuchBucket
	ErrNoSuchKey
	ErrNoSuchUpload
	ErrBucketAlreadyOwnedByYou
	ErrBucketAlreadyExists
	ErrBucketNotEmpty
	ErrPreconditionFailed
	ErrNotModified
	ErrMethodNotAllowed
	ErrNotImplemented
	ErrInsufficientStorage
	ErrSlowDown
	ErrServiceUnavailable
	ErrEntityTooLarge
	ErrMissingContentLength
	ErrRequestTimeout
	ErrInvalidURI
	ErrInvalidPart
	ErrInvalidPartOrder
	ErrEntityTooSmall
	ErrInvalidTag
	ErrBadRequest
	ErrOperationAborted
	ErrInvalidPartNumber
	ErrExpiresTooLarge
)

// errorInfo is one row: the wire code, a default message, the status.
type errorInfo struct {
	Code    string
	Message string
	Status  int
}

// errorTable is the one table of S3 errors this gateway can return. Messages
// follow the meaning of S3's, in our words.
var errorTable = map[ErrorCode]errorInfo{
	ErrInternalError:                     {"InternalError", "We encountered an internal error. Please try again.", http.StatusInternalServerError},
	ErrAccessDenied:                      {"AccessDenied", "Access Denied", http.StatusForbidden},
	ErrInvalidAccessKeyID:                {"InvalidAccessKeyId", "The access key ID you provided does not exist in our records.", http.StatusForbidden},
	ErrSignatureDoesNotMatch:             {"SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.", http.StatusForbidden},
	ErrRequestTimeTooSkewed:              {"RequestTimeTooSkewed", "The difference between the request time and the server's time is too large.", http.StatusForbidden},
	ErrAuthorizationHeaderMalformed:      {"AuthorizationHeaderMalformed", "The authorization header is malformed.", http.StatusBadRequest},
	ErrAuthorizationQueryParametersError: {"AuthorizationQueryParametersError", "The presigned query parameters are malformed.", http.StatusBadRequest},
	ErrXAmzContentSHA256Mismatch:         {"XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.", http.StatusBadRequest},
	ErrInvalidArgument:                   {"InvalidArgument", "Invalid argument.", http.StatusBadRequest},
	ErrInvalidRequest:                    {"InvalidRequest", "Invalid request.", http.StatusBadRequest},
	ErrInvalidBucketName:                 {"InvalidBucketName", "The specified bucket is not valid.", http.StatusBadRequest},
	ErrInvalidDigest:                     {"InvalidDigest", "The Content-MD5 you specified is not valid.", http.StatusBadRequest},
	ErrBadDigest:                         {"BadDigest", "The Content-MD5 or checksum you specified did not match what we received.", http.StatusBadRequest},
	ErrIncompleteBody:                    {"IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.", http.StatusBadRequest},
	ErrKeyTooLong:                        {"KeyTooLongError", "Your key is too long.", http.StatusBadRequest},
	ErrMetadataTooLarge:                  {"MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size.", http.StatusBadRequest},
	ErrMalformedXML:                      {"MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.", http.StatusBadRequest},
	ErrInvalidRange:                      {"InvalidRange", "The requested range is not satisfiable.", http.StatusRequestedRangeNotSatisfiable},
	ErrNoSuchBucket:                      {"NoSuchBucket", "The specified bucket does not exist.", http.StatusNotFound},
	ErrNoSuchKey:                         {"NoSuchKey", "The specified key does not exist.", http.StatusNotFound},
	ErrNoSuchUpload:                      {"NoSuchUpload", "The specified multipart upload does not exist.", http.StatusNotFound},
	ErrBucketAlreadyOwnedByYou:           {"BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.", http.StatusConflict},
	ErrBucketAlreadyExists:               {"BucketAlreadyExists", "The requested bucket name is not available.", http.StatusConflict},
	ErrBucketNotEmpty:                    {"BucketNotEmpty", "The bucket you tried to delete is not empty.", http.StatusConflict},
	ErrPreconditionFailed:                {"PreconditionFailed", "At least one of the preconditions you specified did not hold.", http.StatusPreconditionFailed},
	ErrNotModified:                       {"NotModified", "Not Modified", http.StatusNotModified},
	ErrMethodNotAllowed:                  {"MethodNotAllowed", "The specified method is not allowed against this resource.", http.StatusMethodNotAllowed},
	ErrNotImplemented:                    {"NotImplemented", "A header or query you provided implies functionality that is not implemented.", http.StatusNotImplemented},
	ErrInsufficientStorage:               {"InsufficientStorage", "There is not enough storage space left to complete the request.", http.StatusInsufficientStorage},
	ErrSlowDown:                          {"SlowDown", "Please reduce your request rate.", http.StatusServiceUnavailable},
	ErrServiceUnavailable:                {"ServiceUnavailable", "The service is not available; please retry.", http.StatusServiceUnavailable},
	ErrEntityTooLarge:                    {"EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size.", http.StatusBadRequest},
	ErrMissingContentLength:              {"MissingContentLength", "You must provide the Content-Length HTTP header.", http.StatusLengthRequired},
	ErrRequestTimeout:                    {"RequestTimeout", "Your socket connection to the server was not read from or written to within the timeout period.", http.StatusBadRequest},
	ErrInvalidURI:                        {"InvalidURI", "Couldn't parse the specified URI.", http.StatusBadRequest},
	// Multipart completion. S3 answers all three 400: the client named
	// parts that cannot make an object; retrying the same list cannot help.
	ErrInvalidPart:      {"InvalidPart", "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.", http.StatusBadRequest},
	ErrInvalidPartOrder: {"InvalidPartOrder", "The list of parts was not in ascending order. Parts must be ordered by part number.", http.StatusBadRequest},
	ErrEntityTooSmall:   {"EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size. Each part must be at least 5 MB in size, except the last part.", http.StatusBadRequest},
	// Object tagging. S3 reports too many tags as the generic BadRequest.
	ErrInvalidTag: {"InvalidTag", "The tag you provided is invalid.", http.StatusBadRequest},
	ErrBadRequest: {"BadRequest", "Bad request.", http.StatusBadRequest},
	// GET/HEAD ?partNumber= past the object's parts: S3 answers 400 here,
	// not the 416 of a bad Range.
	// A presigned URL valid for more than a week: S3 refuses it 403, unlike
	// the other malformed presigned queries.
	ErrExpiresTooLarge:   {"AuthorizationQueryParametersError", "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds.", http.StatusForbidden},
	ErrInvalidPartNumber: {"InvalidPartNumber", "The requested partnumber is not satisfiable.", http.StatusBadRequest},
	ErrOperationAborted:  {"OperationAborted", "A conflicting operation is in progress against this resource; please retry.", http.StatusConflict},
}

// Error is an S3 error response a handler decided on. Err, if set, is the
// cause: it goes to the log, never to the client.
type Error struct {
	Code    ErrorCode
	Message string // overrides the table's message when set
	Err     error
	// Header holds extra response headers (Content-Range on 416, ETag and
	// Last-Modified on 304).
	Header map[string]string
}

func (e *Error) Error() string {
	info := errorTable[e.Code]
	msg := e.message()
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", info.Code, msg, e.Err)
	}
	return info.Code + ": " + msg
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) message() string {
	if e.Message != "" {
		return e.Message
	}
	return errorTable[e.Code].Message
}

// s3Err builds an *Error with a specific message.
func s3Err(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// toS3Error maps any error a handler returns onto the table. It is the only
// place domain sentinels (catalog, objects, sigv4, chunkstore, the OS) meet S3
// codes. Anything it does not recognise becomes InternalError; the caller logs
// the cause, and the client sees only the generic message.
func toS3Error(err error) *Error {
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	code, msg := classify(err)
	e := &Error{Code: code, Message: msg, Err: err}
	if errors.Is(err, catalog.ErrUnavailable) || errors.Is(err, chunkstore.ErrUnavailable) {
		// The catalog's database is down or restarting: nothing was
		// stored; SDKs retry SlowDown with back-off, and Retry-After tells
		// others when.
		e.Header = map[string]string{"Retry-After": "1"}
	}
	return e
}

// classify picks the code (and, where the table's message would mislead, a
// message) for a domain error. Order matters only where one error could wrap
// several sentinels; the authentication ones come first because a body read
// failing verification must not be reported as a storage problem.
func classify(err error) (ErrorCode, string) {
	switch {
	// First: any step, the access key's lookup included, may be the one
	// that found the catalog's database unreachable.
	case errors.Is(err, catalog.ErrUnavailable):
		return ErrSlowDown, "The catalog database is unavailable; please retry."
	case errors.Is(err, chunkstore.ErrUnavailable):
		return ErrSlowDown, "The chunk store is unavailable; please retry."
	// Authentication and payload verification.
	case errors.Is(err, sigv4.ErrMissingAuth):
		return ErrAccessDenied, "Anonymous access is not allowed; sign the request with an access key."
	case errors.Is(err, sigv4.ErrExpired):
		return ErrAccessDenied, "Request has expired."
	case errors.Is(err, sigv4.ErrHeadersNotSigned):
		return ErrAccessDenied, "There were headers present in the request which were not signed."
	case errors.Is(err, sigv4.ErrInvalidAccessKeyID), errors.Is(err, catalog.ErrNoSuchKey):
		return ErrInvalidAccessKeyID, ""
	case errors.Is(err, sigv4.ErrSignatureMismatch), errors.Is(err, sigv4.ErrChunkSignature):
		return ErrSignatureDoesNotMatch, ""
	case errors.Is(err, sigv4.ErrTimeSkewed):
		return ErrRequestTimeTooSkewed, ""
	case errors.Is(err, sigv4.ErrMalformedAuth):
		return ErrAuthorizationHeaderMalformed, ""
	case errors.Is(err, sigv4.ErrUnsupportedAlgorithm):
		return ErrInvalidArgument, "Unsupported signing algorithm; only AWS4-HMAC-SHA256 (Signature Version 4) is accepted."
	case errors.Is(err, sigv4.ErrExpiresTooLarge):
		return ErrExpiresTooLarge, "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds."
	case errors.Is(err, sigv4.ErrMalformedQuery):
		return ErrAuthorizationQueryParametersError, ""
	case errors.Is(err, sigv4.ErrContentSHA256):
		return ErrXAmzContentSHA256Mismatch, ""
	case errors.Is(err, sigv4.ErrInvalidContentSHA256):
		return ErrInvalidArgument, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-* or a SHA-256 hex digest."
	case errors.Is(err, sigv4.ErrBadTrailer):
		return ErrBadDigest, "The trailing checksum is malformed or does not match the body."
	case errors.Is(err, sigv4.ErrMalformedChunk), errors.Is(err, sigv4.ErrDecodedLength):
		return ErrIncompleteBody, ""

	// Flexible checksums declared in headers.
	case errors.Is(err, checksum.ErrMismatch):
		return ErrBadDigest, "The checksum you specified did not match the calculated checksum."
	case errors.Is(err, checksum.ErrConflict), errors.Is(err, checksum.ErrUnknownAlgorithm), errors.Is(err, checksum.ErrInvalidValue):
		return ErrInvalidRequest, "The x-amz-checksum-* / x-amz-sdk-checksum-algorithm headers are invalid: " + checksumDetail(err)

	// Object layer.
	case errors.Is(err, objects.ErrBadDigest):
		return ErrBadDigest, ""
	case errors.Is(err, objects.ErrIncompleteBody):
		return ErrIncompleteBody, ""
	case errors.Is(err, objects.ErrInvalidRange):
		return ErrInvalidRange, ""
	case errors.Is(err, objects.ErrInvalidPart):
		return ErrInvalidPart, ""
	case errors.Is(err, objects.ErrInvalidPartOrder):
		return ErrInvalidPartOrder, ""
	case errors.Is(err, objects.ErrEntityTooSmall):
		return ErrEntityTooSmall, ""
	case errors.Is(err, objects.ErrMetadataTooLarge):
		return ErrMetadataTooLarge, ""
	case errors.Is(err, objects.ErrInvalidPartNumber):
		return ErrInvalidArgument, "Part number must be an integer between 1 and 10000, inclusive."

	// Catalog.
	case errors.Is(err, catalog.ErrNoSuchBucket):
		return ErrNoSuchBucket, ""
	case errors.Is(err, catalog.ErrNotFound):
		return ErrNoSuchKey, ""
	case errors.Is(err, catalog.ErrBucketExists):
		// Names are unique per org only, so an existing name is always ours.
		return ErrBucketAlreadyOwnedByYou, ""
	case errors.Is(err, catalog.ErrBucketNotEmpty):
		return ErrBucketNotEmpty, ""
	case errors.Is(err, catalog.ErrPreconditionFailed):
		return ErrPreconditionFailed, ""
	case errors.Is(err, catalog.ErrNoSuchUpload):
		return ErrNoSuchUpload, ""
	case errors.Is(err, catalog.ErrClosed):
		// Shutting down: a retry against the restarted daemon will succeed.
		return ErrServiceUnavailable, ""

	// Chunk store. Corruption is our failure, not the client's: it is an
	// internal error (logged with the chunk), never wrong bytes.
	case errors.Is(err, chunkstore.ErrCorrupt):
		return ErrInternalError, ""

	// Operating system and transport.
	case errors.Is(err, syscall.ENOSPC):
		return ErrInsufficientStorage, ""
	case errors.Is(err, io.ErrUnexpectedEOF):
		// The client stopped sending before the declared length.
		return ErrIncompleteBody, ""
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, os.ErrDeadlineExceeded):
		// os.ErrDeadlineExceeded: the daemon's idle deadline cut off a
		// client that stopped sending its body.
		// Usually the client went away; the response is for the log.
		return ErrRequestTimeout, ""
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return ErrEntityTooLarge, ""
	}
	return ErrInternalError, ""
}

// checksumDetail names which checksum rule a request broke, without echoing
// anything but the sentinel's own text.
func checksumDetail(err error) string {
	for _, e := range []error{checksum.ErrConflict, checksum.ErrUnknownAlgorithm, checksum.ErrInvalidValue} {
		if errors.Is(err, e) {
			return e.Error() + "."
		}
	}
	return "invalid."
}
