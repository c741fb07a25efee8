package daemon

import "testing"

// The public URL exc prints: the listener's scheme, the org's host under the
// public domain, and the port unless it is the scheme's default.
func TestPublicURL(t *testing.T) {
	for _, c := range []struct {
		domain, cert string
		port         int32
		want         string
	}{
		{"", "", 9000, ""},
		{"", "c.pem", 443, ""},
		{"objects.example.com", "", 9000, "http://oabc.objects.example.com:9000"},
		{"objects.example.com", "", 80, "http://oabc.objects.example.com"},
		{"objects.example.com", "", 443, "http://oabc.objects.example.com:443"},
		{"objects.example.com", "c.pem", 443, "https://oabc.objects.example.com"},
		{"objects.example.com", "c.pem", 9443, "https://oabc.objects.example.com:9443"},
		{"Objects.Example.COM.", "", 9000, "http://oabc.objects.example.com:9000"},
		{"objects.example.com", "", 0, "http://oabc.objects.example.com:9000"}, // not listening yet: the configured port
	} {
		d := &Daemon{cfg: Config{PublicDomain: c.domain, TLSCert: c.cert, Listen: "127.0.0.1:9000"}}
		d.s3Port.Store(c.port)
		if got := d.publicURL("oabc"); got != c.want {
			t.Errorf("domain %q cert %q port %d: %q, want %q", c.domain, c.cert, c.port, got, c.want)
		}
	}
}
