package health_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"excloud.dev/buckets/internal/health"
)

func TestAnswers(t *testing.T) {
	cases := []struct {
		name   string
		method string
		serve  func(http.ResponseWriter, *http.Request)
		status int
		body   string
	}{
		{"live", "GET", health.ServeLive, 200, "ok\n"},
		{"live HEAD", "HEAD", health.ServeLive, 200, ""},
		{"ready", "GET", func(w http.ResponseWriter, r *http.Request) {
			health.ServeReady(w, r, func() error { return nil })
		}, 200, "ready\n"},
		{"not ready", "GET", func(w http.ResponseWriter, r *http.Request) {
			health.ServeReady(w, r, func() error { return errors.New("stopping") })
		}, 503, "not ready: stopping\n"},
		{"no readiness yet", "GET", func(w http.ResponseWriter, r *http.Request) {
			health.ServeReady(w, r, nil)
		}, 503, "not ready: starting\n"},
		{"not ready HEAD", "HEAD", func(w http.ResponseWriter, r *http.Request) {
			health.ServeReady(w, r, func() error { return errors.New("stopping") })
		}, 503, ""},
	}
	for _, c := range cases {
		w := httptest.NewRecorder()
		c.serve(w, httptest.NewRequest(c.method, "/x", nil))
		if w.Code != c.status || w.Body.String() != c.body || w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d %q %v", c.name, w.Code, w.Body.String(), w.Header())
		}
	}
}
