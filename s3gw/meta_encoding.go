package s3gw

import (
	"mime"
	"strings"
)

// User metadata travels in HTTP headers, which carry bytes but no charset.
// S3's rule, which clients are written against: a value sent as RFC 2047
// encoded words ("=?UTF-8?B?...?=") is decoded before it is stored, any
// other value is stored as the bytes sent; on the way out a value that is
// not plain ASCII is RFC 2047-encoded (UTF-8, base64), so every client can
// carry it whatever charset its HTTP library assumes for headers. The
// mount's user.* xattrs read and write the stored bytes.

var metaWordDecoder = mime.WordDecoder{}

// decodeMetaValue undoes RFC 2047 encoded words; a value that is not one, or
// does not decode (an unknown charset, bad base64), is kept as sent.
func decodeMetaValue(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	d, err := metaWordDecoder.DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}

// encodeMetaValue makes a stored value safe for a response header.
func encodeMetaValue(v string) string {
	for i := 0; i < len(v); i++ {
		if v[i] >= 0x80 {
			// Go writes "?b?"; S3 writes "?B?", and clients that match
			// the prefix literally expect that.
			return strings.ReplaceAll(mime.BEncoding.Encode("UTF-8", v), "=?UTF-8?b?", "=?UTF-8?B?")
		}
	}
	return v
}
