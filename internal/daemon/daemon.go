// Package daemon wires excd together: it opens the data directory (master
// key, catalog, chunk store), creates the first org and access key on first
// start, and serves the S3 gateway (HTTP or HTTPS), the admin API and the
// metrics listener; it runs the periodic garbage collector and shuts all of
// it down in order. cmd/excd only turns flags into a Config and signals into
// calls (Shutdown, ReloadTLS, SetGCInterval); tests start a Daemon
// in-process on a free loopback port.
package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"excloud.dev/buckets/admin"
	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/catalog/kv"
	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/internal/config"
	"excloud.dev/buckets/internal/metrics"
	"excloud.dev/buckets/objects"
	"excloud.dev/buckets/s3gw"
)

// Config is everything the daemon needs; zero values take the defaults of
// docs/design.md ("Defaults").
type Config struct {
	DataDir string // default "./excd-data"
	Listen  string // default "127.0.0.1:9000"; "127.0.0.1:0" picks a free port
	// Listener, when set, is the S3 listening socket (systemd socket
	// activation); Listen is then ignored. The daemon closes it.
	Listener net.Listener
	Region   string // default "auto"
	// Catalog is where the catalog lives: "" is a Badger directory in
	// DataDir; otherwise a PostgreSQL connection string (URL or libpq
	// key=value) of a database that several nodes may share
	// (docs/scale-out.md).
	Catalog string
	// Chunks is where the chunk files live: the zero value is the data
	// directory's chunks/, an s3:// URL an object store (chunks.go).
	Chunks config.Chunks
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
	// TLSCert and TLSKey, both set, make the S3 listener HTTPS. The files
	// are re-read by ReloadTLS (SIGHUP).
	TLSCert, TLSKey string
	// MetricsListen is the address of /metrics, /healthz and /readyz; ""
	// serves none.
	MetricsListen string
	// ConsoleListen is the address of the web console (package console);
	// "" serves none. It uses the S3 listener's certificate when TLS is on.
	ConsoleListen string
	// Metrics receives the daemon's measurements; nil makes a fresh set.
	Metrics *metrics.Metrics
	// ShutdownTimeout bounds Close's wait for requests in flight; default
	// 30 s. Shutdown takes its bound from its context instead.
	ShutdownTimeout time.Duration
	// PublicDomain serves public buckets anonymously at
	// <org-id>.<PublicDomain>/<bucket>/<key> (GET and HEAD only); empty
	// turns public hosts off.
	PublicDomain string
	// TrustedProxies are the peers whose X-Forwarded-For names the client
	// in the S3 access log (s3gw.Config.TrustedProxies).
	TrustedProxies []netip.Prefix
	// IOIdleTimeout cuts off a client whose request body or response makes
	// no progress for this long; 0 means 2 minutes. Tests shorten it.
	IOIdleTimeout time.Duration
	// MinFree is the space, in bytes, kept free on the data directory's
	// filesystem: chunk writes and catalog writes are refused below it
	// (507 InsufficientStorage, ENOSPC on FUSE), deletions below half of
	// it. Badger dies of SIGBUS, not ENOSPC, when it meets a full disk
	// (catalog.Options.MinFree). 0 disables the check.
	MinFree int64
	// ReadHeaderTimeout bounds how long a client may take to send a
	// request's headers (slow-loris clients); 0 means 20 s. Tests shorten it.
	ReadHeaderTimeout time.Duration
	// MaxConns bounds the S3 listener's open connections, and
	// MaxConnsPerSource those from one source (IPv4 address or IPv6 /64);
	// a connection over either bound has its first request answered 503
	// SlowDown and is closed. 0 means the default (8192, 1024); < 0 means
	// no bound.
	MaxConns, MaxConnsPerSource int
	// Mounts are FUSE mount points, "DIR" (the default org) or "ORG=DIR",
	// each optionally followed by ":"-separated options
	// (config.ParseMount), mounted before Start returns and unmounted by
	// Shutdown.
	Mounts []string
	// MountOptions is the owner model every mount starts from; nil means
	// config.DefaultMountOptions().
	MountOptions *config.MountOptions
	// ServeOnlyMounts promises this process never reads its own mounts
	// (excd's main): see fsmount.Options.ServeOnly. Tests that start a
	// daemon in-process and use its mount leave it off.
	ServeOnlyMounts bool
	// Version and Commit are reported by the admin status call.
	Version, Commit string
	Logger          *slog.Logger
}

