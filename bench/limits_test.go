package bench

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/sha256"
	"hash/crc64"
	"testing"
)

// The machine's single-core limits, measured in the same run as the S3
// figures so ratios survive a noisy machine.

func benchHash(b *testing.B, newHash func() interface{ Write([]byte) (int, error) }) {
	buf := make([]byte, 4<<20)
	h := newHash()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		h.Write(buf)
	}
}

func BenchmarkLimitSHA256(b *testing.B) {
	benchHash(b, func() interface{ Write([]byte) (int, error) } { return sha256.New() })
}

func BenchmarkLimitMD5(b *testing.B) {
	benchHash(b, func() interface{ Write([]byte) (int, error) } { return md5.New() })
}

func BenchmarkLimitCRC64NVME(b *testing.B) {
	t := crc64.MakeTable(0x9a6c9329ac4bc9b5)
	benchHash(b, func() interface{ Write([]byte) (int, error) } { return crc64.New(t) })
}

func gcm(b *testing.B) cipher.AEAD {
	blk, err := aes.NewCipher(make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	a, err := cipher.NewGCM(blk)
	if err != nil {
		b.Fatal(err)
	}
	return a
}

func BenchmarkLimitAESGCMSeal(b *testing.B) {
	a := gcm(b)
	seg := make([]byte, 64<<10)
	out := make([]byte, 0, len(seg)+16)
	nonce := make([]byte, 12)
	b.SetBytes(int64(len(seg)))
	for b.Loop() {
		a.Seal(out[:0], nonce, seg, nil)
	}
}

func BenchmarkLimitAESGCMOpen(b *testing.B) {
	a := gcm(b)
	nonce := make([]byte, 12)
	sealed := a.Seal(nil, nonce, make([]byte, 64<<10), nil)
	out := make([]byte, 0, 64<<10)
	b.SetBytes(64 << 10)
	for b.Loop() {
		if _, err := a.Open(out[:0], nonce, sealed, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLimitSignedPutSerial is the per-byte work a signed PUT needs on
// one core if nothing overlaps: SHA-256 (payload signature), MD5 (ETag) and
// AES-GCM sealing.
func BenchmarkLimitSignedPutSerial(b *testing.B) {
	a := gcm(b)
	nonce := make([]byte, 12)
	buf := make([]byte, 4<<20)
	out := make([]byte, 0, 64<<10+16)
	s, m := sha256.New(), md5.New()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		s.Write(buf)
		m.Write(buf)
		for off := 0; off < len(buf); off += 64 << 10 {
			a.Seal(out[:0], nonce, buf[off:off+64<<10], nil)
		}
	}
}
