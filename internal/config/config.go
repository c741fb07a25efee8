// Package config owns excd's settings: their names in the TOML file, as
// flags and as EXC_* environment variables, their defaults, validation, and
// the order in which the sources override each other:
//
//	flag > environment > config file > default
//
// The file is --config PATH, else $EXC_CONFIG, else /etc/excd/excd.toml when
// it exists; no file at all is fine (every setting has a default). An unknown
// key, a value of the wrong type or an invalid value stops the start with an
// error naming the key and where it came from. packaging/excd.toml lists
// every key with its default; keep it in step with the table in settings.go.
package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"
)

// DefaultFile is read when neither --config nor EXC_CONFIG names a file and
// it exists.
const DefaultFile = "/etc/excd/excd.toml"

// Config is the effective configuration of one excd start.
type Config struct {
	DataDir     string
	Listen      string
	Region      string
	MasterKey   string // file; "" means $CREDENTIALS_DIRECTORY/master.key or <data-dir>/master.key
	AdminSocket string // "" means the default; "-" disables
	// Catalog is where the catalog lives: "" is Badger in DataDir/catalog,
	// anything else a PostgreSQL connection string (URL or key=value).
	Catalog string
	// GCInterval is how often unreferenced chunks are collected; 0 disables
	// the periodic collector (exc gc still works).
	GCInterval      time.Duration
	ShutdownTimeout time.Duration
	// ReadHeaderTimeout bounds how long a client may take to send a
	// request's headers; IOIdleTimeout how long a request body or response
	// may make no progress. Both cut off slow-loris clients; tests shorten
	// them to check the mechanism in seconds.
	ReadHeaderTimeout time.Duration
	IOIdleTimeout     time.Duration
	// MinFreeSpace is the space, in bytes, kept free on the data
	// directory's filesystem; writes are refused (507) below it. 0 disables.
	MinFreeSpace    int64
	TLSCert, TLSKey string
	MetricsListen   string // "" means no metrics listener
	ConsoleListen   string // "" means no web console
	// MaxConnections and MaxConnectionsPerSource bound the S3 listener's
	// open connections, in total and from one source (IPv4 address or
	// IPv6 /64); over either, a request is answered 503 SlowDown. 0
	// disables the bound.
	MaxConnections, MaxConnectionsPerSource int
	PublicDomain                            string
	LogFormat                               string // text, json or auto
	LogLevel                                string // debug, info, warn or error
	Mounts                                  []string
	// Mount is the owner model every mount starts from; options in a
	// mounts entry override it for that mount (ParseMount).
	Mount MountOptions
	// RootAccessKey and RootSecretKey seed the first access key. They come
	// from the environment or the file only: a flag would show the secret
	// in ps.
	RootAccessKey, RootSecretKey string
	// TrustedProxies are the peers whose X-Forwarded-For the S3 access log
	// believes; none by default.
	TrustedProxies []netip.Prefix
	// Chunks is where the chunk files live (chunks.go).
	Chunks Chunks
}

// DefaultMinFreeSpace leaves Badger room for a full memtable log (32 MiB),
// its flush to a table and a compaction, with margin, once writes stop.
const DefaultMinFreeSpace = 256 << 20

// Default returns the configuration with nothing set.
func Default() Config {
	return Config{
		DataDir:         "excd-data",
		Listen:          "127.0.0.1:9000",
		Region:          "auto",
		GCInterval:      10 * time.Minute,
		ShutdownTimeout: 30 * time.Second,
		// daemon.Config's defaults, spelled out so --print-config shows them.
		ReadHeaderTimeout:       20 * time.Second,
		IOIdleTimeout:           2 * time.Minute,
		MinFreeSpace:            DefaultMinFreeSpace,
		MaxConnections:          8192,
		MaxConnectionsPerSource: 1024,
		LogFormat:               "auto",
		LogLevel:                "info",
		Mount:                   DefaultMountOptions(),
		Chunks:                  Chunks{Region: "us-east-1", CacheSize: DefaultChunkCacheSize},
	}
}

// Loader registers the settings as flags on a FlagSet and, after the caller
// has parsed it, merges flags with the environment, the file and the
// defaults. Flags are recorded while parsing and applied last, so their
// precedence does not depend on the order things are read in.
type Loader struct {
	fs         *pflag.FlagSet
	configPath string
	flagVals   map[string][]string // setting key → values in command-line order
	flagOrder  []string
}

