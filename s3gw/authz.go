package s3gw

import "excloud.dev/buckets/catalog"

// Authorize applies to key k the rule every S3 request is held to: read-only
// keys may not run an operation that writes, and keys limited to some
// buckets may touch only those. Other front doors (the web console) call it
// so that a key is worth exactly as much there as over S3. The error, when
// not nil, is an AccessDenied; ErrorInfo renders it.
func Authorize(k catalog.AccessKey, op Op, bucket string) error {
	return authorize(k, op, bucket)
}

// BucketAllowed reports whether k may see bucket at all; ListBuckets keeps
// only those.
func BucketAllowed(k catalog.AccessKey, bucket string) bool { return bucketAllowed(k, bucket) }

// IsWrite reports whether op is denied to read-only keys.
func (o Op) IsWrite() bool { return opTable[o].write }

// ErrorInfo returns the S3 error code, message and HTTP status the gateway
// answers err with: the one table of domain errors to S3 codes (classify),
// for front doors that speak another wire format. An unrecognised error is
// InternalError with the generic message, never err's own text.
func ErrorInfo(err error) (code, message string, status int) {
	se := toS3Error(err)
	info, ok := errorTable[se.Code]
	if !ok {
		info = errorTable[ErrInternalError]
		return info.Code, info.Message, info.Status
	}
	if se.Code == ErrInternalError {
		return info.Code, info.Message, info.Status
	}
	return info.Code, se.message(), info.Status
}
