package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"excloud.dev/buckets/internal/clidoc"
	excd "excloud.dev/buckets/internal/daemon"
)

// startExcd starts a real daemon (catalog, chunk store, S3 listener on a
// free port, admin socket) in dir; its first start makes the default org.
func startExcd(t *testing.T) *excd.Daemon {
	t.Helper()
	d, err := excd.Start(excd.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", GCInterval: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// tree builds exc's command tree as run does.
func tree() *cobra.Command {
	a := &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	root := a.rootCmd()
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	a.finishTree(root)
	return root
}

func TestEveryCommandHasExamples(t *testing.T) {
	root := tree()
	if missing := clidoc.MissingExamples(root); len(missing) > 0 {
		t.Fatalf("commands without an Examples section in their help: %v", missing)
	}
	// The walk must have seen the whole tree, the alias and cobra's own
	// help and completion commands included, or it proves nothing.
	var paths []string
	clidoc.Walk(root, func(c *cobra.Command) { paths = append(paths, c.CommandPath()) })
	for _, p := range []string{"exc keys configure", "exc buckets keys configure", "exc buckets set-public",
		"exc help", "exc completion fish", "exc gen-man", "exc backup"} {
		if !slices.Contains(paths, p) {
			t.Fatalf("walk missed %q: %v", p, paths)
		}
	}
	// And a person sees them.
	r := exc(t, nil, "", "buckets", "delete", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "Examples:\n  exc buckets delete photos\n") {
		t.Fatalf("help of buckets delete: %+v", r)
	}
}

func TestUnknownCommandSuggestsNearest(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		suggest string
	}{
		{[]string{"buckts"}, "buckets"},
		{[]string{"stauts"}, "status"},
		{[]string{"buckets", "crate", "x"}, "create"},
		{[]string{"keys", "lst"}, "list"},
		{[]string{"buckets", "keys", "dlete"}, "delete"},
		{[]string{"orgs", "cr"}, "create"}, // a prefix
		{[]string{"help", "bukets"}, "buckets"},
		{[]string{"help", "buckets", "creat"}, "create"},
	} {
		r := exc(t, nil, "", tt.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "Did you mean this?\n\t"+tt.suggest+"\n") {
			t.Errorf("exc %v: exit %d, stderr:\n%s", tt.args, r.code, r.stderr)
		}
		r = exc(t, nil, "", append([]string{"--json"}, tt.args...)...)
		var v struct{ Error jsonError }
		if err := json.Unmarshal([]byte(r.stderr), &v); err != nil || r.code != exitUsage ||
			!slices.Contains(v.Error.Suggestions, tt.suggest) || v.Error.Code != "usage" {
			t.Errorf("exc --json %v: exit %d, %v, stderr:\n%s", tt.args, r.code, err, r.stderr)
		}
	}
	// A help topic that exists is help, exit 0.
	if r := exc(t, nil, "", "help", "buckets", "create"); r.code != 0 || !strings.Contains(r.stdout, "exc buckets create") {
		t.Errorf("exc help buckets create: exit %d, stdout:\n%s", r.code, r.stdout)
	}
	// Nothing near: no suggestion, but the list of commands.
	r := exc(t, nil, "", "orgs", "zzzzzz")
	if r.code != exitUsage || strings.Contains(r.stderr, "Did you mean") ||
		!strings.HasPrefix(r.stderr, `exc: orgs: unknown command "zzzzzz" (commands: create, delete, list)`+"\n") {
		t.Errorf("exc orgs zzzzzz: exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

// jsonErr decodes stderr as exactly one JSON error object.
func jsonErr(t *testing.T, r result) jsonError {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(r.stderr))
	dec.DisallowUnknownFields()
	var v struct {
		Error jsonError `json:"error"`
	}
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("stderr is not a JSON error: %v\n%s", err, r.stderr)
	}
	if rest, _ := io.ReadAll(dec.Buffered()); strings.TrimSpace(string(rest)) != "" || dec.More() {
		t.Fatalf("stderr holds more than one JSON object:\n%s", r.stderr)
	}
	if r.stdout != "" {
		t.Fatalf("stdout of a failed --json command is not empty:\n%s", r.stdout)
	}
	if v.Error.ExitCode != r.code {
		t.Fatalf("exit_code %d, exit status %d", v.Error.ExitCode, r.code)
	}
	return v.Error
}

func TestJSONErrors(t *testing.T) {
	d := startExcd(t)
	env := map[string]string{"EXC_SOCKET": d.AdminSocket()}

	r := exc(t, env, "", "--json", "buckets", "delete", "nope")
	e := jsonErr(t, r)
	if r.code != exitNotFound || e.Code != "no_such_bucket" || !strings.Contains(e.Message, `nope`) ||
		strings.Contains(e.Message, "no_such_bucket") || strings.HasPrefix(e.Message, "exc") {
		t.Fatalf("missing bucket: exit %d, %+v", r.code, e)
	}
	// The same failure for a person: one line.
	r = exc(t, env, "", "buckets", "delete", "nope")
	if r.code != exitNotFound || !regexp.MustCompile(`^exc: bucket "?nope"?.*\(no_such_bucket\)\n$`).MatchString(r.stderr) {
		t.Fatalf("missing bucket (text): exit %d, stderr %q", r.code, r.stderr)
	}

	exc(t, env, "", "buckets", "create", "photos")
	r = exc(t, env, "", "buckets", "create", "photos", "--json")
	if e := jsonErr(t, r); r.code != exitError || e.Code != "bucket_exists" {
		t.Fatalf("duplicate bucket: exit %d, %+v", r.code, e)
	}
	// Usage errors: no help text around the object.
	r = exc(t, env, "", "--json", "orgs")
	if e := jsonErr(t, r); r.code != exitUsage || e.Code != "usage" || e.Hint == "" {
		t.Fatalf("group alone: exit %d, %+v", r.code, e)
	}
	// A flag error stops parsing before --json; still JSON.
	r = exc(t, env, "", "orgs", "list", "--frob", "--json")
	if e := jsonErr(t, r); r.code != exitUsage || e.Message != "unknown flag: --frob" {
		t.Fatalf("unknown flag: exit %d, %+v", r.code, e)
	}
	r = exc(t, nil, "", "--json", "--socket", d.AdminSocket()+".missing", "status")
	if e := jsonErr(t, r); r.code != exitUnreachable || e.Code != "unreachable" || !strings.Contains(e.Hint, "Is excd running?") {
		t.Fatalf("unreachable: exit %d, %+v", r.code, e)
	}
	r = exc(t, env, "", "--json", "keys", "create", "--org", "nope")
	if e := jsonErr(t, r); r.code != exitNotFound || e.Code != "no_such_org" {
		t.Fatalf("missing org: exit %d, %+v", r.code, e)
	}
}

// Every error line starts with exactly one "exc: ".
func TestErrorsHaveOnePrefix(t *testing.T) {
	d := startExcd(t)
	env := map[string]string{"EXC_SOCKET": d.AdminSocket()}
	for _, tt := range []struct {
		args  []string
		code  int
		first string // the first line of stderr that starts with "exc: "
	}{
		{[]string{"buckets", "create"}, exitUsage, "exc: buckets create: needs 1 argument(s) (NAME), got 0"},
		{[]string{"orgs", "list", "x"}, exitUsage, `exc: orgs list: takes no arguments, got ["x"]`},
		{[]string{"keys"}, exitUsage, "exc: keys: a command is needed, one of: configure, create, delete, list"},
		{[]string{}, exitUsage, "exc: a command is needed, one of: backup, buckets, chunks, completion, gc, keys, orgs, scrub, status, version"},
		{[]string{"buckets", "set-public", "nope", "maybe"}, exitUsage, `exc: set-public: "maybe" is neither true nor false`},
		{[]string{"keys", "delete", "EXCNOPENOPENOPENOPE0"}, exitNotFound, ""},
		{[]string{"orgs", "delete", "nope"}, exitNotFound, ""},
		{[]string{"--socket", d.AdminSocket() + ".missing", "gc"}, exitUnreachable, "exc: cannot reach excd at " + d.AdminSocket() + ".missing: "},
	} {
		r := exc(t, env, "", tt.args...)
		var first string
		for _, l := range strings.Split(r.stderr, "\n") {
			if strings.HasPrefix(l, "exc: ") {
				first = l
				break
			}
		}
		if r.code != tt.code || first == "" || !strings.HasPrefix(first, tt.first) ||
			strings.Contains(r.stderr, "exc: exc") || strings.Contains(r.stderr, "exc: admin:") {
			t.Errorf("exc %v: exit %d (want %d), stderr:\n%s", tt.args, r.code, tt.code, r.stderr)
		}
	}
}

// Access keys live under "exc keys"; "exc buckets keys" is the same
// commands, so a key made through one is listed and deleted through the
// other, and the hosted service's "exc buckets keys configure" works.
func TestKeysHomeAndAlias(t *testing.T) {
	d := startExcd(t)
	env := map[string]string{"EXC_SOCKET": d.AdminSocket()}
	if r := exc(t, env, "", "orgs", "create", "acme"); r.code != 0 {
		t.Fatalf("orgs create: %+v", r)
	}
	r := exc(t, env, "", "keys", "create", "--org", "acme")
	id := regexp.MustCompile(`EXC[A-Z0-9]{17}`).FindString(r.stdout)
	if r.code != 0 || id == "" || !strings.Contains(r.stderr, "exc keys configure "+id) {
		t.Fatalf("keys create: %+v", r)
	}
	if r := exc(t, env, "", "buckets", "keys", "list", "--org", "acme"); r.code != 0 || !strings.Contains(r.stdout, id) {
		t.Fatalf("buckets keys list: %+v", r)
	}
	if r := exc(t, env, "", "keys", "list"); r.code != 0 || strings.Contains(r.stdout, id) {
		t.Fatalf("keys list of the default org shows acme's key: %+v", r)
	}
	if r := exc(t, env, "", "buckets", "keys", "delete", id); r.code != 0 {
		t.Fatalf("buckets keys delete: %+v", r)
	}
	if r := exc(t, env, "", "keys", "list", "--org", "acme"); r.code != 0 || strings.Contains(r.stdout, id) {
		t.Fatalf("key still listed after delete: %+v", r)
	}

	home := t.TempDir()
	for _, path := range [][]string{{"keys", "configure"}, {"buckets", "keys", "configure"}} {
		args := append(path, "EXCAAAAAAAAAAAAAAAAA", "--profile", strings.Join(path, "-"))
		if r := exc(t, map[string]string{"HOME": home}, "secret\n", args...); r.code != 0 {
			t.Fatalf("exc %v: %+v", args, r)
		}
	}
	creds, _ := os.ReadFile(filepath.Join(home, ".aws", "credentials"))
	if !strings.Contains(string(creds), "[keys-configure]") || !strings.Contains(string(creds), "[buckets-keys-configure]") {
		t.Fatalf("credentials:\n%s", creds)
	}

	// Help shows the keys once, at their home.
	if r := exc(t, nil, "", "--help"); !regexp.MustCompile(`(?m)^  keys\s+Create, list, delete access keys`).MatchString(r.stdout) {
		t.Fatalf("exc --help lacks keys:\n%s", r.stdout)
	}
	if r := exc(t, nil, "", "buckets", "--help"); strings.Contains(r.stdout, "keys") {
		t.Fatalf("exc buckets --help lists the keys alias:\n%s", r.stdout)
	}
}

// complete runs cobra's hidden __complete command as a shell would and
// returns the offered names and the directive line.
func complete(t *testing.T, env map[string]string, args ...string) (names []string, directive string) {
	t.Helper()
	r := exc(t, env, "", append([]string{"__complete"}, args...)...)
	if r.code != 0 {
		t.Fatalf("__complete %v: %+v", args, r)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	for _, l := range lines[:len(lines)-1] {
		name, _, _ := strings.Cut(l, "\t")
		names = append(names, name)
	}
	return names, lines[len(lines)-1]
}

func TestCompletion(t *testing.T) {
	d := startExcd(t)
	env := map[string]string{"EXC_SOCKET": d.AdminSocket()}
	for _, args := range [][]string{
		{"orgs", "create", "acme"},
		{"buckets", "create", "photos"},
		{"buckets", "create", "videos"},
		{"buckets", "create", "archive", "--org", "acme"},
		{"keys", "create", "--org", "acme"},
	} {
		if r := exc(t, env, "", args...); r.code != 0 {
			t.Fatalf("exc %v: %+v", args, r)
		}
	}
	keyID := regexp.MustCompile(`EXC[A-Z0-9]{17}`).FindString(exc(t, env, "", "keys", "list", "--org", "acme").stdout)

	const noFiles = ":4" // cobra.ShellCompDirectiveNoFileComp
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"buckets", "delete", ""}, []string{"photos", "videos"}},
		{[]string{"buckets", "delete", "v"}, []string{"videos"}},
		{[]string{"buckets", "delete", "--org", "acme", ""}, []string{"archive"}},
		{[]string{"buckets", "set-public", ""}, []string{"photos", "videos"}},
		{[]string{"buckets", "set-public", "photos", ""}, []string{"true", "false"}},
		{[]string{"keys", "create", "--bucket", ""}, []string{"photos", "videos"}},
		{[]string{"keys", "create", "--org", "acme", "--bucket", ""}, []string{"archive"}},
		{[]string{"buckets", "list", "--org", ""}, []string{"acme", "default"}},
		{[]string{"keys", "list", "--org", "a"}, []string{"acme"}},
		{[]string{"buckets", "keys", "list", "--org", ""}, []string{"acme", "default"}},
		{[]string{"orgs", "delete", ""}, []string{"acme", "default"}},
		{[]string{"keys", "delete", "--org", "acme", ""}, []string{keyID}},
		{[]string{"buckets", "create", ""}, nil},
		{[]string{"bu"}, []string{"buckets"}},
		{[]string{"keys", ""}, []string{"configure", "create", "delete", "list"}},
	} {
		names, dir := complete(t, env, tt.args...)
		if !slices.Equal(names, tt.want) || dir != noFiles {
			t.Errorf("complete %q: %q %s, want %q %s", tt.args, names, dir, tt.want, noFiles)
		}
	}
	// Descriptions name the default org.
	r := exc(t, env, "", "__complete", "orgs", "delete", "")
	if !regexp.MustCompile(`(?m)^default\torg o[a-z2-7]{12} \(default\)$`).MatchString(r.stdout) {
		t.Errorf("org descriptions:\n%s", r.stdout)
	}
	// No daemon: no names (not file names), and no error for the shell.
	names, dir := complete(t, map[string]string{"EXC_SOCKET": d.AdminSocket() + ".missing"}, "buckets", "delete", "")
	if len(names) != 0 || dir != noFiles {
		t.Errorf("without a daemon: %q %s", names, dir)
	}
}

