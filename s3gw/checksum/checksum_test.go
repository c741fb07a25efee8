package checksum_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"testing"
	"testing/iotest"

	"github.com/minio/crc64nvme"

	"excloud.dev/buckets/s3gw/checksum"
)

// Vectors computed independently of Go (Python's zlib and hashlib, and a
// bitwise CRC from the catalogue parameters); the "123456789" CRCs are the
// catalogue check values (CRC-32/ISO-HDLC, CRC-32/ISCSI, CRC-64/NVME).
var vectors = []struct {
	in   string
	want map[checksum.Algorithm]string
}{
	{"hello world", map[checksum.Algorithm]string{
		checksum.CRC32:     "DUoRhQ==",
		checksum.CRC32C:    "yZRlqg==",
		checksum.CRC64NVME: "jSnVw/bqjr4=",
		checksum.SHA1:      "Kq5sNclPz7QV2+lfQIuc6R7oRu0=",
		checksum.SHA256:    "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=",
	}},
	{"123456789", map[checksum.Algorithm]string{
		checksum.CRC32:     "y/Q5Jg==",     // 0xcbf43926
		checksum.CRC32C:    "4waSgw==",     // 0xe3069283
		checksum.CRC64NVME: "rosUhgp5mIg=", // 0xae8b14860a799888
		checksum.SHA1:      "98O8HYCOBHMq32eZZczDTKeuNEE=",
		checksum.SHA256:    "FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU=",
	}},
	{"", map[checksum.Algorithm]string{
		checksum.CRC32:     "AAAAAA==",
		checksum.CRC32C:    "AAAAAA==",
		checksum.CRC64NVME: "AAAAAAAAAAA=",
		checksum.SHA1:      "2jmj7l5rSw0yVb/vlWAYkK/YBwk=",
		checksum.SHA256:    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
	}},
}

func TestVectors(t *testing.T) {
	for _, v := range vectors {
		for alg, want := range v.want {
			if got := checksum.Encode(checksum.Sum(alg, []byte(v.in))); got != want {
				t.Errorf("%s(%q) = %s, want %s", alg, v.in, got, want)
			}
			if n := len(checksum.Sum(alg, nil)); n != alg.Size() {
				t.Errorf("%s: sum is %d bytes, Size says %d", alg, n, alg.Size())
			}
		}
	}
}

// TestCRC64NVMEMatchesMinio cross-checks the stdlib table against
// minio's independent CRC64NVME implementation on random data.
func TestCRC64NVMEMatchesMinio(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 7, 64, 1000, 100_000} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		h := crc64nvme.New()
		h.Write(b)
		if got, want := checksum.Sum(checksum.CRC64NVME, b), h.Sum(nil); !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: %x, minio %x", n, got, want)
		}
	}
}

func TestParseAndHeaderName(t *testing.T) {
	ok := map[string]checksum.Algorithm{
		"CRC32": checksum.CRC32, "crc32": checksum.CRC32, "x-amz-checksum-crc32": checksum.CRC32,
		"X-Amz-Checksum-Crc32c": checksum.CRC32C, "CRC32C": checksum.CRC32C,
		"crc64nvme": checksum.CRC64NVME, "x-amz-checksum-crc64nvme": checksum.CRC64NVME,
		"SHA1": checksum.SHA1, "sha256": checksum.SHA256, " SHA256 ": checksum.SHA256,
	}
	for in, want := range ok {
		got, err := checksum.Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MD5", "crc64", "x-amz-checksum-", "sha512", "x-amz-checksum-type", "CRC32CC"} {
		if _, err := checksum.Parse(in); !errors.Is(err, checksum.ErrUnknownAlgorithm) {
			t.Errorf("Parse(%q): %v", in, err)
		}
	}
	if got := checksum.HeaderName(checksum.CRC64NVME); got != "x-amz-checksum-crc64nvme" {
		t.Errorf("HeaderName = %q", got)
	}
	for _, a := range checksum.Algorithms {
		if b, err := checksum.Parse(checksum.HeaderName(a)); err != nil || a != b {
			t.Errorf("round trip %s: %s %v", a, b, err)
		}
	}
}

