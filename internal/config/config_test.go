package config

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"
)

// load runs the loader as excd does, with a file body (written to a temp
// file unless ""), an environment and flags.
func load(t *testing.T, file string, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("excd", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	l := NewLoader(fs)
	path := filepath.Join(t.TempDir(), "excd.toml")
	if file != "" {
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	c, _, err := l.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, path)
	return c, err
}

func TestDefaults(t *testing.T) {
	c, err := load(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("no sources: got %+v, want the defaults", c)
	}
	if c.DataDir != "excd-data" || c.Listen != "127.0.0.1:9000" || c.MetricsListen != "" || c.GCInterval != 10*time.Minute {
		t.Fatalf("defaults changed: %+v", c)
	}
}

// Each source overrides the one below it, key by key: a flag beats the
// environment, which beats the file, which beats the default.
func TestPrecedence(t *testing.T) {
	file := `
listen = "127.0.0.1:1001"
region = "file-region"
data_dir = "/file/data"
gc_interval = "1m"
mounts = ["/mnt/a", "/mnt/b"]
`
	env := map[string]string{
		"EXC_LISTEN":      "127.0.0.1:2002",
		"EXC_REGION":      "env-region",
		"EXC_MOUNTS":      "/env/m",
		"EXC_LOG_LEVEL":   "debug",
		"EXC_GC_INTERVAL": "0",
	}
	c, err := load(t, file, env, "--listen", "127.0.0.1:3003", "--mount", "/f/1", "--mount", "/f/2")
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Listen = "127.0.0.1:3003"         // flag > env > file
	want.Region = "env-region"             // env > file
	want.DataDir = "/file/data"            // file > default
	want.GCInterval = 0                    // env "0" beats the file's 1m: zero is a value, not "unset"
	want.LogLevel = "debug"                // env > default
	want.Mounts = []string{"/f/1", "/f/2"} // a repeated flag replaces lower sources' lists
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}

	// Without the flag the environment's list wins; without both, the file's.
	c, _ = load(t, file, env)
	if !reflect.DeepEqual(c.Mounts, []string{"/env/m"}) {
		t.Fatalf("env mounts: %q", c.Mounts)
	}
	c, _ = load(t, file, nil)
	if !reflect.DeepEqual(c.Mounts, []string{"/mnt/a", "/mnt/b"}) || c.Listen != "127.0.0.1:1001" {
		t.Fatalf("file only: %+v", c)
	}
}

func TestExplicitFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "other.toml")
	os.WriteFile(p, []byte(`region = "from-explicit"`), 0o600)
	c, err := load(t, `region = "from-default-file"`, nil, "--config", p)
	if err != nil || c.Region != "from-explicit" {
		t.Fatalf("--config: %v %q", err, c.Region)
	}
	c, err = load(t, `region = "from-default-file"`, map[string]string{"EXC_CONFIG": p})
	if err != nil || c.Region != "from-explicit" {
		t.Fatalf("EXC_CONFIG: %v %q", err, c.Region)
	}
	// A missing default file is fine; a missing named file is not.
	if _, err := load(t, "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := load(t, "", nil, "--config", filepath.Join(dir, "nope.toml")); err == nil || !strings.Contains(err.Error(), "nope.toml") {
		t.Fatalf("missing --config file: %v", err)
	}
}

