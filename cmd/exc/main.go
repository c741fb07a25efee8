// Command exc is the administration client of excd: orgs, buckets, access
// keys and status, through the daemon's admin API on a unix socket (see
// package admin), plus writing aws CLI profiles for a key. The daemon stays
// the only process that opens the catalog.
//
// This package is plumbing: flags and arguments in, admin.Client calls,
// tables or JSON out, and an exit code that says what went wrong:
//
//	0 ok, 1 error reported by the daemon (or a local failure),
//	2 usage error, 3 cannot reach the daemon, 4 not found.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"excloud.dev/buckets/admin"
	"excloud.dev/buckets/internal/fsutil"
)

// Set with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "unknown"
)

// Exit codes.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitUnreachable = 3
	exitNotFound    = 4
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// app holds what every command needs; tests build one per run.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	socketFlag string
	jsonOut    bool
	client     *admin.Client
}

// run executes one exc command line and returns its exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if a.client != nil {
		a.client.Close()
	}
	return a.report(err)
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "exc",
		Short: "Administer excd: orgs, buckets, access keys, status",
		Long: "exc administers a running excd through its admin socket.\n\n" +
			"The socket is --socket, else $EXC_SOCKET, else " + admin.DefaultSocket("excd-data") + " if it exists, else " + packagedSocket + ".\n" +
			"Exit codes: 0 ok, 1 error from the daemon, 2 usage error, 3 cannot reach the daemon, 4 not found.",
		Version:       version + " (commit " + commit + ")",
		SilenceErrors: true, // report prints errors, with the exit code
		SilenceUsage:  true,
		Args:          noArgs,
		RunE:          needSubcommand,
	}
	root.SetVersionTemplate("exc {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.socketFlag, "socket", "", "admin socket of excd (default $EXC_SOCKET, else "+admin.DefaultSocket("excd-data")+")")
	pf.BoolVar(&a.jsonOut, "json", false, "print JSON for scripts instead of tables")

	root.AddCommand(a.opsCmds()...)
	root.AddCommand(a.orgsCmd(), a.bucketsCmd(), a.statusCmd(), &cobra.Command{
		Use:   "version",
		Short: "Print exc's version and commit",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.jsonOut {
				return a.printJSON(map[string]string{"version": version, "commit": commit})
			}
			_, err := fmt.Fprintf(a.stdout, "exc %s (commit %s)\n", version, commit)
			return err
		},
	})
	return root
}

// api returns the client for the configured socket.
func (a *app) api() *admin.Client {
	if a.client == nil {
		a.client = admin.Dial(a.socket())
	}
	return a.client
}

func (a *app) socket() string {
	if a.socketFlag != "" {
		return a.socketFlag
	}
	if s := a.getenv("EXC_SOCKET"); s != "" {
		return s
	}
	// A daemon started in this directory (go run ./cmd/excd) wins; else the
	// packaged service's socket, so `exc status` works on an installed host
	// without flags.
	local := admin.DefaultSocket("excd-data")
	if _, err := os.Stat(local); err != nil {
		if _, err := os.Stat(packagedSocket); err == nil {
			return packagedSocket
		}
	}
	return local
}

// packagedSocket is where excd.service's RuntimeDirectory puts the socket.
const packagedSocket = "/run/excd/admin.sock"

// usageError marks a bad command line (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// notFoundError is a not-found exc detects itself (exit 4), e.g. no org to
// default to.
type notFoundError struct{ msg string }

func (e notFoundError) Error() string { return e.msg }

// report prints err and maps it to an exit code.
func (a *app) report(err error) int {
	if err == nil {
		return exitOK
	}
	var (
		ue  usageError
		ure *admin.UnreachableError
		ae  *admin.Error
		nfe notFoundError
	)
	code := exitError
	switch {
	case errors.As(err, &ue):
		code = exitUsage
	case errors.As(err, &ure):
		code = exitUnreachable
	case errors.As(err, &ae) && ae.NotFound():
		code = exitNotFound
	case errors.As(err, &nfe):
		code = exitNotFound
	case errors.Is(err, context.Canceled):
		code = exitError
	}
	fmt.Fprintf(a.stderr, "exc: %v\n", err)
	if code == exitUsage {
		fmt.Fprintln(a.stderr, "Run 'exc --help' (or 'exc COMMAND --help') for usage.")
	}
	if code == exitUnreachable {
		if errors.Is(err, fsutil.ErrUntrusted) {
			fmt.Fprintln(a.stderr, "exc talks only to a socket made and served by root or by you; run exc as excd's user, or point it at excd's socket.")
		} else {
			fmt.Fprintln(a.stderr, "Is excd running? Point exc at its socket with --socket or $EXC_SOCKET.")
		}
	}
	return code
}

// Argument validators that make wrong counts usage errors (exit 2).

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 && !cmd.HasSubCommands() {
		return usagef("%s takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil
}

func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return usagef("%s needs %d argument(s) (%v), got %d", cmd.CommandPath(), len(names), names, len(args))
		}
		return nil
	}
}

// needSubcommand is the RunE of command groups: cobra would otherwise print
// help and exit 0 for "exc orgs frob".
func needSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	cmd.SetOut(cmd.ErrOrStderr())
	cmd.Help()
	return usagef("%s needs a subcommand", cmd.CommandPath())
}

// group returns a command that only holds subcommands.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Args: noArgs, RunE: needSubcommand}
	c.AddCommand(subs...)
	return c
}
