package daemon

import (
	"errors"
	"net/http"
	"time"
)

// startMetrics serves /metrics, /healthz and /readyz on their own listener,
// so they can be exposed to a scraper without exposing S3, or the reverse.
func (d *Daemon) startMetrics() error {
	ln := d.mln // opened by listen, before the data directory
	d.msrv = &http.Server{
		Handler:           d.metrics.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    16 << 10,
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.msrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("metrics listener failed", "err", err)
		}
	}()
	return nil
}