// Timeouts of the S3 listener. There is deliberately no ReadTimeout or
// WriteTimeout: they bound a whole request or response, and would cut off
// a multi-GiB PUT or GET on a slow link. A client that stops sending or
// receiving altogether is cut off by ioIdleTimeout instead (see
// deadlines.go), which bounds the time between two reads or writes
// (Config.IOIdleTimeout).
const (
	readHeaderTimeout = 20 * time.Second
	idleTimeout       = 2 * time.Minute
	ioIdleTimeout     = 2 * time.Minute
	// maxHeaderBytes leaves room for 2 KiB of S3 user metadata, long
	// presigned query strings and proxies' headers, and no more.
	maxHeaderBytes = 64 << 10
	// forcedWait is how long handlers get to unwind after their connections
	// were closed by a forced shutdown, before Badger closes under them.
	forcedWait = 5 * time.Second
)

// Daemon is a running excd.
type Daemon struct {
	cfg       Config
	log       *slog.Logger
	db        *catalog.DB
	shared    kv.Engine // the catalog's engine when it is a shared database; nil for Badger
	store     *chunkstore.Store
	layer     *objects.Layer
	srv       *http.Server
	rawLn     net.Listener // the TCP listener under ln; closed by Shutdown when never served
	ln        net.Listener
	tls       bool
	certs     *certReloader
	admin     *admin.Server
	metrics   *metrics.Metrics
	msrv      *http.Server
	mln       net.Listener
	console   consoleState
	credPath  string // set on first start only
	claim     *dirClaim
	keepClaim bool
	attrKey   []byte // seals the attributes mounts write
	started   time.Time

	ready    atomic.Bool
	s3Port   atomic.Int32   // the S3 listener's port, for public URLs; 0 until it listens
	handlers sync.WaitGroup // S3 requests being served

	gcMu       sync.Mutex // one collection at a time
	gcInterval chan time.Duration

	stop     context.CancelFunc
	wg       sync.WaitGroup
	closeErr error
	once     sync.Once
}

