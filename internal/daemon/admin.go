package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"excloud.dev/buckets/admin"
)

// startAdmin serves the admin API on its unix socket. The socket is created
// 0600; the server also checks the peer's uid on every connection.
func (d *Daemon) startAdmin() error {
	ln, err := admin.Listen(d.cfg.AdminSocket)
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	d.admin = admin.NewServer(admin.Config{
		Catalog: d.db,
		Status:  d.status,
		Logger:  d.log,
		Ops:     d.adminOps(),
		// Read per request: the S3 listener (and so its port) starts
		// after the admin socket.
		PublicURL: d.publicURL,
	})
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.admin.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("admin listener failed", "err", err)
		}
	}()
	d.log.Info("admin API", "socket", d.cfg.AdminSocket)
	return nil
}

// AdminSocket is the admin API's socket path ("-" when disabled).
func (d *Daemon) AdminSocket() string { return d.cfg.AdminSocket }

// status reports what only the daemon knows; the admin server adds the
// catalog's counts.
func (d *Daemon) status(ctx context.Context) (admin.Status, error) {
	_, stored, err := d.chunkUsage(ctx)
	if err != nil {
		return admin.Status{}, err
	}
	return admin.Status{
		Version:         d.cfg.Version,
		Commit:          d.cfg.Commit,
		UptimeSeconds:   int64(time.Since(d.started).Seconds()),
		BytesAfterDedup: stored,
	}, nil
}
