// Package checksum owns S3's flexible checksums: the algorithm names and
// header spellings (x-amz-checksum-*, x-amz-sdk-checksum-algorithm), their
// base64 wire values, a reader that computes the requested checksums in
// one pass as an upload streams, and the multipart forms
// (composite "sum-of-sums-N" and full-object CRC combination).
//
// It knows nothing of HTTP handlers or storage; the S3 layer maps ErrMismatch
// to BadDigest and the header errors to InvalidRequest.
package checksum

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"net/http"
	"strings"

	"github.com/minio/crc64nvme"
)

// Algorithm names a checksum algorithm as S3 spells it in
// x-amz-sdk-checksum-algorithm and ChecksumAlgorithm XML elements.
type Algorithm string

// The algorithms S3 supports for x-amz-checksum-*.
const (
	CRC32     Algorithm = "CRC32"     // IEEE
	CRC32C    Algorithm = "CRC32C"    // Castagnoli
	CRC64NVME Algorithm = "CRC64NVME" // NVMe polynomial, reflected
	SHA1      Algorithm = "SHA1"
	SHA256    Algorithm = "SHA256"
)

// Algorithms lists every supported algorithm.
var Algorithms = []Algorithm{CRC32, CRC32C, CRC64NVME, SHA1, SHA256}

// Errors; returned wrapped with detail.
var (
	ErrUnknownAlgorithm = errors.New("unknown checksum algorithm")
	ErrInvalidValue     = errors.New("checksum value malformed") // not base64 or wrong length
	ErrMismatch         = errors.New("checksum does not match data")
	ErrConflict         = errors.New("conflicting checksum headers")
)

// HeaderPrefix starts every checksum header name.
const HeaderPrefix = "x-amz-checksum-"

// SDKAlgorithmHeader is the header in which SDKs name the algorithm they
// used (and, with trailers, will send).
const SDKAlgorithmHeader = "x-amz-sdk-checksum-algorithm"

// crc64NVMETable is the reflected form of the NVMe CRC-64 polynomial
// 0xad93d23594c93659 that S3 calls CRC64NVME.
var crc64NVMETable = crc64.MakeTable(0x9a6c9329ac4bc9b5)

var crc32CTable = crc32.MakeTable(crc32.Castagnoli)

// Parse accepts an algorithm name in any case, either bare ("crc32",
// "CRC64NVME", as in x-amz-sdk-checksum-algorithm) or as its header name
// ("x-amz-checksum-crc32").
func Parse(name string) (Algorithm, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	n = strings.TrimPrefix(n, strings.ToUpper(HeaderPrefix))
	for _, a := range Algorithms {
		if string(a) == n {
			return a, nil
		}
	}
	return "", fmt.Errorf("%w: %.40q", ErrUnknownAlgorithm, name)
}

// Size is the length in bytes of a's raw checksum, or 0 if a is unknown.
func (a Algorithm) Size() int {
	switch a {
	case CRC32, CRC32C:
		return 4
	case CRC64NVME:
		return 8
	case SHA1:
		return sha1.Size
	case SHA256:
		return sha256.Size
	}
	return 0
}

// Valid reports whether a is one of the supported algorithms.
func (a Algorithm) Valid() bool { return a.Size() != 0 }

// New returns a fresh hash for a. The CRCs produce big-endian sums, the
// byte order S3 base64-encodes. It panics on an algorithm that did not come
// from Parse or the constants: that is a programming error.
func New(a Algorithm) hash.Hash {
	switch a {
	case CRC32:
		return crc32.NewIEEE()
	case CRC32C:
		return crc32.New(crc32CTable)
	case CRC64NVME:
		// The carry-less-multiply implementation: about ten times the
		// stdlib table's speed, and S3 computes this checksum for every
		// upload that declares none, so it is on the path of every PUT.
		return crc64nvme.New()
	case SHA1:
		return sha1.New()
	case SHA256:
		return sha256.New()
	}
	panic(fmt.Sprintf("checksum.New: unknown algorithm %q", string(a)))
}

// HeaderName is the request/response header carrying a's value, e.g.
// "x-amz-checksum-crc64nvme".
func HeaderName(a Algorithm) string {
	return HeaderPrefix + strings.ToLower(string(a))
}

// Sum computes a over data.
func Sum(a Algorithm, data []byte) []byte {
	h := New(a)
	h.Write(data)
	return h.Sum(nil)
}

// Encode is the wire form of a raw checksum: standard padded base64.
func Encode(sum []byte) string {
	return base64.StdEncoding.EncodeToString(sum)
}

// Decode parses a base64 checksum value of algorithm a, checking its
// length. Errors wrap ErrInvalidValue.
func Decode(a Algorithm, value string) ([]byte, error) {
	if !a.Valid() {
		return nil, fmt.Errorf("%w: %q", ErrUnknownAlgorithm, string(a))
	}
	// Base64 of n bytes is 4*ceil(n/3) characters; checking first keeps a
	// hostile value from costing a large allocation.
	if want := base64.StdEncoding.EncodedLen(a.Size()); len(value) != want {
		return nil, fmt.Errorf("%w: %s value is %d characters, want %d", ErrInvalidValue, a, len(value), want)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(value)
	if err != nil || len(b) != a.Size() {
		return nil, fmt.Errorf("%w: %s value %.60q is not base64 of %d bytes", ErrInvalidValue, a, value, a.Size())
	}
	return b, nil
}

// FromHeaders finds the one checksum a request declares. It returns ""
// and no error when there is none. More than one x-amz-checksum-* header,
// an unknown algorithm, or an x-amz-sdk-checksum-algorithm that names a
// different algorithm than the header present is an error (ErrConflict or
// ErrUnknownAlgorithm); a malformed value is ErrInvalidValue. With only
// x-amz-sdk-checksum-algorithm (the value follows as a trailer), the
// algorithm is returned with an empty value.
//
// x-amz-checksum-type (COMPOSITE / FULL_OBJECT), x-amz-checksum-algorithm
// (CreateMultipartUpload) and x-amz-checksum-mode (GetObject) are not
// values and are ignored here.
func FromHeaders(h http.Header) (alg Algorithm, value string, err error) {
	for k, vs := range h {
		lk := strings.ToLower(k)
		if !strings.HasPrefix(lk, HeaderPrefix) || notValueHeaders[lk] {
			continue
		}
		a, err := Parse(lk)
		if err != nil {
			return "", "", err
		}
		if alg != "" || len(vs) != 1 {
			return "", "", fmt.Errorf("%w: more than one x-amz-checksum-* header", ErrConflict)
		}
		alg, value = a, vs[0]
	}
	if sdk := h.Values(SDKAlgorithmHeader); len(sdk) > 0 {
		if len(sdk) > 1 {
			return "", "", fmt.Errorf("%w: %d %s headers", ErrConflict, len(sdk), SDKAlgorithmHeader)
		}
		a, err := Parse(sdk[0])
		if err != nil {
			return "", "", err
		}
		if alg != "" && a != alg {
			return "", "", fmt.Errorf("%w: %s says %s but %s is present", ErrConflict, SDKAlgorithmHeader, a, HeaderName(alg))
		}
		alg = a
	}
	if value != "" {
		if _, err := Decode(alg, value); err != nil {
			return "", "", err
		}
	}
	return alg, value, nil
}

var notValueHeaders = map[string]bool{
	"x-amz-checksum-type":      true,
	"x-amz-checksum-algorithm": true,
	"x-amz-checksum-mode":      true,
}