// Start opens the data directory and starts serving. When it returns nil,
// the S3 listener accepts connections, the catalog is open and the mounts
// are up: the moment to tell systemd READY=1. On error nothing is left open.
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
	if cfg.IOIdleTimeout <= 0 {
		cfg.IOIdleTimeout = ioIdleTimeout
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = readHeaderTimeout
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.AdminSocket == "" {
		cfg.AdminSocket = admin.DefaultSocket(cfg.DataDir)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	d = &Daemon{cfg: cfg, log: cfg.Logger, started: time.Now(), metrics: cfg.Metrics,
		gcInterval: make(chan time.Duration, 1)}
	// Not d: "return nil, err" has set the named result to nil by the time
	// this runs.
	started := d
	defer func() {
		if err != nil {
			started.keepClaim = true // for undo, after Close
			started.Close()
			started.claim.undo(started.log)
		}
	}()
	// The listeners and the certificate first: a port taken or a bad
	// certificate stops the start before the data directory is touched.
	if err := d.listen(); err != nil {
		return nil, err
	}
	if d.claim, err = claimDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	if err := d.openData(); err != nil {
		return nil, err
	}
	if err := d.firstStart(context.Background()); err != nil {
		return nil, err
	}
	d.metrics.SetSources(metrics.Sources{
		Store:  d.storeStats,
		Chunks: d.chunkCounters,
		Ready:  d.readyErr,
	})

	if cfg.AdminSocket != "-" {
		if err := d.startAdmin(); err != nil {
			return nil, err
		}
	}
	if cfg.MetricsListen != "" {
		if err := d.startMetrics(); err != nil {
			return nil, err
		}
	}
	if err := d.startS3(); err != nil {
		return nil, err
	}
	d.startConsole()
	ctx, stop := context.WithCancel(context.Background())
	d.stop = stop
	d.wg.Add(1)
	go func() {
		// started, not d: a failed start (the mounts below) sets d to nil
		// while this goroutine may not have run yet.
		defer started.wg.Done()
		started.gcLoop(ctx, cfg.GCInterval)
	}()
	// Mounts last: Start returning is READY=1, which must mean they are up.
	if err := d.startMounts(cfg.Mounts); err != nil {
		return nil, err
	}
	d.ready.Store(true)
	// cmd/excd logs the endpoints ("S3 endpoint", "metrics endpoint").
	return d, nil
}

// openData opens the master key, the catalog and the chunk store.
func (d *Daemon) openData() error {
	cfg := d.cfg
	if err := checkDataDir(cfg.DataDir); err != nil {
		return err
	}
	keys, err := loadKeys(cfg.DataDir, cfg.KeyFile, d.log, true)
	if err != nil {
		return err
	}
	d.attrKey = keys.Attrs[:]
	if d.db, d.shared, err = openCatalog(cfg, keys, d.log); err != nil {
		return err
	}
	backend, err := d.openChunkBackend()
	if err != nil {
		return err
	}
	if err := d.holdReserve(); err != nil {
		return err
	}
	d.store, err = chunkstore.New(backend, keys)
	if err != nil {
		return err
	}
	d.layer = objects.New(d.db, d.store, d.log)
	return nil
}

// loadKeys reads (or, if create, makes) the master key and derives the keys.
func loadKeys(dataDir, keyFile string, log *slog.Logger, create bool) (chunkstore.Keys, error) {
	if !create {
		master, _, err := chunkstore.ReadMasterKey(dataDir, keyFile)
		if err != nil {
			return chunkstore.Keys{}, fmt.Errorf("master key: %w (restore needs the master key of the store the backup came from)", err)
		}
		return chunkstore.DeriveKeys(master)
	}
	master, keyPath, created, err := chunkstore.LoadMasterKey(dataDir, keyFile)
	if err != nil {
		return chunkstore.Keys{}, err
	}
	if created {
		log.Info("created master key; back it up, data cannot be read without it", "path", keyPath)
	}
	return chunkstore.DeriveKeys(master)
}

// listen opens (or adopts) the S3 listener, with TLS when configured, and
// the metrics listener; serving starts later, in startS3 and startMetrics.
func (d *Daemon) listen() error {
	cfg := d.cfg
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	d.rawLn = ln
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		d.s3Port.Store(int32(a.Port))
	}
	// Counted below TLS, so a connection holds its place from accept to
	// close, handshake included.
	ln = newConnLimiter(connBound(cfg.MaxConns, defaultMaxConns), connBound(cfg.MaxConnsPerSource, defaultMaxConnsPerSource)).listener(ln)
	if cfg.TLSCert != "" {
		certs, err := newCertReloader(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return err
		}
		d.certs, d.tls = certs, true
		ln = tls.NewListener(ln, &tls.Config{
			GetCertificate: certs.getCertificate,
			MinVersion:     tls.VersionTLS12,
			// HTTP/1.1 only: S3 clients speak it, and Serve on a TLS
			// listener would otherwise offer h2.
			NextProtos: []string{"http/1.1"},
		})
	}
	d.ln = ln
	if cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		d.mln = mln
	}
	return d.listenConsole()
}

