package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"excloud.dev/buckets/catalog"
)

// setting is one configuration key. Flag and env are "" when the setting
// has no such form. Live settings are re-read on SIGHUP; the others need a
// restart (docs/service.md, "Reload").
type setting struct {
	key, flag, env, usage string
	secret, list, live    bool
	// redact, when set, hides the secret parts of a value that is not a
	// secret as a whole (the password in the catalog URL) in printouts.
	redact func(string) string
	// boolean flags may be given without a value (--mount-allow-other).
	boolean bool

	set     func(c *Config, v string) error
	get     func(c *Config) string
	setList func(c *Config, vs []string) error
	getList func(c *Config) []string
}

// apply sets the setting from one source's values.
func (s *setting) apply(c *Config, vals []string) error {
	if s.list {
		return s.setList(c, vals)
	}
	return s.set(c, vals[len(vals)-1]) // a repeated flag: the last one wins
}

// Live reports whether key is applied by a reload without a restart.
func Live(key string) bool {
	s := lookup(key)
	return s != nil && s.live
}

var settings = []setting{
	{key: "data_dir", flag: "data-dir", env: "EXC_DATA_DIR", usage: "data directory (catalog, chunks, master key)",
		set: func(c *Config, v string) error { return nonEmpty(&c.DataDir, v) },
		get: func(c *Config) string { return c.DataDir }},
	{key: "listen", flag: "listen", env: "EXC_LISTEN", usage: "S3 listen address host:port (ignored under socket activation)",
		set: func(c *Config, v string) error { return addr(&c.Listen, v, false) },
		get: func(c *Config) string { return c.Listen }},
	{key: "region", flag: "region", env: "EXC_REGION", usage: "region reported by GetBucketLocation",
		set: func(c *Config, v string) error {
			if v == "" || strings.ContainsAny(v, " \t/") {
				return fmt.Errorf("invalid region %q", v)
			}
			c.Region = v
			return nil
		},
		get: func(c *Config) string { return c.Region }},
	{key: "catalog", flag: "catalog", env: "EXC_CATALOG", redact: RedactCatalog,
		usage: "catalog database: empty keeps the catalog in the data directory (Badger); a PostgreSQL URL (postgres://user@host/db?sslmode=verify-full) or libpq key=value string shares it between nodes",
		set:   func(c *Config, v string) error { return catalogURL(&c.Catalog, v) },
		get:   func(c *Config) string { return c.Catalog }},
	{key: "master_key", flag: "master-key", env: "EXC_MASTER_KEY_FILE", usage: "master key file (default $CREDENTIALS_DIRECTORY/master.key, else <data-dir>/master.key)",
		set: func(c *Config, v string) error { c.MasterKey = v; return nil },
		get: func(c *Config) string { return c.MasterKey }},
	{key: "admin_socket", flag: "admin-socket", env: "EXC_ADMIN_SOCKET", usage: "admin API unix socket (default $RUNTIME_DIRECTORY/admin.sock, else <data-dir>/admin.sock; - disables)",
		set: func(c *Config, v string) error { c.AdminSocket = v; return nil },
		get: func(c *Config) string { return c.AdminSocket }},
	{key: "gc_interval", flag: "gc-interval", env: "EXC_GC_INTERVAL", live: true, usage: "how often to collect unreferenced chunks, e.g. 10m (0 disables)",
		set: func(c *Config, v string) error { return duration(&c.GCInterval, v, true) },
		get: func(c *Config) string { return fmtDuration(c.GCInterval) }},
	{key: "shutdown_timeout", flag: "shutdown-timeout", env: "EXC_SHUTDOWN_TIMEOUT", usage: "how long SIGTERM waits for requests in flight before forcing",
		set: func(c *Config, v string) error { return duration(&c.ShutdownTimeout, v, false) },
		get: func(c *Config) string { return fmtDuration(c.ShutdownTimeout) }},
	{key: "read_header_timeout", flag: "read-header-timeout", env: "EXC_READ_HEADER_TIMEOUT", usage: "how long an S3 client may take to send a request's headers before its connection is closed",
		set: func(c *Config, v string) error { return duration(&c.ReadHeaderTimeout, v, false) },
		get: func(c *Config) string { return fmtDuration(c.ReadHeaderTimeout) }},
	{key: "io_idle_timeout", flag: "io-idle-timeout", env: "EXC_IO_IDLE_TIMEOUT", usage: "how long an S3 request body or response may make no progress before the client is cut off (400 RequestTimeout)",
		set: func(c *Config, v string) error { return duration(&c.IOIdleTimeout, v, false) },
		get: func(c *Config) string { return fmtDuration(c.IOIdleTimeout) }},
	{key: "min_free_space", flag: "min-free-space", env: "EXC_MIN_FREE_SPACE", usage: "space kept free on the data directory's filesystem, e.g. 256MiB; writes fail with 507 InsufficientStorage below it (0 disables)",
		set: func(c *Config, v string) error { return size(&c.MinFreeSpace, v) },
		get: func(c *Config) string { return fmtSize(c.MinFreeSpace) }},
	{key: "tls_cert", flag: "tls-cert", env: "EXC_TLS_CERT", usage: "TLS certificate chain (PEM); with tls_key serves HTTPS; reloaded on SIGHUP",
		set: func(c *Config, v string) error { c.TLSCert = v; return nil },
		get: func(c *Config) string { return c.TLSCert }},
	{key: "tls_key", flag: "tls-key", env: "EXC_TLS_KEY", usage: "TLS private key (PEM); reloaded on SIGHUP",
		set: func(c *Config, v string) error { c.TLSKey = v; return nil },
		get: func(c *Config) string { return c.TLSKey }},
	{key: "metrics_listen", flag: "metrics-listen", env: "EXC_METRICS_LISTEN", usage: "address for /metrics, /healthz, /readyz (default off)",
		set: func(c *Config, v string) error { return addr(&c.MetricsListen, v, true) },
		get: func(c *Config) string { return c.MetricsListen }},
	{key: "max_connections", flag: "max-connections", env: "EXC_MAX_CONNECTIONS", usage: "open S3 connections at most; more are answered 503 SlowDown (0 disables)",
		set: func(c *Config, v string) error { return count(&c.MaxConnections, v) },
		get: func(c *Config) string { return strconv.Itoa(c.MaxConnections) }},
	{key: "max_connections_per_source", flag: "max-connections-per-source", env: "EXC_MAX_CONNECTIONS_PER_SOURCE", usage: "open S3 connections from one IPv4 address or IPv6 /64 at most; more are answered 503 SlowDown (0 disables; set 0 behind a reverse proxy)",
		set: func(c *Config, v string) error { return count(&c.MaxConnectionsPerSource, v) },
		get: func(c *Config) string { return strconv.Itoa(c.MaxConnectionsPerSource) }},
	{key: "public_domain", flag: "public-domain", env: "EXC_PUBLIC_DOMAIN", usage: "domain for public buckets, served anonymously at <org-id>.<domain>/<bucket>/<key>, e.g. objects.example.com",
		set: func(c *Config, v string) error {
			if strings.Contains(v, "://") || strings.ContainsAny(v, ":/ ") {
				return fmt.Errorf("invalid domain %q: want a bare host name (no scheme, port or path)", v)
			}
			c.PublicDomain = strings.ToLower(v)
			return nil
		},
		get: func(c *Config) string { return c.PublicDomain }},
	{key: "trusted_proxies", flag: "trusted-proxies", env: "EXC_TRUSTED_PROXIES", list: true, usage: "reverse proxies (IPs or CIDRs, comma-separated or repeated) whose X-Forwarded-For names the client in the S3 access log; others' is ignored",
		setList: func(c *Config, vs []string) error { return prefixes(&c.TrustedProxies, vs) },
		getList: func(c *Config) []string { return fmtPrefixes(c.TrustedProxies) }},
	{key: "log_format", flag: "log-format", env: "EXC_LOG_FORMAT", usage: "text, json or auto (text on a terminal, JSON otherwise)",
		set: func(c *Config, v string) error { return oneOf(&c.LogFormat, v, "text", "json", "auto") },
		get: func(c *Config) string { return c.LogFormat }},
	{key: "log_level", flag: "log-level", env: "EXC_LOG_LEVEL", live: true, usage: "debug, info, warn or error",
		set: func(c *Config, v string) error { return oneOf(&c.LogLevel, v, "debug", "info", "warn", "error") },
		get: func(c *Config) string { return c.LogLevel }},
	{key: "mounts", flag: "mount", env: "EXC_MOUNTS", list: true, usage: "FUSE mount point, DIR (default org) or ORG=DIR, optionally followed by :uid=N:gid=N:umask=077:allow_other:trust_s3_attrs; repeat for several (env: comma-separated)",
		setList: func(c *Config, vs []string) error {
			var out, dirs []string
			for _, v := range vs {
				if v == "" {
					return errors.New("empty mount point")
				}
				m, err := ParseMount(v, DefaultMountOptions())
				if err != nil {
					return err
				}
				if slices.Contains(dirs, m.Dir) {
					return fmt.Errorf("mount point %q given twice", m.Dir)
				}
				out, dirs = append(out, v), append(dirs, m.Dir)
			}
			c.Mounts = out
			return nil
		},
		getList: func(c *Config) []string { return c.Mounts }},
	{key: "mount_uid", flag: "mount-uid", env: "EXC_MOUNT_UID", usage: "owner (uid or user name) of mounted objects without trusted attributes; empty: the daemon's",
		set: func(c *Config, v string) error { return parseID(&c.Mount.UID, v, lookupUser) },
		get: func(c *Config) string { return fmtID(c.Mount.UID) }},
	{key: "mount_gid", flag: "mount-gid", env: "EXC_MOUNT_GID", usage: "group (gid or group name) of mounted objects without trusted attributes; empty: the daemon's",
		set: func(c *Config, v string) error { return parseID(&c.Mount.GID, v, lookupGroup) },
		get: func(c *Config) string { return fmtID(c.Mount.GID) }},
	{key: "mount_umask", flag: "mount-umask", env: "EXC_MOUNT_UMASK", usage: "umask (octal) of mounted objects without trusted attributes: 077 gives 0600 files, 0700 directories",
		set: func(c *Config, v string) error { return parseUmask(&c.Mount.Umask, v) },
		get: func(c *Config) string { return fmtUmask(c.Mount.Umask) }},
	{key: "mount_allow_other", flag: "mount-allow-other", env: "EXC_MOUNT_ALLOW_OTHER", boolean: true, usage: "let local users other than the daemon's into the mounts (modes and owners are then checked)",
		set: func(c *Config, v string) error { return parseFlag(&c.Mount.AllowOther, v, true) },
		get: func(c *Config) string { return strconv.FormatBool(c.Mount.AllowOther) }},
	{key: "mount_trust_s3_attrs", flag: "mount-trust-s3-attrs", env: "EXC_MOUNT_TRUST_S3_ATTRS", boolean: true, usage: "honour x-amz-meta-mode/-uid/-gid written by S3 clients (default: only those written through a mount)",
		set: func(c *Config, v string) error { return parseFlag(&c.Mount.TrustS3Attrs, v, true) },
		get: func(c *Config) string { return strconv.FormatBool(c.Mount.TrustS3Attrs) }},
	{key: "root_access_key", env: "EXC_ROOT_ACCESS_KEY", usage: "access key id seeded at first start",
		set: func(c *Config, v string) error {
			if v != "" && !catalog.ValidAccessKeyID(v) {
				return fmt.Errorf("invalid access key id %q: want EXC followed by 17 uppercase letters or digits", v)
			}
			c.RootAccessKey = v
			return nil
		},
		get: func(c *Config) string { return c.RootAccessKey }},
	{key: "root_secret_key", env: "EXC_ROOT_SECRET_KEY", secret: true, usage: "secret of the seeded access key",
		set: func(c *Config, v string) error {
			if v != "" && len(v) < 16 {
				return errors.New("secret key shorter than 16 characters")
			}
			c.RootSecretKey = v
			return nil
		},
		get: func(c *Config) string { return c.RootSecretKey }},
}

