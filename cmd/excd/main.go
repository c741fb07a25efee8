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
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"excloud.dev/buckets/internal/clidoc"
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

// Exit codes, the same as exc's for the cases they share: 0 ok (--help,
// --version and --print-config included), 1 error (configuration, start,
// run or stop), 2 usage error (unknown flag or command, bad flag value,
// stray argument).
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() { os.Exit(run(os.Args[1:])) }

// usageError marks a bad command line (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// cli is one excd command line: the parsed flags and, once the
// configuration is loaded, the logger that owns stderr.
type cli struct {
	loader      *config.Loader
	printConfig bool
	restore     string
	log         *slog.Logger
}

// run executes one excd command line and returns its exit code. Whatever
// stops it is logged as one ERROR record, in the configured log format (or
// the best guess at it when the configuration itself is what failed), so
// stderr stays a structured log to the last line.
func run(args []string) int {
	c := &cli{}
	root := c.rootCmd()
	root.SetArgs(args)
	err := checkDashes(root, args)
	if err == nil {
		err = root.Execute()
	}
	if err == nil {
		return exitOK
	}
	code := exitError
	var ue usageError
	if errors.As(err, &ue) {
		code = exitUsage
	}
	log := c.log
	if log == nil {
		log = newLogger(c.loader.LogFormat(os.LookupEnv), slog.LevelInfo)
	}
	attrs := []any{"err", err.Error(), "exit_code", code}
	if code == exitUsage {
		attrs = append(attrs, "help", "excd --help")
	}
	log.Error("exiting on error", attrs...)
	return code
}

const longHelp = `excd is the excloud buckets daemon. It owns one data directory (catalog,
encrypted chunks, master key) and serves it over S3, over FUSE mounts and
to exc through its admin socket.

Every setting is a flag, an EXC_* environment variable and a key of the
config file (--config, else $EXC_CONFIG, else ` + config.DefaultFile + `
when it exists). Precedence: flag > environment > config file > default.
--print-config shows the result.

stderr carries only the log: one record per line, JSON unless stderr is a
terminal (--log-format). The S3 address is the "S3 endpoint" record's url.

Signals: SIGTERM or SIGINT stops gracefully (a second one forces it);
SIGHUP reloads the TLS certificate and log_level, gc_interval.

Exit codes: 0 ok, 1 error (configuration, start, run or stop),
2 usage error (as exc).`

const examples = `  # First start in the current directory: creates ./excd-data, the org
  # "default" and a first access key (its path is logged).
  excd

  # Serve another data directory on all interfaces.
  excd --data-dir /srv/excd --listen 0.0.0.0:9000

  # The packaged service: settings from the config file, debug logging.
  EXC_LOG_LEVEL=debug excd --config /etc/excd/excd.toml

  # Show the effective configuration (secrets hidden) and exit.
  excd --config /etc/excd/excd.toml --print-config

  # Restore a catalog backup (exc backup FILE) into an empty data directory.
  excd --data-dir /srv/excd-new --master-key /srv/excd/master.key --restore catalog.bak`

func (c *cli) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "excd [flags]",
		Short:         "The excloud buckets daemon: S3 gateway, FUSE mounts, admin socket",
		Long:          longHelp,
		Example:       examples,
		Version:       version + " (commit " + commit + ")",
		SilenceErrors: true, // run logs the error, with the exit code
		SilenceUsage:  true,
		Args:          unknownCommand,
		RunE:          func(*cobra.Command, []string) error { return c.main() },
		// excd's flags complete; the command stays out of --help.
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: true},
	}
	root.SetVersionTemplate("excd {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	fs := root.Flags()
	c.loader = config.NewLoader(fs)
	fs.BoolVar(&c.printConfig, "print-config", false, "print the effective configuration (secrets hidden) and exit")
	fs.StringVar(&c.restore, "restore", "", "restore the catalog from a backup `file` (exc backup) into an empty data directory, or an empty PostgreSQL database when the catalog is there, and exit")
	// Section 8: excd is a daemon the administrator runs (exc's pages are
	// section 1). A build step of packaging/build-deb.sh, so hidden.
	root.AddCommand(clidoc.ManCommand("excd", "8"))
	return root
}

