package metrics

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkWrap measures what Wrap adds to a request: op naming, counting
// reader and writer, and the observation (docs/.bench-service.md).
func BenchmarkWrap(b *testing.B) {
	m := New()
	noop := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) })
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"bare", noop}, {"wrapped", m.Wrap(noop)}} {
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