func TestDecode(t *testing.T) {
	if b, err := checksum.Decode(checksum.CRC32, "DUoRhQ=="); err != nil || len(b) != 4 {
		t.Fatalf("%x %v", b, err)
	}
	bad := []struct {
		alg checksum.Algorithm
		v   string
	}{
		{checksum.CRC32, ""},
		{checksum.CRC32, "DUoRhQ="},
		{checksum.CRC32, "DUoRhQ=A"},
		{checksum.CRC32, "DUoRhQ!="},
		{checksum.CRC32, "DUoRhQ==DUoRhQ=="},
		{checksum.CRC32, "DUoRhR=="}, // non-canonical padding bits
		{checksum.CRC64NVME, "DUoRhQ=="},
		{checksum.SHA256, "Kq5sNclPz7QV2+lfQIuc6R7oRu0="},
	}
	for _, b := range bad {
		if _, err := checksum.Decode(b.alg, b.v); !errors.Is(err, checksum.ErrInvalidValue) {
			t.Errorf("Decode(%s, %q): %v", b.alg, b.v, err)
		}
	}
	if _, err := checksum.Decode("MD4", "AAAA"); !errors.Is(err, checksum.ErrUnknownAlgorithm) {
		t.Errorf("unknown algorithm: %v", err)
	}
}

func TestFromHeaders(t *testing.T) {
	cases := []struct {
		name    string
		h       http.Header
		alg     checksum.Algorithm
		val     string
		wantErr error
	}{
		{"none", http.Header{"Content-Type": {"x"}}, "", "", nil},
		{"one", http.Header{"X-Amz-Checksum-Crc32": {"DUoRhQ=="}}, checksum.CRC32, "DUoRhQ==", nil},
		{"matching sdk", http.Header{"X-Amz-Checksum-Crc32c": {"yZRlqg=="}, "X-Amz-Sdk-Checksum-Algorithm": {"CRC32C"}}, checksum.CRC32C, "yZRlqg==", nil},
		{"sdk only (trailer)", http.Header{"X-Amz-Sdk-Checksum-Algorithm": {"crc64nvme"}}, checksum.CRC64NVME, "", nil},
		{"mode is not a value", http.Header{"X-Amz-Checksum-Mode": {"ENABLED"}}, "", "", nil},
		{"type is not a value", http.Header{"X-Amz-Checksum-Type": {"FULL_OBJECT"}, "X-Amz-Checksum-Crc32": {"DUoRhQ=="}}, checksum.CRC32, "DUoRhQ==", nil},
		{"two headers", http.Header{"X-Amz-Checksum-Crc32": {"DUoRhQ=="}, "X-Amz-Checksum-Crc32c": {"yZRlqg=="}}, "", "", checksum.ErrConflict},
		{"repeated header", http.Header{"X-Amz-Checksum-Crc32": {"DUoRhQ==", "DUoRhQ=="}}, "", "", checksum.ErrConflict},
		{"sdk disagrees", http.Header{"X-Amz-Checksum-Crc32": {"DUoRhQ=="}, "X-Amz-Sdk-Checksum-Algorithm": {"SHA256"}}, "", "", checksum.ErrConflict},
		{"two sdk", http.Header{"X-Amz-Sdk-Checksum-Algorithm": {"SHA256", "SHA1"}}, "", "", checksum.ErrConflict},
		{"unknown header alg", http.Header{"X-Amz-Checksum-Md5": {"XrY7u+Ae7tCTyyK7j1rNww=="}}, "", "", checksum.ErrUnknownAlgorithm},
		{"unknown sdk alg", http.Header{"X-Amz-Sdk-Checksum-Algorithm": {"XXHASH"}}, "", "", checksum.ErrUnknownAlgorithm},
		{"bad value", http.Header{"X-Amz-Checksum-Sha1": {"DUoRhQ=="}}, "", "", checksum.ErrInvalidValue},
	}
	for _, tc := range cases {
		alg, val, err := checksum.FromHeaders(tc.h)
		if !errors.Is(err, tc.wantErr) || alg != tc.alg || val != tc.val {
			t.Errorf("%s: got %q %q %v; want %q %q %v", tc.name, alg, val, err, tc.alg, tc.val, tc.wantErr)
		}
	}
}

