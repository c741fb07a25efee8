package s3gw

import (
	"runtime"
	"strings"
	"testing"
)

// A list body within the size cap but with far more entries than allowed
// is refused after scanning past the limit, not after building every
// entry: 8 MiB of "<Part/>" once cost about 900 MiB of allocation and
// over a second of CPU per request.
func TestXMLListAmplification(t *testing.T) {
	for _, tc := range []struct {
		name  string
		body  string
		parse func([]byte) error
	}{
		{"DeleteObjects", "<Delete>" + strings.Repeat("<Object/>", (maxDeleteBody-20)/9) + "</Delete>",
			func(b []byte) error { _, err := parseDeleteRequest(b); return err }},
		{"CompleteMultipartUpload", "<CompleteMultipartUpload>" + strings.Repeat("<Part/>", (maxCompleteBody-60)/7) + "</CompleteMultipartUpload>",
			func(b []byte) error { _, err := parseCompleteRequest(b); return err }},
		{"CompleteMultipartUpload, prefixed", "<s3:CompleteMultipartUpload xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">" + strings.Repeat("<s3:Part/>", (maxCompleteBody-120)/10) + "</s3:CompleteMultipartUpload>",
			func(b []byte) error { _, err := parseCompleteRequest(b); return err }},
	} {
		body := []byte(tc.body)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		err := tc.parse(body)
		runtime.ReadMemStats(&after)
		if toS3Error(err).Code != ErrMalformedXML {
			t.Errorf("%s: %v, want MalformedXML", tc.name, err)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: %d-byte body refused after allocating %d KiB", tc.name, len(body), alloc>>10)
		if alloc > 16<<20 {
			t.Errorf("%s: refusing a %d-byte body allocated %d MiB", tc.name, len(body), alloc>>20)
		}
	}
}
