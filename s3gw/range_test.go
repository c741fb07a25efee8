package s3gw

import (
	"errors"
	"testing"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		header string
		size   int64
		want   byteRange
		ok     bool
		unsat  bool
	}{
		{"bytes=0-0", 10, byteRange{0, 1}, true, false},
		{"bytes=0-9", 10, byteRange{0, 10}, true, false},
		{"bytes=9-9", 10, byteRange{9, 1}, true, false}, // last byte
		{"bytes=9-", 10, byteRange{9, 1}, true, false},
		{"bytes=3-", 10, byteRange{3, 7}, true, false},
		{"bytes=5-100", 10, byteRange{5, 5}, true, false},                      // end clamped
		{"bytes=0-99999999999999999999999", 10, byteRange{0, 10}, true, false}, // huge end saturates
		{"bytes=10-", 10, byteRange{}, false, true},                            // first beyond size
		{"bytes=10-20", 10, byteRange{}, false, true},
		{"bytes=99999999999999999999-", 10, byteRange{}, false, true},
		{"bytes=-1", 10, byteRange{9, 1}, true, false},
		{"bytes=-10", 10, byteRange{0, 10}, true, false},
		{"bytes=-11", 10, byteRange{0, 10}, true, false}, // suffix larger than size
		{"bytes=-0", 10, byteRange{}, false, true},
		{"bytes=0-0", 0, byteRange{}, false, true}, // empty object
		{"bytes=-5", 0, byteRange{}, false, true},
		{"bytes=0-", 0, byteRange{}, false, true},
		{"Bytes = 1-2", 10, byteRange{1, 2}, true, false}, // unit is case-insensitive
		{"bytes= 1 - 2 ", 10, byteRange{1, 2}, true, false},
		// Ignored: malformed, other units, several ranges.
		{"", 10, byteRange{}, false, false},
		{"bytes", 10, byteRange{}, false, false},
		{"bytes=", 10, byteRange{}, false, false},
		{"bytes=-", 10, byteRange{}, false, false},
		{"bytes=5", 10, byteRange{}, false, false},
		{"bytes=5-3", 10, byteRange{}, false, false},
		{"bytes=a-b", 10, byteRange{}, false, false},
		{"bytes=+1-2", 10, byteRange{}, false, false},
		{"bytes=-+1", 10, byteRange{}, false, false},
		{"bytes=1-2-3", 10, byteRange{}, false, false},
		{"bytes=0x1-2", 10, byteRange{}, false, false},
		{"items=0-1", 10, byteRange{}, false, false},
		{"bytes=0-1,3-4", 10, byteRange{}, false, false},
		{"bytes=0-1,", 10, byteRange{}, false, false},
	}
	for _, tt := range tests {
		got, ok, err := parseRange(tt.header, tt.size)
		if unsat := errors.Is(err, errUnsatisfiable); unsat != tt.unsat || (err != nil && !unsat) {
			t.Errorf("parseRange(%q, %d) err = %v, want unsatisfiable=%v", tt.header, tt.size, err, tt.unsat)
			continue
		}
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseRange(%q, %d) = %+v, %v; want %+v, %v", tt.header, tt.size, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzParseRange checks the invariants every caller relies on: a returned
// range lies inside the object and is non-empty; errors are only ever
// errUnsatisfiable.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-0", "bytes=-5", "bytes=3-", "bytes=5-3", "bytes=0-1,2-3", "bytes=99999999999999999999-", "bytes= 1 - 2"} {
		f.Add(s, int64(10))
		f.Add(s, int64(0))
	}
	f.Fuzz(func(t *testing.T, header string, size int64) {
		if size < 0 {
			size = -(size + 1)
		}
		r, ok, err := parseRange(header, size)
		if err != nil {
			if !errors.Is(err, errUnsatisfiable) || ok {
				t.Fatalf("parseRange(%q, %d) = %v, %v", header, size, ok, err)
			}
			return
		}
		if !ok {
			return
		}
		if r.Start < 0 || r.Length <= 0 || r.Start >= size || r.Length > size-r.Start {
			t.Fatalf("parseRange(%q, %d) = %+v outside the object", header, size, r)
		}
	})
}