// startS3 serves the gateway on the listener listen opened.
func (d *Daemon) startS3() error {
	cfg := d.cfg
	var gw http.Handler = s3gw.New(s3gw.Config{
		Objects:        d.layer,
		Keys:           d.db,
		Region:         cfg.Region,
		PublicDomain:   cfg.PublicDomain,
		TrustedProxies: cfg.TrustedProxies,
		Logger:         d.log,
		Observer:       d.metrics,
		Ready:          d.readyErr,
	})
	// The gateway reports each request with its own Op; the wrapper only
	// keeps the in-flight gauge.
	gw = d.metrics.WrapInFlight(gw)
	d.srv = &http.Server{
		Handler:           d.track(ioDeadlines(gw, cfg.IOIdleTimeout)),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
		ConnContext:       connContext,
	}
	ln := d.ln
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("s3 listener failed", "err", err)
		}
	}()
	return nil
}

// track counts handlers in flight, so a forced shutdown can wait for them to
// unwind before the catalog closes.
func (d *Daemon) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.handlers.Add(1)
		defer d.handlers.Done()
		h.ServeHTTP(w, r)
	})
}

// Addr is the S3 listener's address.
func (d *Daemon) Addr() string { return d.ln.Addr().String() }

// MetricsAddr is the metrics listener's address, or "" when there is none.
func (d *Daemon) MetricsAddr() string {
	if d.mln == nil {
		return ""
	}
	return d.mln.Addr().String()
}

// Layer is the object layer, for in-process tests and tools.
func (d *Daemon) Layer() *objects.Layer { return d.layer }

// Catalog is the catalog, for in-process tests and tools.
func (d *Daemon) Catalog() *catalog.DB { return d.db }

// CredentialsPath is the file holding the first access key, if this start
// created it; otherwise "".
func (d *Daemon) CredentialsPath() string { return d.credPath }

// Close is Shutdown bounded by Config.ShutdownTimeout.
func (d *Daemon) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownTimeout)
	defer cancel()
	return d.Shutdown(ctx)
}

// Shutdown stops the daemon in the order that loses nothing: it stops
// accepting S3 connections and lets requests in flight finish until ctx
// ends; then it closes whatever connections remain (their uploads fail
// before their commit, so nothing half-written becomes visible), stops the
// admin API, the collector and the metrics listener, and closes the
// catalog. Cancel ctx to force the stop (a second SIGTERM). It is safe to
// call more than once; later calls return the first result.
func (d *Daemon) Shutdown(ctx context.Context) error {
	d.once.Do(func() {
		d.ready.Store(false)
		if d.stop != nil {
			d.stop()
		}
		if d.srv == nil && d.rawLn != nil {
			d.rawLn.Close() // a start that failed before serving
		}
		consoleDone := d.stopConsole(ctx) // drains alongside S3
		if d.msrv == nil && d.mln != nil {
			d.mln.Close()
		}
		if d.srv != nil {
			if err := d.srv.Shutdown(ctx); err != nil {
				d.log.Warn("shutdown: requests still in flight; closing their connections", "err", err)
				d.srv.Close()
				if !waitTimeout(&d.handlers, forcedWait) {
					d.log.Warn("shutdown: handlers still running after their connections closed")
				}
			}
		}
		<-consoleDone
		// After the S3 drain and before the catalog closes: unmounting
		// commits the files with pending FUSE writes.
		if err := d.stopMounts(); err != nil {
			d.log.Error("shutdown: unmount", "err", err)
		}
		if d.admin != nil {
			if err := d.admin.Shutdown(ctx); err != nil {
				d.admin.Close() // e.g. a backup still streaming
			}
		}
		if d.msrv != nil {
			d.msrv.Close()
		}
		d.wg.Wait()
		if d.db != nil {
			d.releaseReserve()
			d.closeErr = d.db.Close()
		}
		if !d.keepClaim {
			// A failed start's claim is released by undo, once it has
			// removed what the start made.
			d.claim.release()
		}
	})
	return d.closeErr
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// readyErr is /readyz: nil once Start has finished and until Shutdown.
func (d *Daemon) readyErr() error {
	if !d.ready.Load() {
		return errors.New("starting or stopping")
	}
	return d.catalogReachable()
}
