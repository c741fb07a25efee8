// Command excd is the excloud buckets daemon: it owns the data directory and
// serves the S3 gateway. Flags, environment and signals only; the wiring is
// in internal/daemon.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"excloud.dev/buckets/internal/daemon"
)

// version and commit are set at build time with -ldflags "-X main.version=…".
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "excd:", err)
		os.Exit(1)
	}
}

func run() error {
	var cfg daemon.Config
	flag.StringVar(&cfg.DataDir, "data-dir", env("EXC_DATA_DIR", "excd-data"), "data directory (catalog, chunks, master key)")
	flag.StringVar(&cfg.Listen, "listen", env("EXC_LISTEN", "127.0.0.1:9000"), "S3 listen address")
	flag.StringVar(&cfg.Region, "region", env("EXC_REGION", "auto"), "region reported by GetBucketLocation")
	flag.StringVar(&cfg.KeyFile, "master-key", env("EXC_MASTER_KEY_FILE", ""), "master key file (default: $CREDENTIALS_DIRECTORY/master.key or <data-dir>/master.key)")
	flag.StringVar(&cfg.AdminSocket, "admin-socket", env("EXC_ADMIN_SOCKET", ""), "admin API unix socket (default $RUNTIME_DIRECTORY/admin.sock, else <data-dir>/admin.sock; - disables)")
	gc := flag.Duration("gc-interval", 10*time.Minute, "how often to collect unreferenced chunks (0 disables)")
	showVersion := flag.Bool("version", false, "print version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Printf("excd %s (commit %s)\n", version, commit)
		return nil
	}
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", flag.Arg(0))
	}
	cfg.GCInterval = *gc
	if *gc == 0 {
		cfg.GCInterval = -1
	}
	cfg.RootAccessKey = os.Getenv("EXC_ROOT_ACCESS_KEY")
	cfg.RootSecretKey = os.Getenv("EXC_ROOT_SECRET_KEY")
	cfg.Version, cfg.Commit = version, commit
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))

	d, err := daemon.Start(cfg)
	if err != nil {
		return err
	}
	if p := d.CredentialsPath(); p != "" {
		fmt.Fprintf(os.Stderr, "excd: first start; access key written to %s\n", p)
	}
	fmt.Fprintf(os.Stderr, "excd: S3 endpoint http://%s\n", d.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	cfg.Logger.Info("shutting down")
	return d.Close()
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}
