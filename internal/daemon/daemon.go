// Package daemon wires excd together: it opens the data directory (master
// key, catalog, chunk store), creates the first org and access key on first
// start, and serves the S3 gateway. cmd/excd only turns flags into a Config;
// tests start a Daemon in-process on a free loopback port.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"excloud.dev/buckets/admin"
	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/chunkstore/local"
	"excloud.dev/buckets/objects"
	"excloud.dev/buckets/s3gw"
)

// Config is everything the daemon needs; zero values take the defaults of
// docs/design.md ("Defaults").
type Config struct {
	DataDir string // default "./excd-data"
	Listen  string // default "127.0.0.1:9000"; "127.0.0.1:0" picks a free port
	Region  string // default "auto"
	// KeyFile overrides where the master key is read from.
	KeyFile string
	// RootAccessKey and RootSecretKey seed the first access key instead of
	// generating one (EXC_ROOT_ACCESS_KEY / EXC_ROOT_SECRET_KEY).
	RootAccessKey, RootSecretKey string
	// GCInterval is how often unreferenced chunks are collected; 0 means
	// 10 minutes, < 0 disables the periodic collector.
	GCInterval time.Duration
	// AdminSocket is the admin API's unix socket; default
	// admin.DefaultSocket(DataDir). "-" disables it.
	AdminSocket string
	// Version and Commit are reported by the admin status call.
	Version, Commit string
	Logger          *slog.Logger
}

// Daemon is a running excd.
type Daemon struct {
	cfg      Config
	log      *slog.Logger
	db       *catalog.DB
	store    *chunkstore.Store
	layer    *objects.Layer
	srv      *http.Server
	ln       net.Listener
	admin    *admin.Server
	credPath string // set on first start only
	started  time.Time

	stop     context.CancelFunc
	wg       sync.WaitGroup
	closeErr error
	once     sync.Once
}

// Start opens the data directory and starts serving. On error nothing is
// left open.
func Start(cfg Config) (d *Daemon, err error) {
	if cfg.DataDir == "" {
		cfg.DataDir = "excd-data"
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:9000"
	}
	if cfg.Region == "" {
		cfg.Region = "auto"
	}
	if cfg.GCInterval == 0 {
		cfg.GCInterval = 10 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.AdminSocket == "" {
		cfg.AdminSocket = admin.DefaultSocket(cfg.DataDir)
	}
	d = &Daemon{cfg: cfg, log: cfg.Logger, started: time.Now()}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	master, keyPath, created, err := chunkstore.LoadMasterKey(cfg.DataDir, cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	if created {
		d.log.Info("created master key; back it up, data cannot be read without it", "path", keyPath)
	}
	keys, err := chunkstore.DeriveKeys(master)
	if err != nil {
		return nil, err
	}
	d.db, err = catalog.Open(catalog.Options{
		Dir:           filepath.Join(cfg.DataDir, "catalog"),
		EncryptionKey: keys.Catalog[:],
		SyncWrites:    true,
		Logger:        d.log,
	})
	if err != nil {
		return nil, fmt.Errorf("open catalog: %w", err)
	}
	backend, err := local.New(filepath.Join(cfg.DataDir, "chunks"))
	if err != nil {
		return nil, fmt.Errorf("open chunk directory: %w", err)
	}
	d.store, err = chunkstore.New(backend, keys)
	if err != nil {
		return nil, err
	}
	d.layer = objects.New(d.db, d.store, d.log)
	if err := d.firstStart(context.Background()); err != nil {
		return nil, err
	}

	if cfg.AdminSocket != "-" {
		if err := d.startAdmin(); err != nil {
			return nil, err
		}
	}
	d.ln, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	d.srv = &http.Server{
		Handler: s3gw.New(s3gw.Config{
			Objects: d.layer,
			Keys:    d.db,
			Region:  cfg.Region,
			Logger:  d.log,
		}),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	ctx, stop := context.WithCancel(context.Background())
	d.stop = stop
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.srv.Serve(d.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("s3 listener failed", "err", err)
		}
	}()
	if cfg.GCInterval > 0 {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.layer.RunGC(ctx, cfg.GCInterval)
		}()
	}
	d.log.Info("serving S3", "addr", d.ln.Addr().String(), "data_dir", cfg.DataDir)
	return d, nil
}

// Addr is the S3 listener's address.
func (d *Daemon) Addr() string { return d.ln.Addr().String() }

// Layer is the object layer, for in-process tests and tools.
func (d *Daemon) Layer() *objects.Layer { return d.layer }

// Catalog is the catalog, for in-process tests and tools.
func (d *Daemon) Catalog() *catalog.DB { return d.db }

// CredentialsPath is the file holding the first access key, if this start
// created it; otherwise "".
func (d *Daemon) CredentialsPath() string { return d.credPath }

// Close stops serving, waits for in-flight requests up to a bound, and
// closes the catalog. It is safe to call more than once.
func (d *Daemon) Close() error {
	d.once.Do(func() {
		if d.stop != nil {
			d.stop()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if d.srv != nil {
			if err := d.srv.Shutdown(ctx); err != nil {
				d.srv.Close()
			}
		}
		if d.admin != nil {
			d.admin.Shutdown(ctx)
		}
		d.wg.Wait()
		if d.db != nil {
			d.closeErr = d.db.Close()
		}
	})
	return d.closeErr
}
