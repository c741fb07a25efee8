// Package health answers the liveness and readiness probes, /healthz and
// /readyz, the same way on every listener that serves them: the metrics
// listener and the S3 listener. The bodies are fixed words (and, when not
// ready, why), never data: a probe is anonymous.
package health

import (
	"net/http"
	"strconv"
)

// Paths are the probe paths.
const (
	LivePath  = "/healthz"
	ReadyPath = "/readyz"
)

// ServeLive answers /healthz: 200 while the process answers at all.
func ServeLive(w http.ResponseWriter, r *http.Request) {
	write(w, r, http.StatusOK, "ok")
}

// ServeReady answers /readyz: 200 when ready() is nil, 503 with its reason
// otherwise. A nil ready means the daemon has not got as far as saying
// (it is starting).
func ServeReady(w http.ResponseWriter, r *http.Request, ready func() error) {
	if ready == nil {
		write(w, r, http.StatusServiceUnavailable, "not ready: starting")
		return
	}
	if err := ready(); err != nil {
		write(w, r, http.StatusServiceUnavailable, "not ready: "+err.Error())
		return
	}
	write(w, r, http.StatusOK, "ready")
}

func write(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	// A cache in front must never answer a probe for the daemon.
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	body := msg + "\n"
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write([]byte(body))
	}
}
