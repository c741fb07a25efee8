package metrics

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkWrap measures what the daemon's wrapper plus one observation
// add to a request (docs/benchmarks.md).
func BenchmarkWrap(b *testing.B) {
	m := New()
	noop := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) })
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"bare", noop}, {"wrapped", m.WrapInFlight(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		noop.ServeHTTP(w, r)
		m.ObserveRequest("GetObject", 200, 0, 0, time.Millisecond)
	}))}} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/bucket/some/key", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				bc.h.ServeHTTP(w, r)
			}
		})
	}
}
