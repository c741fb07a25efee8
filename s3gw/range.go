package s3gw

import (
	"errors"
	"math"
	"strings"
)

// byteRange is a resolved, satisfiable range: Length bytes from Start.
type byteRange struct {
	Start, Length int64
}

// errUnsatisfiable: the Range header is well formed but selects no byte of
// the object; the response is 416 with "Content-Range: bytes */size".
var errUnsatisfiable = errors.New("range not satisfiable")

// parseRange resolves a Range header value against an object of size bytes
// (RFC 9110 section 14.1.2).
//
//   - ok=false, err=nil: serve the whole object with 200. This covers an
//     absent header, a unit other than bytes, anything malformed (RFC 9110
//     lets a server ignore a Range it cannot parse), and several ranges,
//     which S3 also ignores rather than sending multipart/byteranges.
//   - err=errUnsatisfiable: 416. A first position at or beyond the size, a
//     suffix of zero bytes, or any range of an empty object.
//   - ok=true: 206 with the range, the last position clamped to size-1 and a
//     suffix longer than the object meaning the whole object.
func parseRange(header string, size int64) (r byteRange, ok bool, err error) {
	unit, spec, found := strings.Cut(strings.TrimSpace(header), "=")
	if !found || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return byteRange{}, false, nil
	}
	spec = strings.TrimSpace(spec)
	if spec == "" || strings.Contains(spec, ",") {
		return byteRange{}, false, nil
	}
	first, last, found := strings.Cut(spec, "-")
	if !found {
		return byteRange{}, false, nil
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)

	if first == "" { // suffix form "-n": the last n bytes
		n, valid := parseDigits(last)
		if !valid {
			return byteRange{}, false, nil
		}
		if n == 0 || size == 0 {
			return byteRange{}, false, errUnsatisfiable
		}
		n = min(n, size)
		return byteRange{Start: size - n, Length: n}, true, nil
	}

	a, valid := parseDigits(first)
	if !valid {
		return byteRange{}, false, nil
	}
	end := size - 1 // "a-" runs to the end
	if last != "" {
		b, valid := parseDigits(last)
		if !valid || b < a {
			return byteRange{}, false, nil
		}
		end = min(b, size-1)
	}
	if a >= size {
		return byteRange{}, false, errUnsatisfiable
	}
	return byteRange{Start: a, Length: end - a + 1}, true, nil
}

// parseDigits parses a non-empty run of ASCII digits (no sign, no spaces).
// Values beyond int64 saturate: "bytes=0-99999999999999999999" is a valid
// request for the whole object, not a malformed one.
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (math.MaxInt64-9)/10 {
			n = math.MaxInt64
			continue
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
