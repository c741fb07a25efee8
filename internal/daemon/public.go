package daemon

import (
	"net"
	"strconv"
	"strings"
)

// publicURL is the base URL of org's public host as this daemon serves it:
// the public domain under the S3 listener's scheme and port, "" without a
// public domain. Behind a proxy that terminates on 443 the operator's URL
// differs only in scheme and port (docs/public-buckets.md).
func (d *Daemon) publicURL(orgID string) string {
	domain := strings.TrimSuffix(strings.ToLower(d.cfg.PublicDomain), ".")
	if domain == "" {
		return ""
	}
	scheme, dflt := "http", 80
	if d.cfg.TLSCert != "" {
		scheme, dflt = "https", 443
	}
	host := orgID + "." + domain
	p := int(d.s3Port.Load())
	if p == 0 {
		// Asked between the admin socket's start and the S3 listener's:
		// the configured port is the best answer there is.
		if _, ps, err := net.SplitHostPort(d.cfg.Listen); err == nil {
			p, _ = strconv.Atoi(ps)
		}
	}
	if p != 0 && p != dflt {
		host = net.JoinHostPort(host, strconv.Itoa(p))
	}
	return scheme + "://" + host
}