// NewLoader registers --config and one flag per setting on fs (excd's
// cobra command's flags).
func NewLoader(fs *pflag.FlagSet) *Loader {
	l := &Loader{fs: fs, flagVals: map[string][]string{}}
	fs.StringVar(&l.configPath, "config", "", "config `file` (default $EXC_CONFIG, else "+DefaultFile+" if it exists)")
	for i := range settings {
		s := &settings[i]
		if s.flag == "" {
			continue
		}
		usage := s.usage
		def := Default()
		if !s.list && s.get(&def) != "" {
			usage += " (default " + s.get(&def) + ")"
		}
		if s.env != "" {
			usage += " (env " + s.env + ")"
		}
		v := &flagValue{typ: flagType(s), record: func(v string) error {
			if _, seen := l.flagVals[s.key]; !seen {
				l.flagOrder = append(l.flagOrder, s.key)
			}
			l.flagVals[s.key] = append(l.flagVals[s.key], v)
			// Validate now too, so the parse error names the flag.
			c := Default()
			return s.apply(&c, []string{v})
		}}
		f := fs.VarPF(v, s.flag, "", usage)
		if s.boolean {
			f.NoOptDefVal = "true" // --mount-allow-other alone means true
		}
	}
	return l
}

// flagValue records a setting's flag for Load. Its type names the value in
// --help ("--gc-interval duration").
type flagValue struct {
	typ    string
	record func(string) error
}

func (v *flagValue) Set(s string) error { return v.record(s) }
func (v *flagValue) String() string     { return "" }
func (v *flagValue) Type() string       { return v.typ }

// flagType is the word --help shows after a flag for its value.
func flagType(s *setting) string {
	switch {
	case s.boolean:
		return "bool"
	case strings.HasSuffix(s.key, "_interval") || strings.HasSuffix(s.key, "_timeout"):
		return "duration"
	case s.key == "min_free_space":
		return "size"
	case strings.HasPrefix(s.key, "max_connections"):
		return "int"
	case s.key == "listen" || strings.HasSuffix(s.key, "_listen"):
		return "host:port"
	}
	return "string"
}

// Load returns the effective configuration and the file it read ("" when
// none). lookupEnv is os.LookupEnv outside tests; defaultFile is DefaultFile
// outside tests.
func (l *Loader) Load(lookupEnv func(string) (string, bool), defaultFile string) (Config, string, error) {
	c := Default()
	path, explicit := l.configPath, l.configPath != ""
	if !explicit {
		if v, ok := lookupEnv("EXC_CONFIG"); ok && v != "" {
			path, explicit = v, true
		} else {
			path = defaultFile
		}
	}
	if path != "" {
		f, err := os.Open(path)
		switch {
		case err == nil:
			err = applyFile(&c, path, f)
			f.Close()
			if err != nil {
				return Config{}, path, err
			}
		case errors.Is(err, fs.ErrNotExist) && !explicit:
			path = "" // the default file is optional
		default:
			return Config{}, path, fmt.Errorf("config: %w", err)
		}
	}
	for i := range settings {
		s := &settings[i]
		if s.env == "" {
			continue
		}
		v, ok := lookupEnv(s.env)
		if !ok {
			continue
		}
		vals := []string{v}
		if s.list {
			vals = splitList(v)
		}
		if err := s.apply(&c, vals); err != nil {
			return Config{}, path, fmt.Errorf("config: environment %s (key %q): %w", s.env, s.key, err)
		}
	}
	for _, key := range l.flagOrder {
		s := lookup(key)
		if err := s.apply(&c, l.flagVals[key]); err != nil {
			return Config{}, path, fmt.Errorf("config: flag --%s (key %q): %w", s.flag, s.key, err)
		}
	}
	if err := c.validate(); err != nil {
		return Config{}, path, fmt.Errorf("config: %w", err)
	}
	return c, path, nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// applyFile reads a TOML file. Every value is a string (durations like
// "10m" included) except mounts, an array of strings, so an operator never
// has to guess between 600 and "10m".
func applyFile(c *Config, path string, r io.Reader) error {
	var raw map[string]any
	if _, err := toml.NewDecoder(r).Decode(&raw); err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys) // report the first bad key deterministically
	for _, k := range keys {
		s := lookup(k)
		if s == nil {
			return fmt.Errorf("config: %s: unknown key %q", path, k)
		}
		var vals []string
		switch v := raw[k].(type) {
		case string:
			if s.list {
				return fmt.Errorf("config: %s: key %q: want an array of strings, got a string", path, k)
			}
			vals = []string{v}
		case []any:
			if !s.list {
				return fmt.Errorf("config: %s: key %q: want a string, got an array", path, k)
			}
			for _, e := range v {
				es, ok := e.(string)
				if !ok {
					return fmt.Errorf("config: %s: key %q: want an array of strings, got an element of type %T", path, k, e)
				}
				vals = append(vals, es)
			}
		default:
			want := "a string"
			if s.list {
				want = "an array of strings"
			}
			return fmt.Errorf("config: %s: key %q: want %s (durations are quoted, e.g. \"10m\"), got %T", path, k, want, v)
		}
		if err := s.apply(c, vals); err != nil {
			return fmt.Errorf("config: %s: key %q: %w", path, k, err)
		}
	}
	return nil
}

