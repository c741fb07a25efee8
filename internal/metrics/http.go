package metrics

import "net/http"

// WrapInFlight keeps the in-flight gauge for every request h serves. The
// gateway reports each finished request itself, through ObserveRequest,
// because only its router knows which S3 operation a request was.
func (m *Metrics) WrapInFlight(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.RequestStarted()
		defer m.RequestDone()
		h.ServeHTTP(w, r)
	})
}
