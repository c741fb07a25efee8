// Command excd is the excloud buckets daemon: it owns the data directory and
// serves the S3 gateway. This file turns flags, environment and the config
// file into a daemon.Config (package internal/config owns the settings),
// and signals into daemon calls; the wiring is in internal/daemon.
//
// Signals: SIGTERM or SIGINT stops gracefully (a second one forces it);
// SIGHUP reloads the TLS certificate and the live settings (log_level,
// gc_interval). Under systemd it reports READY=1, RELOADING=1, STOPPING=1
// and watchdog pings on $NOTIFY_SOCKET, and takes its S3 socket from
// socket activation when one is passed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"excloud.dev/buckets/internal/config"
	"excloud.dev/buckets/internal/daemon"
	"excloud.dev/buckets/internal/logging"
	"excloud.dev/buckets/internal/sdnotify"
)

// version and commit are set at build time with -ldflags "-X main.version=…".
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "excd:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("excd", flag.ContinueOnError)
	loader := config.NewLoader(fs)
	showVersion := fs.Bool("version", false, "print version and commit, and exit")
	printConfig := fs.Bool("print-config", false, "print the effective configuration (secrets hidden) and exit")
	restore := fs.String("restore", "", "restore the catalog from a backup file (exc backup) into an empty data directory, and exit")
	// Parse errors are returned (and printed once by main), not followed
	// by the whole flag list; -help prints the list to stdout.
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stdout)
			fmt.Println("usage: excd [flags]\n\nPrecedence: flag > environment > config file > default.")
			fs.PrintDefaults()
			return nil
		}
		return err
	}
	if *showVersion {
		fmt.Printf("excd %s (commit %s)\n", version, commit)
		return nil
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg, file, err := loader.Load(os.LookupEnv, config.DefaultFile)
	if err != nil {
		return err
	}
	if *printConfig {
		if file != "" {
			fmt.Printf("# from %s, environment and flags\n", file)
		}
		return cfg.WriteTOML(os.Stdout)
	}
	level := new(slog.LevelVar)
	level.Set(parseLevel(cfg.LogLevel))
	log := newLogger(cfg.LogFormat, level)
	slog.SetDefault(log)

	if *restore != "" {
		return restoreCatalog(cfg, *restore, log)
	}

	dcfg := daemon.Config{
		DataDir:           cfg.DataDir,
		Listen:            cfg.Listen,
		Region:            cfg.Region,
		KeyFile:           cfg.MasterKey,
		RootAccessKey:     cfg.RootAccessKey,
		RootSecretKey:     cfg.RootSecretKey,
		GCInterval:        gcInterval(cfg.GCInterval),
		AdminSocket:       cfg.AdminSocket,
		TLSCert:           cfg.TLSCert,
		TLSKey:            cfg.TLSKey,
		MetricsListen:     cfg.MetricsListen,
		ShutdownTimeout:   cfg.ShutdownTimeout,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IOIdleTimeout:     cfg.IOIdleTimeout,
		MinFree:           cfg.MinFreeSpace,
		PublicDomain:      cfg.PublicDomain,
		TrustedProxies:    cfg.TrustedProxies,
		MaxConns:          connBound(cfg.MaxConnections),
		MaxConnsPerSource: connBound(cfg.MaxConnectionsPerSource),
		Mounts:            cfg.Mounts,
		MountOptions:      &cfg.Mount,
		Version:           version,
		Commit:            commit,
		Logger:            log,
	}
	lns, err := sdnotify.Listeners()
	if err != nil {
		return err
	}
	if len(lns) > 0 {
		dcfg.Listener = lns[0]
		for _, extra := range lns[1:] {
			log.Warn("socket activation: ignoring extra socket; excd serves S3 on the first only", "addr", extra.Addr().String())
			extra.Close()
		}
	}
	if file != "" {
		log.Info("config", "file", file)
	}

	// Signals are caught before Start so a SIGTERM during a slow start (a
	// big catalog to open) is not lost; it is acted on once Start returns.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	d, err := daemon.Start(dcfg)
	if err != nil {
		notify(log, "STATUS=start failed: "+err.Error())
		return err
	}
	if p := d.CredentialsPath(); p != "" {
		fmt.Fprintf(os.Stderr, "excd: first start; access key written to %s; move that file out of the data directory\n", p)
	}
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	fmt.Fprintf(os.Stderr, "excd: S3 endpoint %s://%s\n", scheme, d.Addr())
	if m := d.MetricsAddr(); m != "" {
		// Printed like the endpoint so a supervisor (or a test) that asked
		// for port 0 learns the port.
		fmt.Fprintf(os.Stderr, "excd: metrics endpoint http://%s\n", m)
	}
	// Start returned: S3 accepts, the catalog is open, mounts are up.
	notify(log, sdnotify.Ready+"\nSTATUS=serving S3 on "+d.Addr())

	stopWatchdog := watchdog(log, d.Check)
	defer stopWatchdog()

	for sig := range sigs {
		if sig == syscall.SIGHUP {
			reload(loader, d, level, cfg, log)
			continue
		}
		return shutdown(d, cfg.ShutdownTimeout, sigs, log, sig)
	}
	return nil
}

