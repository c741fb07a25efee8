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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"excloud.dev/buckets/admin"
	"excloud.dev/buckets/internal/clidoc"
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
	a.finishTree(root)
	err := root.ExecuteContext(ctx)
	if a.client != nil {
		a.client.Close()
	}
	// A flag error can stop cobra before it reaches --json; the command
	// line still says what the caller wants errors to look like.
	if !a.jsonOut {
		a.jsonOut = wantsJSON(args)
	}
	return a.report(err)
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "exc",
		Short: "Administer excd: orgs, buckets, access keys, status",
		Long: "exc administers a running excd through its admin socket.\n\n" +
			"The socket is --socket, else $EXC_SOCKET, else " + admin.DefaultSocket("excd-data") + " if it exists, else " + packagedSocket + ".\n\n" +
			"Exit codes: 0 ok, 1 error from the daemon, 2 usage error, 3 cannot reach the daemon, 4 not found.\n\n" +
			"With --json, results are JSON on standard output, and an error is one JSON object on standard\n" +
			"error (standard output then stays empty, but for scrub's damage report), such as " +
			`{"error":{"code":"no_such_bucket","message":"…","exit_code":4}}` + ".\n" +
			"Its code is the admin API's error code, or one of usage, unreachable, not_found, damaged,\n" +
			"error; hint (how to go on) and suggestions (for a mistyped command) appear when there are some.\n\n" +
			"Access keys are under exc keys (also reachable as exc buckets keys).\n\n" +
			"Shell completion (bash, zsh, fish) completes commands, bucket and org names: see exc completion --help.",
		Example: "  exc status\n" +
			"  exc buckets create photos\n" +
			"  exc keys create --bucket photos --read-only\n" +
			"  exc --json buckets list | jq -r '.buckets[].name'\n" +
			"  exc --socket /run/excd/admin.sock orgs list",
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
	pf.BoolVar(&a.jsonOut, "json", false, "print JSON for scripts instead of tables; errors too, as one object on stderr")

	// Access keys belong to an org, so their home is "exc keys"; the same
	// commands stay reachable as "exc buckets keys", the path the hosted
	// service documents (exc buckets keys configure).
	keys := a.keysCmd()
	keys.PersistentFlags().String("org", "", "org `ID|NAME` to act in (default: the default org, made at the daemon's first start)")
	a.completeOrgFlag(keys)

	root.AddCommand(a.opsCmds()...)
	root.AddCommand(a.chunksCmd())
	root.AddCommand(a.orgsCmd(), a.bucketsCmd(), keys, a.statusCmd(), &cobra.Command{
		Use:     "version",
		Short:   "Print exc's version and commit",
		Example: "  exc version\n  exc --json version",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.jsonOut {
				return a.printJSON(map[string]string{"version": version, "commit": commit})
			}
			_, err := fmt.Fprintf(a.stdout, "exc %s (commit %s)\n", version, commit)
			return err
		},
	})
	man := clidoc.ManCommand("exc", "1")
	man.Args = exactArgs("DIR")
	root.AddCommand(man)
	return root
}

// finishTree adds what cobra would otherwise add only while executing (the
// help and completion commands, which capture the output streams, so it runs
// after they are set), gives them examples like every other command, and
// turns on suggestions for mistyped commands everywhere.
func (a *app) finishTree(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "help":
			c.Example = "  exc help buckets create\n  exc buckets create --help"
			c.Args = helpTopic
		case "completion":
			c.Args = noArgs
			c.RunE = needSubcommand
			c.Example = "  source <(exc completion bash)\n  exc completion zsh > \"${fpath[1]}/_exc\"\n  exc completion fish > ~/.config/fish/completions/exc.fish"
			for _, sh := range c.Commands() {
				// Debian hosts: bash, zsh and fish are the shells to serve.
				if sh.Name() == "powershell" {
					c.RemoveCommand(sh)
					continue
				}
				sh.Args = noArgs
				sh.Example = completionExample(sh.Name())
			}
		}
	}
	clidoc.EnableSuggestions(root)
}

// helpTopic refuses a topic that names no command: cobra's help would print
// the root's help and exit 0, so a typo in a script would go unnoticed.
func helpTopic(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	root := cmd.Root()
	c, rest, err := root.Find(args)
	if err == nil && len(rest) == 0 {
		return nil
	}
	// The deepest command that matched gives the suggestions and the list.
	if c == nil {
		c = root
	}
	return needSubcommand(c, rest)
}

