package s3gw

import "net/http"

// presignable are the operations a presigned URL may perform besides the
// reads (every GET and HEAD). Uploads are here because that is what web and
// mobile apps need: the app's server signs a URL for one key and the browser
// or phone sends the bytes straight to the gateway. The rest of the write
// API (deletes, copies, bucket changes) stays header-signed only: a URL is
// easily leaked (logs, Referer, browser history) and an upload it allows is
// bounded by the key, the expiry and any headers it binds, a copy or delete
// is not.
//
// A presigned request goes through the same checks as a header-signed one:
// expiry and signature in sigv4 (every x-amz-* header present must be
// signed, so a checksum or metadata the URL did not name cannot be added),
// then authorize (read-only keys and a key's bucket scope). Content-Type and
// Content-MD5 are bound when the presigner listed them in
// X-Amz-SignedHeaders, because the canonical request then carries their
// values; unlisted, the uploader may send any, as in S3.
var presignable = map[Op]bool{
	OpPutObject:               true,
	OpUploadPart:              true,
	OpCompleteMultipartUpload: true,
}

// presignAllowed reports whether a presigned URL may perform op.
func presignAllowed(op Op, method string) bool {
	return method == http.MethodGet || method == http.MethodHead || presignable[op]
}