func TestReader(t *testing.T) {
	for _, v := range vectors {
		for _, wrap := range []func(io.Reader) io.Reader{iotest.OneByteReader, iotest.HalfReader, iotest.DataErrReader} {
			cr := checksum.NewReader(wrap(bytes.NewReader([]byte(v.in))), checksum.Algorithms...)
			got, err := io.ReadAll(cr)
			if err != nil || string(got) != v.in || !cr.Done() || cr.Size() != int64(len(v.in)) {
				t.Fatalf("%q: read %q, %v", v.in, got, err)
			}
			for alg, want := range v.want {
				if err := cr.Verify(alg, want); err != nil {
					t.Errorf("%q %s: %v", v.in, alg, err)
				}
				if got := cr.Sums()[alg]; got != want {
					t.Errorf("%q %s: Sums %s", v.in, alg, got)
				}
			}
		}
	}
	cr := checksum.NewReader(bytes.NewReader([]byte("hello world")), checksum.SHA256)
	io.Copy(io.Discard, cr)
	if err := cr.Verify(checksum.SHA256, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="); !errors.Is(err, checksum.ErrMismatch) {
		t.Errorf("wrong sha256: %v", err)
	}
	if err := cr.Verify(checksum.CRC32, "DUoRhQ=="); !errors.Is(err, checksum.ErrUnknownAlgorithm) {
		t.Errorf("not requested: %v", err)
	}
}

func TestComposite(t *testing.T) {
	parts := func(alg checksum.Algorithm) [][]byte {
		return [][]byte{checksum.Sum(alg, []byte("hello ")), checksum.Sum(alg, []byte("world"))}
	}
	// Expected values computed with Python (hashlib, zlib).
	for alg, want := range map[checksum.Algorithm]string{
		checksum.SHA256: "Zhie15keHg/OBlOZxcoF/BXCgYZaeimRvdZnwUZqkaQ=-2",
		checksum.CRC32:  "1Fu2mQ==-2",
	} {
		got, err := checksum.Composite(alg, parts(alg))
		if err != nil || got != want {
			t.Errorf("%s: %s %v, want %s", alg, got, err, want)
		}
	}
	if _, err := checksum.Composite(checksum.CRC64NVME, parts(checksum.CRC64NVME)); err == nil {
		t.Error("CRC64NVME composite accepted")
	}
	if _, err := checksum.Composite(checksum.SHA1, [][]byte{{1, 2}}); !errors.Is(err, checksum.ErrInvalidValue) {
		t.Errorf("short part sum: %v", err)
	}
}

// TestFullObject checks that combining part CRCs equals the CRC of the
// concatenated data, for random splits including empty parts.
func TestFullObject(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 300_000)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, alg := range []checksum.Algorithm{checksum.CRC32, checksum.CRC32C, checksum.CRC64NVME} {
		for trial := range 20 {
			var parts []checksum.Part
			for off := 0; off < len(data); {
				n := min(len(data)-off, rng.IntN(70_000))
				if trial == 0 {
					n = min(len(data)-off, 1) // many one-byte parts... and then the rest
					if off > 100 {
						n = len(data) - off
					}
				}
				parts = append(parts, checksum.Part{Sum: checksum.Sum(alg, data[off:off+n]), Size: int64(n)})
				off += n
			}
			got, err := checksum.FullObject(alg, parts)
			if err != nil {
				t.Fatal(err)
			}
			if want := checksum.Sum(alg, data); !bytes.Equal(got, want) {
				t.Fatalf("%s trial %d (%d parts): %x, want %x", alg, trial, len(parts), got, want)
			}
		}
		if got, err := checksum.FullObject(alg, nil); err != nil || !bytes.Equal(got, checksum.Sum(alg, nil)) {
			t.Errorf("%s no parts: %x %v", alg, got, err)
		}
	}
	if _, err := checksum.FullObject(checksum.SHA256, nil); err == nil {
		t.Error("SHA256 full-object accepted")
	}
}