// Every validation error stops the load and names the key (and, for the
// environment and flags, the variable or flag).
func TestValidationErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		env  map[string]string
		args []string
		want []string // substrings of the error
	}{
		{"unknown key", `lissten = "x"`, nil, nil, []string{`unknown key "lissten"`}},
		{"unknown table", "[s3]\nlisten = \"x\"", nil, nil, []string{`unknown key "s3"`}},
		{"not toml", `listen = `, nil, nil, []string{"excd.toml"}},
		{"wrong type", `gc_interval = 600`, nil, nil, []string{`key "gc_interval"`, "quoted"}},
		{"string for list", `mounts = "/mnt"`, nil, nil, []string{`key "mounts"`, "array"}},
		{"list for string", `listen = ["a"]`, nil, nil, []string{`key "listen"`, "array"}},
		{"list of ints", `mounts = [1]`, nil, nil, []string{`key "mounts"`}},
		{"empty data_dir", `data_dir = ""`, nil, nil, []string{`key "data_dir"`, "empty"}},
		{"bad listen", `listen = "localhost"`, nil, nil, []string{`key "listen"`, "host:port"}},
		{"bad port", `listen = "127.0.0.1:99999"`, nil, nil, []string{`key "listen"`, "port"}},
		{"bad metrics_listen", `metrics_listen = "x"`, nil, nil, []string{`key "metrics_listen"`}},
		{"metrics on s3 port", `metrics_listen = "127.0.0.1:9000"`, nil, nil, []string{`"metrics_listen"`, "S3 listen"}},
		{"bad console_listen", `console_listen = "x"`, nil, nil, []string{`key "console_listen"`}},
		{"console on s3 port", `console_listen = "127.0.0.1:9000"`, nil, nil, []string{`"console_listen"`, "S3 listen"}},
		{"console on metrics port", "console_listen = \"127.0.0.1:9002\"\nmetrics_listen = \"127.0.0.1:9002\"", nil, nil, []string{`"console_listen"`, "metrics listen"}},
		{"bad region", `region = "a b"`, nil, nil, []string{`key "region"`}},
		{"bad gc_interval", `gc_interval = "often"`, nil, nil, []string{`key "gc_interval"`, "duration"}},
		{"negative gc_interval", `gc_interval = "-1m"`, nil, nil, []string{`key "gc_interval"`, "positive"}},
		{"zero shutdown_timeout", `shutdown_timeout = "0s"`, nil, nil, []string{`key "shutdown_timeout"`, "positive"}},
		{"bad log_format", `log_format = "xml"`, nil, nil, []string{`key "log_format"`, "text, json, auto"}},
		{"bad log_level", `log_level = "loud"`, nil, nil, []string{`key "log_level"`}},
		{"domain with scheme", `public_domain = "https://s3.example.com"`, nil, nil, []string{`key "public_domain"`}},
		{"domain with port", `public_domain = "s3.example.com:443"`, nil, nil, []string{`key "public_domain"`}},
		{"duplicate mount", `mounts = ["/m", "/m"]`, nil, nil, []string{`key "mounts"`, "twice"}},
		{"empty mount", `mounts = [""]`, nil, nil, []string{`key "mounts"`, "empty"}},
		{"cert without key", `tls_cert = "/c.pem"`, nil, nil, []string{`"tls_cert"`, `"tls_key"`}},
		{"key without cert", "", nil, []string{"--tls-key", "/k.pem"}, []string{`"tls_cert"`, `"tls_key"`}},
		{"bad root key", "", map[string]string{"EXC_ROOT_ACCESS_KEY": "AKIAxxx", "EXC_ROOT_SECRET_KEY": "0123456789abcdef0123"}, nil, []string{"EXC_ROOT_ACCESS_KEY", `"root_access_key"`}},
		{"short root secret", "", map[string]string{"EXC_ROOT_ACCESS_KEY": "EXCABCDEFGHIJKLMNOPQ", "EXC_ROOT_SECRET_KEY": "short"}, nil, []string{"EXC_ROOT_SECRET_KEY", `"root_secret_key"`}},
		{"root key alone", "", map[string]string{"EXC_ROOT_ACCESS_KEY": "EXCABCDEFGHIJKLMNOPQ"}, nil, []string{`"root_access_key"`, `"root_secret_key"`}},
		{"bad env", "", map[string]string{"EXC_LISTEN": "nope"}, nil, []string{"EXC_LISTEN", `"listen"`}},
		{"bad env duration", "", map[string]string{"EXC_SHUTDOWN_TIMEOUT": "soon"}, nil, []string{"EXC_SHUTDOWN_TIMEOUT", `"shutdown_timeout"`}},
		{"bad flag", "", nil, []string{"--gc-interval", "often"}, []string{"gc-interval", "duration"}},
		{"bad flag log format", "", nil, []string{"--log-format", "xml"}, []string{"log-format"}},
		{"bad min_free_space", `min_free_space = "lots"`, nil, nil, []string{`key "min_free_space"`, "size"}},
		{"negative min_free_space", "", map[string]string{"EXC_MIN_FREE_SPACE": "-1MiB"}, nil, []string{"EXC_MIN_FREE_SPACE", "size"}},
		{"min_free_space unit case", "", nil, []string{"--min-free-space", "1mb"}, []string{"min-free-space", "size"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.file, tc.env, tc.args...)
			if err == nil {
				t.Fatal("loaded; want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// --print-config output is a valid config file that loads back to the same
// settings, with the secret hidden.
func TestWriteTOML(t *testing.T) {
	env := map[string]string{"EXC_ROOT_ACCESS_KEY": "EXCABCDEFGHIJKLMNOPQ", "EXC_ROOT_SECRET_KEY": "s3cr3t-s3cr3t-s3cr3t"}
	c, err := load(t, `mounts = ["/m \"q\""]`+"\nregion = \"r\"", env)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := c.WriteTOML(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "s3cr3t") || !strings.Contains(b.String(), `root_secret_key = "(set)"`) {
		t.Fatalf("secret not hidden:\n%s", b.String())
	}
	var raw map[string]any
	if _, err := toml.Decode(b.String(), &raw); err != nil {
		t.Fatalf("output is not TOML: %v\n%s", err, b.String())
	}
	c2, err := load(t, strings.Replace(b.String(), `"(set)"`, `"s3cr3t-s3cr3t-s3cr3t"`, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, c2) {
		t.Fatalf("round trip:\n%+v\n%+v", c, c2)
	}
}

// packaging/excd.toml documents every key, commented out with its default.
func TestPackagedConfigListsEveryKey(t *testing.T) {
	data, err := os.ReadFile("../../packaging/excd.toml")
	if err != nil {
		t.Fatal(err)
	}
	var def bytes.Buffer
	d := Default()
	d.WriteTOML(&def)
	for _, line := range strings.Split(strings.TrimSpace(def.String()), "\n") {
		if !strings.Contains(string(data), "# "+line+"\n") {
			t.Errorf("packaging/excd.toml lacks the commented default %q", "# "+line)
		}
	}
	// Uncommented, the file is the defaults.
	var un strings.Builder
	for _, l := range strings.Split(string(data), "\n") {
		if k, ok := strings.CutPrefix(l, "# "); ok && strings.Contains(k, " = ") {
			un.WriteString(k + "\n")
		}
	}
	c, err := load(t, un.String(), nil)
	if err != nil {
		t.Fatalf("uncommented packaging/excd.toml: %v", err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("uncommented packaging/excd.toml is not the defaults: %+v", c)
	}
}

// min_free_space takes a byte count or KiB/MiB/GiB, and prints back in the
// largest unit that divides it.
func TestMinFreeSpace(t *testing.T) {
	for _, tc := range []struct {
		in    string
		bytes int64
		out   string
	}{
		{"0", 0, "0"},
		{"1048576", 1 << 20, "1MiB"},
		{"256MiB", 256 << 20, "256MiB"},
		{"1GiB", 1 << 30, "1GiB"},
		{"1536KiB", 1536 << 10, "1536KiB"},
		{"1000", 1000, "1000"},
		{"4096B", 4096, "4KiB"},
	} {
		c, err := load(t, "", nil, "--min-free-space", tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if c.MinFreeSpace != tc.bytes {
			t.Errorf("%s: %d bytes, want %d", tc.in, c.MinFreeSpace, tc.bytes)
		}
		if got := lookup("min_free_space").get(&c); got != tc.out {
			t.Errorf("%s prints as %q, want %q", tc.in, got, tc.out)
		}
	}
	c, err := load(t, "", nil)
	if err != nil || c.MinFreeSpace != DefaultMinFreeSpace {
		t.Errorf("default: %d, %v; want %d", c.MinFreeSpace, err, DefaultMinFreeSpace)
	}
}

// The connection bounds come from the file, the environment or flags, in
// that order of precedence; 0 disables, anything but a whole number is
// refused naming the key.
func TestConnectionBounds(t *testing.T) {
	c, err := load(t, `max_connections = "100"
max_connections_per_source = "10"
`, map[string]string{"EXC_MAX_CONNECTIONS_PER_SOURCE": "20"}, "--max-connections", "0")
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxConnections != 0 || c.MaxConnectionsPerSource != 20 {
		t.Errorf("got %d total, %d per source; want 0 (flag), 20 (env)", c.MaxConnections, c.MaxConnectionsPerSource)
	}
	for _, bad := range []string{"-1", "ten", "1.5", ""} {
		if _, err := load(t, "max_connections = \""+bad+"\"\n", nil); err == nil || !strings.Contains(err.Error(), "max_connections") {
			t.Errorf("max_connections = %q: %v", bad, err)
		}
	}
	if _, err := load(t, "max_connections = 100\n", nil); err == nil {
		t.Error("an unquoted number was accepted; every file value is a string")
	}
}

// Flags parse as pflag does for every other command line here: --name
// value, --name=value, a boolean alone means true; --help names each
// value's kind.
func TestFlagSyntax(t *testing.T) {
	c, err := load(t, "", nil, "--data-dir=/d", "--gc-interval", "5m", "--mount-allow-other", "--mount-trust-s3-attrs=false")
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/d" || c.GCInterval != 5*time.Minute || !c.Mount.AllowOther || c.Mount.TrustS3Attrs {
		t.Fatalf("got %+v", c)
	}
	fs := pflag.NewFlagSet("excd", pflag.ContinueOnError)
	NewLoader(fs)
	usage := fs.FlagUsages()
	for _, want := range []string{"--data-dir string", "--gc-interval duration", "--min-free-space size",
		"--max-connections int", "--listen host:port", "--config file", "--mount-allow-other  "} {
		if !strings.Contains(usage, want) {
			t.Errorf("--help lacks %q:\n%s", want, usage)
		}
	}
}
