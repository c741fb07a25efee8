package loadtest

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// ReadAt at any offset agrees with a sequential read, and Verify catches a
// single flipped byte and a short or long body.
func TestPayload(t *testing.T) {
	pl := Payload{Seed: 42, Size: 100_003}
	all, err := io.ReadAll(pl.Reader())
	if err != nil || int64(len(all)) != pl.Size {
		t.Fatalf("read %d, %v", len(all), err)
	}
	for _, off := range []int64{0, 1, 7, 8, 9, 4095, 99_999} {
		buf := make([]byte, 13)
		n, _ := pl.ReadAt(buf, off)
		if !bytes.Equal(buf[:n], all[off:off+int64(n)]) {
			t.Fatalf("ReadAt(%d) disagrees", off)
		}
		if err := pl.Verify(bytes.NewReader(all[off:]), off, pl.Size-off); err != nil {
			t.Fatal(err)
		}
	}
	bad := bytes.Clone(all)
	bad[5000] ^= 1
	if err := pl.Verify(bytes.NewReader(bad), 0, pl.Size); err == nil || !strings.Contains(err.Error(), "offset 5000") {
		t.Fatalf("flipped byte: %v", err)
	}
	if err := pl.Verify(bytes.NewReader(all[:10]), 0, pl.Size); err == nil {
		t.Fatal("short body accepted")
	}
	if err := pl.Verify(bytes.NewReader(all), 0, pl.Size-1); err == nil {
		t.Fatal("long body accepted")
	}
	if (Payload{Seed: 43, Size: 8}).MD5() == (Payload{Seed: 42, Size: 8}).MD5() {
		t.Fatal("seeds give the same content")
	}
}
