package s3gw

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc64"
	"net/http"
	"testing"
)

// A PUT that declares no checksum still gets one: CRC64NVME, returned with
// checksum mode and never otherwise, nor on a ranged GET.
func TestUndeclaredChecksumIsCRC64NVME(t *testing.T) {
	s := newStack(t)
	s.do(t, s.key, "PUT", "/crcbucket", nil, nil)
	body := []byte("the quick brown fox jumps over the lazy dog")
	if resp := s.do(t, s.key, "PUT", "/crcbucket/k", body, nil); resp.StatusCode != 200 {
		t.Fatalf("put: %d", resp.StatusCode)
	}
	var raw [8]byte
	binary.BigEndian.PutUint64(raw[:], crc64.Checksum(body, crc64.MakeTable(0x9a6c9329ac4bc9b5)))
	want := base64.StdEncoding.EncodeToString(raw[:])

	cases := []struct {
		name   string
		method string
		hdr    map[string]string
		want   string
	}{
		{"GET with checksum mode", "GET", map[string]string{"x-amz-checksum-mode": "ENABLED"}, want},
		{"HEAD with checksum mode", "HEAD", map[string]string{"x-amz-checksum-mode": "ENABLED"}, want},
		{"GET without checksum mode", "GET", nil, ""},
		{"ranged GET with checksum mode", "GET", map[string]string{"x-amz-checksum-mode": "ENABLED", "Range": "bytes=0-3"}, ""},
	}
	for _, c := range cases {
		resp := s.do(t, s.key, c.method, "/crcbucket/k", nil, c.hdr)
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
			t.Fatalf("%s: status %d", c.name, resp.StatusCode)
		}
		if got := resp.Header.Get("x-amz-checksum-crc64nvme"); got != c.want {
			t.Errorf("%s: x-amz-checksum-crc64nvme %q, want %q", c.name, got, c.want)
		}
	}
}