// shutdown stops the daemon, bounded by timeout; another SIGTERM or SIGINT
// meanwhile forces it.
func shutdown(d *daemon.Daemon, timeout time.Duration, sigs <-chan os.Signal, log *slog.Logger, sig os.Signal) error {
	notify(log, sdnotify.Stopping+"\nSTATUS=draining requests")
	log.Info("shutting down", "signal", sig.String(), "timeout", timeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go func() {
		for s := range sigs {
			if s != syscall.SIGHUP {
				log.Warn("second signal: forcing shutdown", "signal", s.String())
				cancel()
				return
			}
		}
	}()
	err := d.Shutdown(ctx)
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// reload applies SIGHUP: the certificate files, and the settings that can
// change without a restart. Others are reported as needing one.
func reload(loader *config.Loader, d *daemon.Daemon, level *slog.LevelVar, old config.Config, log *slog.Logger) {
	notify(log, sdnotify.ReloadingNow())
	defer notify(log, sdnotify.Ready)
	if err := d.ReloadTLS(); err != nil {
		log.Error("reload: keeping the old certificate", "err", err)
	}
	cfg, _, err := loader.Load(os.LookupEnv, config.DefaultFile)
	if err != nil {
		log.Error("reload: config not applied", "err", err)
		return
	}
	if cfg.LogLevel != old.LogLevel {
		level.Set(parseLevel(cfg.LogLevel))
	}
	d.SetGCInterval(gcInterval(cfg.GCInterval))
	log.Info("reloaded", "log_level", cfg.LogLevel, "gc_interval", cfg.GCInterval)
	if restartNeeded(old, cfg) {
		log.Warn("reload: some changed settings apply only after a restart (live: log_level, gc_interval, certificate contents)")
	}
}

func restartNeeded(a, b config.Config) bool {
	a.LogLevel, a.GCInterval = b.LogLevel, b.GCInterval
	return fmt.Sprint(a) != fmt.Sprint(b)
}

// gcInterval maps the config's "0 disables" to daemon.Config's "< 0
// disables" (its 0 means the default).
func gcInterval(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// connBound maps the config's "0 disables" to daemon.Config's "< 0
// disables" (its 0 means the default), as gcInterval does.
func connBound(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

func restoreCatalog(cfg config.Config, path string, log *slog.Logger) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	if err := daemon.Restore(cfg.DataDir, cfg.MasterKey, f, log); err != nil {
		return err
	}
	log.Info("catalog restored; copy the chunks directory before starting excd", "from", path, "data_dir", cfg.DataDir)
	return nil
}

// watchdog pings systemd at half of WatchdogSec, each time after check
// passes: a ping from a timer alone would keep a wedged daemon alive.
func watchdog(log *slog.Logger, check func(context.Context) error) (stop func()) {
	every, err := sdnotify.WatchdogInterval()
	if err != nil {
		log.Warn("watchdog disabled", "err", err)
	}
	if every <= 0 {
		return func() {}
	}
	t := time.NewTicker(every)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), every)
				err := check(ctx)
				cancel()
				if err != nil {
					log.Error("watchdog: health check failed; not pinging", "err", err)
					continue
				}
				notify(log, sdnotify.Watchdog)
			}
		}
	}()
	return func() { t.Stop(); close(done) }
}

func notify(log *slog.Logger, state string) {
	if _, err := sdnotify.Notify(state); err != nil {
		log.Warn("systemd notify failed", "err", err)
	}
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(s)) // validated by config
	return l
}

// newLogger picks the log format: text for a person at a terminal, JSON for
// the journal (JOURNAL_STREAM is set when stderr goes to journald) and for
// anything else that will be parsed.
func newLogger(format string, level slog.Leveler) *slog.Logger {
	if format == "auto" {
		format = "json"
		if os.Getenv("JOURNAL_STREAM") == "" && isTerminal(os.Stderr) {
			format = "text"
		}
	}
	if format == "json" {
		return slog.New(logging.NewJSONHandler(os.Stderr, level))
	}
	return slog.New(logging.NewTextHandler(os.Stderr, level))
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
