package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// catalogURL accepts "" (Badger in the data directory) or a connection
// string that pgx can parse: a postgres:// or postgresql:// URL, or libpq's
// key=value form, with libpq's options (host may be a unix socket
// directory; sslmode, sslrootcert, sslcert, sslkey for TLS). Parsing here
// only checks the syntax; the database is reached when excd starts.
func catalogURL(dst *string, v string) error {
	v = strings.TrimSpace(v)
	if v == "" {
		*dst = ""
		return nil
	}
	isURL := strings.HasPrefix(v, "postgres://") || strings.HasPrefix(v, "postgresql://")
	if !isURL && !strings.Contains(v, "=") {
		return fmt.Errorf("invalid catalog %q: want a postgres:// URL or libpq key=value string (empty: the data directory)", RedactCatalog(v))
	}
	if _, err := pgconn.ParseConfig(v); err != nil {
		// pgconn's message hides the password already; ours too.
		return fmt.Errorf("invalid catalog %q: %v", RedactCatalog(v), err)
	}
	*dst = v
	return nil
}

// masked replaces a password in printouts.
const masked = "xxxxx"

// kvPassword matches a password in libpq's key=value form, quoted
// (backslash escapes inside) or not.
var kvPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s]*)`)

// RedactCatalog hides every password a catalog connection string may
// carry: a URL's userinfo, a password query parameter, or libpq's
// password=… keyword.
func RedactCatalog(v string) string {
	if v == "" {
		return v
	}
	if strings.HasPrefix(v, "postgres://") || strings.HasPrefix(v, "postgresql://") {
		u, err := url.Parse(v)
		if err != nil {
			// Unparsable: hide everything between the scheme and the host.
			scheme, rest, _ := strings.Cut(v, "://")
			if i := strings.LastIndex(rest, "@"); i >= 0 {
				return scheme + "://" + masked + rest[i:]
			}
			return kvPassword.ReplaceAllString(v, "${1}"+masked)
		}
		if u.User != nil {
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword(u.User.Username(), masked)
			}
		}
		q := u.Query()
		hidden := false
		for k := range q {
			if strings.EqualFold(k, "password") {
				q[k] = []string{masked}
				hidden = true
			}
		}
		if hidden {
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	return kvPassword.ReplaceAllString(v, "${1}"+masked)
}
