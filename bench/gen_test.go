package bench

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
)

// The generator must give the same bytes however its reads are split: the
// SDK reads a body once to sign it and again to send it.
func TestGenReaderIsDeterministic(t *testing.T) {
	const size = 3<<20 + 123
	whole, err := io.ReadAll(newGen(5, size))
	if err != nil || len(whole) != size {
		t.Fatal(err)
	}
	for _, wrap := range []func(io.Reader) io.Reader{iotest.OneByteReader, iotest.HalfReader} {
		got, err := io.ReadAll(wrap(newGen(5, size)))
		if err != nil || !bytes.Equal(got, whole) {
			t.Fatal("split reads give different bytes")
		}
	}
	other, _ := io.ReadAll(newGen(6, size))
	if bytes.Equal(other[:4<<10], whole[:4<<10]) {
		t.Fatal("seeds do not differ")
	}
}