func TestCompletionScripts(t *testing.T) {
	for shell, marker := range map[string]string{
		"bash": "__start_exc()",
		"zsh":  "#compdef exc",
		"fish": "complete -c exc ",
	} {
		r := exc(t, nil, "", "completion", shell)
		if r.code != 0 || !strings.Contains(r.stdout, marker) || !strings.Contains(r.stdout, "__complete") {
			t.Errorf("completion %s: exit %d, %d bytes, stderr %s", shell, r.code, len(r.stdout), r.stderr)
		}
	}
}

func TestManPages(t *testing.T) {
	dir := t.TempDir()
	if r := exc(t, nil, "", "gen-man", dir); r.code != 0 {
		t.Fatalf("gen-man: %+v", r)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var pages []string
	for _, e := range ents {
		pages = append(pages, e.Name())
	}
	for _, want := range []string{"exc.1", "exc-keys-configure.1", "exc-buckets-set-public.1", "exc-completion-bash.1", "exc-scrub.1"} {
		if !slices.Contains(pages, want) {
			t.Fatalf("no %s among %v", want, pages)
		}
	}
	for _, p := range pages {
		if strings.HasPrefix(p, "exc-buckets-keys") || strings.HasPrefix(p, "exc-help") || strings.Contains(p, "__") {
			t.Fatalf("page for a hidden command: %s", p)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "exc-buckets-delete.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`.TH "EXC-BUCKETS-DELETE" "1"`, "exc manual", "EXAMPLE", "exc buckets delete photos", `\fB--org\fP`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Fatalf("exc-buckets-delete.1 lacks %q:\n%s", want, b)
		}
	}
	if r := exc(t, nil, "", "gen-man"); r.code != exitUsage {
		t.Fatalf("gen-man without DIR: %+v", r)
	}
}