func completionExample(shell string) string {
	switch shell {
	case "bash":
		return "  # this shell only (the .deb installs it for every shell already)\n" +
			"  source <(exc completion bash)\n" +
			"  exc completion bash > /etc/bash_completion.d/exc"
	case "zsh":
		return "  exc completion zsh > \"${fpath[1]}/_exc\"\n" +
			"  # installed by the .deb as /usr/share/zsh/vendor-completions/_exc"
	case "fish":
		return "  exc completion fish | source\n" +
			"  exc completion fish > ~/.config/fish/completions/exc.fish"
	}
	return ""
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

// report prints err and maps it to an exit code: a line on stderr, or with
// --json one object on stderr (jsonError), so stdout holds only results.
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
	code, kind, msg, hint := exitError, "error", err.Error(), ""
	switch {
	case errors.As(err, &ue):
		code, kind = exitUsage, "usage"
		hint = "Run 'exc --help' (or 'exc COMMAND --help') for usage."
	case errors.As(err, &ure):
		code, kind = exitUnreachable, "unreachable"
		if errors.Is(err, fsutil.ErrUntrusted) {
			hint = "exc talks only to a socket made and served by root or by you; run exc as excd's user, or point it at excd's socket."
		} else {
			hint = "Is excd running? Point exc at its socket with --socket or $EXC_SOCKET."
		}
	case errors.As(err, &ae):
		kind, msg = ae.Code, ae.Message
		if ae.NotFound() {
			code = exitNotFound
		}
	case errors.As(err, &nfe):
		code, kind = exitNotFound, "not_found"
	case errors.Is(err, errDamaged):
		kind = "damaged"
	}
	var suggestions []string
	var uc unknownCommandError
	if errors.As(err, &uc) {
		suggestions = uc.suggestions
	}
	if a.jsonOut {
		enc := json.NewEncoder(a.stderr)
		enc.Encode(struct {
			Error jsonError `json:"error"`
		}{jsonError{Code: kind, Message: msg, ExitCode: code, Hint: hint, Suggestions: suggestions}})
		return code
	}
	fmt.Fprintf(a.stderr, "exc: %v\n", err)
	if len(suggestions) > 0 {
		fmt.Fprintf(a.stderr, "\nDid you mean this?\n\t%s\n\n", strings.Join(suggestions, "\n\t"))
	}
	if hint != "" {
		fmt.Fprintln(a.stderr, hint)
	}
	return code
}

// jsonError is what --json prints for a failure. Code is the admin API's
// code (no_such_bucket, …) for errors from the daemon, else one of usage,
// unreachable, not_found, damaged, error; Message is the text without the
// "exc: " prefix and without the code.
type jsonError struct {
	Code        string   `json:"code"`
	Message     string   `json:"message"`
	ExitCode    int      `json:"exit_code"`
	Hint        string   `json:"hint,omitempty"`
	Suggestions []string `json:"suggestions,omitempty"`
}

// wantsJSON reports whether args ask for --json before any "--".
func wantsJSON(args []string) bool {
	for _, arg := range args {
		switch arg {
		case "--":
			return false
		case "--json", "--json=true", "--json=1":
			return true
		}
	}
	return false
}

// cmdPath names cmd for an error message: its path without "exc", which
// report already puts in front ("exc: orgs list: …", never "exc: exc …").
func cmdPath(cmd *cobra.Command) string {
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// Argument validators that make wrong counts usage errors (exit 2).

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 && !cmd.HasSubCommands() {
		return usagef("%s: takes no arguments, got %q", cmdPath(cmd), args)
	}
	return nil
}

func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return usagef("%s: needs %d argument(s) (%s), got %d", cmdPath(cmd), len(names), strings.Join(names, " "), len(args))
		}
		return nil
	}
}

// unknownCommandError is a mistyped command (a usage error), with the
// nearest ones.
type unknownCommandError struct {
	err         usageError
	suggestions []string
}

func (e unknownCommandError) Error() string { return e.err.Error() }
func (e unknownCommandError) Unwrap() error { return e.err }

// needSubcommand is the RunE of command groups: cobra would otherwise print
// help and exit 0 for "exc orgs frob".
func needSubcommand(cmd *cobra.Command, args []string) error {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	where := ""
	if cmd.HasParent() {
		where = cmdPath(cmd) + ": "
	}
	if len(args) > 0 {
		return unknownCommandError{
			usageError{fmt.Errorf("%sunknown command %q (commands: %s)", where, args[0], strings.Join(names, ", "))},
			cmd.SuggestionsFor(args[0]),
		}
	}
	if jsonOut, _ := cmd.Flags().GetBool("json"); !jsonOut {
		cmd.SetOut(cmd.ErrOrStderr())
		cmd.Help()
	}
	return usagef("%sa command is needed, one of: %s", where, strings.Join(names, ", "))
}

// group returns a command that only holds subcommands.
func group(use, short, example string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Example: example, Args: noArgs, RunE: needSubcommand}
	c.AddCommand(subs...)
	return c
}
