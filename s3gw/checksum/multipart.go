package checksum

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// Multipart objects. S3 offers two checksum types:
//
//   - COMPOSITE (CRC32, CRC32C, SHA1, SHA256): the checksum of the
//     concatenated raw part checksums, reported as "base64-N". Composite
//     computes it.
//   - FULL_OBJECT (CRC32, CRC32C, CRC64NVME): the CRC of the whole object,
//     as if uploaded in one piece. CRC64NVME is only ever full-object. A CRC
//     of a concatenation follows from the parts' CRCs and lengths alone, so
//     FullObject computes it at CompleteMultipartUpload without re-reading
//     any data (the zlib crc32_combine method: shift the first CRC by the
//     second part's length, in GF(2) modulo the polynomial, then xor).

// Composite returns S3's composite multipart checksum
// "base64(H(sum1 || sum2 || ...))-N" for raw part sums of algorithm a.
// CRC64NVME has no composite form in S3 (use FullObject).
func Composite(a Algorithm, partSums [][]byte) (string, error) {
	if a == CRC64NVME {
		return "", fmt.Errorf("%w: CRC64NVME supports only full-object multipart checksums", ErrUnknownAlgorithm)
	}
	if !a.Valid() {
		return "", fmt.Errorf("%w: %q", ErrUnknownAlgorithm, string(a))
	}
	h := New(a)
	for i, s := range partSums {
		if len(s) != a.Size() {
			return "", fmt.Errorf("%w: part %d %s checksum is %d bytes, want %d", ErrInvalidValue, i+1, a, len(s), a.Size())
		}
		h.Write(s)
	}
	return Encode(h.Sum(nil)) + "-" + strconv.Itoa(len(partSums)), nil
}

// Part is one part's raw CRC and length, for FullObject.
type Part struct {
	Sum  []byte
	Size int64
}

// FullObject combines the parts' CRCs (CRC32, CRC32C or CRC64NVME) into
// the CRC of their concatenation, returned raw.
func FullObject(a Algorithm, parts []Part) ([]byte, error) {
	spec, ok := crcSpecs[a]
	if !ok {
		return nil, fmt.Errorf("%w: full-object checksums need a CRC, not %q", ErrUnknownAlgorithm, string(a))
	}
	size := a.Size()
	acc := New(a).Sum(nil) // CRC of no bytes
	crc := spec.get(acc)
	for i, p := range parts {
		if len(p.Sum) != size || p.Size < 0 {
			return nil, fmt.Errorf("%w: part %d %s checksum is %d bytes (size %d)", ErrInvalidValue, i+1, a, len(p.Sum), p.Size)
		}
		crc = spec.combine(crc, spec.get(p.Sum), p.Size)
	}
	return spec.put(crc), nil
}

// crcSpec describes a reflected CRC with all-ones init and final xor, as
// Go's hash/crc32 and hash/crc64 implement them.
type crcSpec struct {
	width uint   // 32 or 64
	poly  uint64 // reflected polynomial
	x2n   [64]uint64
}

var crcSpecs = map[Algorithm]*crcSpec{
	CRC32:     newCRCSpec(32, 0xedb88320),
	CRC32C:    newCRCSpec(32, 0x82f63b78),
	CRC64NVME: newCRCSpec(64, 0x9a6c9329ac4bc9b5),
}

func newCRCSpec(width uint, poly uint64) *crcSpec {
	s := &crcSpec{width: width, poly: poly}
	p := uint64(1) << (width - 2) // x^1
	for i := range s.x2n {
		s.x2n[i] = p // x^(2^i)
		p = s.mulmod(p, p)
	}
	return s
}

// mulmod multiplies a and b modulo the polynomial; bit width-1 is x^0.
func (s *crcSpec) mulmod(a, b uint64) uint64 {
	if a == 0 {
		return 0
	}
	m := uint64(1) << (s.width - 1)
	var p uint64
	for {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				return p
			}
		}
		m >>= 1
		if b&1 != 0 {
			b = b>>1 ^ s.poly
		} else {
			b >>= 1
		}
	}
}

// x8n returns x^(8n) modulo the polynomial: the shift for n bytes.
func (s *crcSpec) x8n(n int64) uint64 {
	p := uint64(1) << (s.width - 1) // x^0
	k := 3                          // 8n = n * 2^3
	for n > 0 {
		if n&1 != 0 {
			p = s.mulmod(s.x2n[k&63], p)
		}
		n >>= 1
		k++
	}
	return p
}

// combine returns the CRC of A||B from crc(A), crc(B) and len(B).
func (s *crcSpec) combine(crcA, crcB uint64, lenB int64) uint64 {
	return s.mulmod(s.x8n(lenB), crcA) ^ crcB
}

func (s *crcSpec) get(b []byte) uint64 {
	if s.width == 32 {
		return uint64(binary.BigEndian.Uint32(b))
	}
	return binary.BigEndian.Uint64(b)
}

func (s *crcSpec) put(v uint64) []byte {
	if s.width == 32 {
		return binary.BigEndian.AppendUint32(nil, uint32(v))
	}
	return binary.BigEndian.AppendUint64(nil, v)
}