// validate checks what involves more than one key.
func (c *Config) validate() error {
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New(`keys "tls_cert" and "tls_key": set both for HTTPS, or neither`)
	}
	if (c.RootAccessKey == "") != (c.RootSecretKey == "") {
		return errors.New(`keys "root_access_key" and "root_secret_key" (EXC_ROOT_ACCESS_KEY, EXC_ROOT_SECRET_KEY): set both, or neither`)
	}
	if err := c.validateChunks(); err != nil {
		return err
	}
	// Port 0 asks the kernel for a free port each time, so two listeners
	// both on ":0" never collide.
	if c.MetricsListen != "" && c.MetricsListen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
		return fmt.Errorf(`key "metrics_listen": %q is also the S3 listen address`, c.MetricsListen)
	}
	if c.ConsoleListen != "" && !strings.HasSuffix(c.ConsoleListen, ":0") {
		if c.ConsoleListen == c.Listen {
			return fmt.Errorf(`key "console_listen": %q is also the S3 listen address`, c.ConsoleListen)
		}
		if c.ConsoleListen == c.MetricsListen {
			return fmt.Errorf(`key "console_listen": %q is also the metrics listen address`, c.ConsoleListen)
		}
	}
	return nil
}

// WriteTOML writes c as a config file, secrets replaced by "(set)", for
// excd --print-config. The output is a valid config file otherwise.
func (c Config) WriteTOML(w io.Writer) error {
	var b strings.Builder
	for i := range settings {
		s := &settings[i]
		if s.list {
			vals := s.getList(&c)
			q := make([]string, len(vals))
			for j, v := range vals {
				q[j] = quote(v)
			}
			fmt.Fprintf(&b, "%s = [%s]\n", s.key, strings.Join(q, ", "))
			continue
		}
		v := s.get(&c)
		if s.secret && v != "" {
			v = "(set)"
		}
		if s.redact != nil {
			v = s.redact(v)
		}
		fmt.Fprintf(&b, "%s = %s\n", s.key, quote(v))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// quote writes a TOML basic string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Keys returns every file key, in the order of packaging/excd.toml.
func Keys() []string {
	out := make([]string, len(settings))
	for i, s := range settings {
		out[i] = s.key
	}
	return out
}

func lookup(key string) *setting {
	i := slices.IndexFunc(settings, func(s setting) bool { return s.key == key })
	if i < 0 {
		return nil
	}
	return &settings[i]
}

// LogFormat is the log format to report a failed Load (or a bad command
// line) in: the flag's, else the environment's, when valid, else "auto".
// The file's is not used: the file may be what failed.
func (l *Loader) LogFormat(lookupEnv func(string) (string, bool)) string {
	c := Default()
	s := lookup("log_format")
	if v := l.flagVals[s.key]; len(v) > 0 && s.apply(&c, v) == nil {
		return c.LogFormat
	}
	if v, ok := lookupEnv(s.env); ok && s.apply(&c, []string{v}) == nil {
		return c.LogFormat
	}
	return "auto"
}
