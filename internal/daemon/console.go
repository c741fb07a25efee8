package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"excloud.dev/buckets/console"
	"excloud.dev/buckets/objects"
)

// consoleState is the web console's listener and server (console_listen);
// all zero when it is off.
type consoleState struct {
	ln  net.Listener
	srv *http.Server
	con *console.Server

	mu sync.Mutex
	// lastGC and lastScrub are the last runs since the start (nil: none),
	// for the console's store page.
	lastGC, lastScrub map[string]any
}

// recordGC keeps a collection's outcome for the console.
func (d *Daemon) recordGC(st objects.GCStats, err error) {
	run := map[string]any{"at": time.Now().UTC(), "scanned": st.Scanned, "deleted": st.Deleted,
		"bytes_freed": st.BytesFreed, "deferred": st.Deferred}
	if err != nil {
		run["error"] = err.Error()
	}
	d.console.mu.Lock()
	d.console.lastGC = run
	d.console.mu.Unlock()
}

// recordScrub keeps a scrub's outcome for the console.
func (d *Daemon) recordScrub(rep objects.ScrubReport, err error) {
	run := map[string]any{"at": time.Now().UTC()}
	if err != nil {
		run["error"] = err.Error()
	} else {
		run["chunks"], run["objects"] = rep.Chunks, rep.Objects
		run["corrupt"], run["missing"], run["mismatched"] = len(rep.Corrupt), len(rep.Missing), len(rep.Mismatched)
		run["damaged"] = len(rep.Corrupt)+len(rep.Missing)+len(rep.Mismatched) > 0
	}
	d.console.mu.Lock()
	d.console.lastScrub = run
	d.console.mu.Unlock()
}

// listenConsole opens the console's listener with the rest, before the data
// directory: a port taken stops the start early. With TLS it serves the S3
// listener's certificate (and its reloads).
func (d *Daemon) listenConsole() error {
	if d.cfg.ConsoleListen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", d.cfg.ConsoleListen)
	if err != nil {
		return fmt.Errorf("console listener: %w", err)
	}
	if d.certs != nil {
		ln = tls.NewListener(ln, &tls.Config{
			GetCertificate: d.certs.getCertificate,
			MinVersion:     tls.VersionTLS12,
			NextProtos:     []string{"http/1.1"},
		})
	}
	d.console.ln = ln
	return nil
}

// startConsole serves the console over the same object layer and catalog
// as the gateway. Its change feeds never end on their own, so Shutdown
// ends them (RegisterOnShutdown) rather than waiting for them.
func (d *Daemon) startConsole() {
	if d.console.ln == nil {
		return
	}
	d.console.con = console.New(console.Config{
		Objects:   d.layer,
		Catalog:   d.db,
		Logger:    d.log,
		TLS:       d.tls,
		S3URL:     d.consoleS3URL,
		Region:    d.cfg.Region,
		PublicURL: d.publicURL,
		Store:     d.consoleStore,
	})
	d.console.srv = &http.Server{
		Handler:           d.console.con,
		ReadHeaderTimeout: d.cfg.ReadHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	d.console.srv.RegisterOnShutdown(d.console.con.Close)
	ln := d.console.ln
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.console.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("console listener failed", "err", err)
		}
	}()
}

// stopConsole stops the console while the S3 listener drains: it accepts
// nothing new, its requests in flight get until ctx ends, then their
// connections are closed. The channel closes when it is done.
func (d *Daemon) stopConsole(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	if d.console.srv == nil {
		if d.console.ln != nil {
			d.console.ln.Close() // a start that failed before serving
		}
		close(done)
		return done
	}
	go func() {
		defer close(done)
		d.console.con.Close()
		if err := d.console.srv.Shutdown(ctx); err != nil {
			d.log.Warn("shutdown: console requests still in flight; closing their connections", "err", err)
			d.console.srv.Close()
		}
	}()
	return done
}

// ConsoleAddr is the console listener's address, or "" when it is off.
func (d *Daemon) ConsoleAddr() string {
	if d.console.ln == nil {
		return ""
	}
	return d.console.ln.Addr().String()
}

// consoleS3URL is the S3 endpoint as the console's user reaches it, for
// share links and key snippets: the S3 listener's address, except that an
// unspecified listen address (0.0.0.0, [::]) is replaced by the host the
// browser reached the console at.
func (d *Daemon) consoleS3URL(r *http.Request) string {
	scheme := "http"
	if d.tls {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(d.Addr())
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		h := r.Host
		if hh, _, err := net.SplitHostPort(r.Host); err == nil {
			h = hh
		}
		if h == "" {
			return ""
		}
		host = h
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// consoleStore is GET /api/store: what exc status reports, and the free
// space of the data directory's filesystem.
func (d *Daemon) consoleStore(ctx context.Context) (console.StoreStatus, error) {
	st := console.StoreStatus{Version: d.cfg.Version}
	cs, err := d.db.Stats(ctx)
	if err != nil {
		return st, err
	}
	for _, o := range cs.Orgs {
		st.Objects += o.Objects
		st.LogicalBytes += o.Bytes
	}
	if _, st.UsedBytes, err = d.chunkUsage(ctx); err != nil {
		return st, err
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(d.cfg.DataDir, &fs); err == nil {
		st.FreeBytes = int64(fs.Bavail) * int64(fs.Bsize)
	}
	if st.LogicalBytes > st.UsedBytes {
		st.DedupSavedBytes = st.LogicalBytes - st.UsedBytes
	}
	d.console.mu.Lock()
	st.GC = map[string]any{"interval_seconds": int64(max(d.cfg.GCInterval, 0) / time.Second), "last": d.console.lastGC}
	st.Scrub = map[string]any{"last": d.console.lastScrub}
	d.console.mu.Unlock()
	st.Version = d.cfg.Version
	if d.cfg.Commit != "" {
		st.Version += " (" + d.cfg.Commit + ")"
	}
	return st, nil
}