// prefixes parses IP addresses and CIDR blocks; an address stands for
// itself alone. Each value may hold several, comma-separated, so a flag
// reads like the environment variable.
func prefixes(dst *[]netip.Prefix, vs []string) error {
	var out []netip.Prefix
	for _, v := range vs {
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			p, err := parsePrefix(f)
			if err != nil {
				return err
			}
			out = append(out, p)
		}
	}
	*dst = out
	return nil
}

func parsePrefix(v string) (netip.Prefix, error) {
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q: want e.g. 10.0.0.0/8 or fd00::/8", v)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("invalid IP address %q: want e.g. 10.0.0.5, ::1 or a CIDR", v)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// fmtPrefixes writes a single address without its /32 or /128.
func fmtPrefixes(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		if p.IsSingleIP() {
			out[i] = p.Addr().String()
		} else {
			out[i] = p.String()
		}
	}
	return out
}

func nonEmpty(dst *string, v string) error {
	if v == "" {
		return errors.New("must not be empty")
	}
	*dst = v
	return nil
}

func oneOf(dst *string, v string, allowed ...string) error {
	v = strings.ToLower(v)
	if !slices.Contains(allowed, v) {
		return fmt.Errorf("invalid value %q: want one of %s", v, strings.Join(allowed, ", "))
	}
	*dst = v
	return nil
}