// unknownCommand refuses positional arguments: excd takes none, and its
// only commands (help, completion) are cobra's. It suggests the nearest
// command, as exc does.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q (excd takes flags only)", args[0], cmd.CommandPath())
	s := cmd.SuggestionsFor(args[0])
	// "excd print-config", "excd version": a flag typed as a command.
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden && editDistance(strings.ToLower(args[0]), f.Name) <= 2 {
			s = append(s, "--"+f.Name)
		}
	})
	if len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageError{errors.New(msg)}
}

// editDistance is the Levenshtein distance, for suggestions.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// checkDashes turns "-data-dir" (accepted by excd's earlier stdlib flag
// parsing) into a clear usage error: pflag would read it as the shorthands
// -d -a -t -a and fail with a confusing message.
func checkDashes(root *cobra.Command, args []string) error {
	for _, a := range args {
		if a == "--" {
			return nil
		}
		name, ok := strings.CutPrefix(a, "-")
		if !ok || strings.HasPrefix(name, "-") || len(name) < 2 {
			continue
		}
		name, _, _ = strings.Cut(name, "=")
		if root.Flags().Lookup(name) != nil || name == "help" || name == "version" {
			return usageError{fmt.Errorf("flag %s: long flags take two dashes: -%s", a, a)}
		}
	}
	return nil
}

// main is excd proper: load the configuration, then print it, restore a
// catalog, or serve until a signal.
func (c *cli) main() error {
	cfg, file, err := c.loader.Load(os.LookupEnv, config.DefaultFile)
	if err != nil {
		return err
	}
	if c.printConfig {
		if file != "" {
			fmt.Printf("# from %s, environment and flags\n", file)
		}
		return cfg.WriteTOML(os.Stdout)
	}
	level := new(slog.LevelVar)
	level.Set(parseLevel(cfg.LogLevel))
	log := newLogger(cfg.LogFormat, level)
	slog.SetDefault(log)
	c.log = log

	if c.restore != "" {
		return restoreCatalog(cfg, c.restore, log)
	}

	dcfg := daemon.Config{
		DataDir:           cfg.DataDir,
		Catalog:           cfg.Catalog,
		Chunks:            cfg.Chunks,
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
		ConsoleListen:     cfg.ConsoleListen,
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
		ServeOnlyMounts:   true,
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
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	// The records a supervisor (or a test) that asked for port 0 reads the
	// ports from; the same addresses are in READY's STATUS.
	announce(log, "S3 endpoint", "url", scheme+"://"+d.Addr(), "data_dir", cfg.DataDir)
	status := "serving S3 on " + d.Addr()
	if m := d.MetricsAddr(); m != "" {
		announce(log, "metrics endpoint", "url", "http://"+m)
		status += "; metrics on " + m
	}
	if c := d.ConsoleAddr(); c != "" {
		announce(log, "console endpoint", "url", scheme+"://"+c)
		status += "; console on " + c
	}
	// Start returned: S3 accepts, the catalog is open, mounts are up.
	notify(log, sdnotify.Ready+"\nSTATUS="+status)

	stopWatchdog := watchdog(log, d.Check)
	defer stopWatchdog()

	for sig := range sigs {
		if sig == syscall.SIGHUP {
			reload(c.loader, d, level, cfg, log)
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
	log.Info("shutting down", "signal", sig.String(), "timeout", timeout)
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
	if cfg.Catalog != "" {
		// A catalog in PostgreSQL: the backup (of either engine) loads
		// into an empty database, which moves a single host's catalog to
		// a fleet (docs/scale-out.md, "Backup").
		if err := daemon.RestoreShared(cfg.DataDir, cfg.MasterKey, cfg.Catalog, f, log); err != nil {
			return err
		}
		log.Info("catalog restored into PostgreSQL; the chunks must be where the nodes' chunks setting points before they start", "from", path)
		return nil
	}
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

// announce logs an INFO record whatever log_level is: where excd listens is
// what a supervisor that asked for port 0 reads, and an operator who keeps
// only warnings still wants it once per start.
func announce(log *slog.Logger, msg string, args ...any) {
	r := slog.NewRecord(time.Now(), slog.LevelInfo, msg, 0)
	r.Add(args...)
	_ = log.Handler().Handle(context.Background(), r)
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