func duration(dst *time.Duration, v string, zeroOK bool) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("invalid duration %q (want e.g. \"30s\", \"10m\")", v)
	}
	if d < 0 || d == 0 && !zeroOK {
		return fmt.Errorf("duration %q must be positive", v)
	}
	*dst = d
	return nil
}

// count parses a non-negative whole number.
func count(dst *int, v string) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return fmt.Errorf("invalid count %q: want a whole number, 0 or more", v)
	}
	*dst = n
	return nil
}

// sizeUnits are the suffixes size accepts, longest first so "MiB" is not
// read as "B".
var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}, {"", 1}}

// size parses a byte count: a plain number, or one with a KiB, MiB or GiB
// suffix.
func size(dst *int64, v string) error {
	for _, u := range sizeUnits {
		num, ok := strings.CutSuffix(v, u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		if err != nil || n < 0 || n > math.MaxInt64/u.mult {
			break
		}
		*dst = n * u.mult
		return nil
	}
	return fmt.Errorf("invalid size %q (want e.g. \"256MiB\", \"1GiB\" or a byte count)", v)
}

// fmtSize writes n in the largest unit that divides it.
func fmtSize(n int64) string {
	for _, u := range sizeUnits[:3] {
		if n != 0 && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// addr checks host:port; the host may be empty (all interfaces), the port a
// number (0 picks a free one, for tests).
func addr(dst *string, v string, emptyOK bool) error {
	if v == "" && emptyOK {
		*dst = ""
		return nil
	}
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("invalid address %q: want host:port", v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("invalid port in address %q", v)
	}
	*dst = v
	return nil
}

// fmtDuration drops the zero units time.Duration.String adds ("10m0s" is
// written "10m"), so printed configs read like the packaged file.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
