package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/internal/excdtest"
)

// These machines set AWS_CA_BUNDLE; the SDK would try to load it.
func init() { os.Unsetenv("AWS_CA_BUNDLE") }

// Without a public domain, set-public true fails (exit 1) and says what to
// configure; the bucket stays private. set-public false still works.
func TestSetPublicWithoutDomain(t *testing.T) {
	socket, db := daemonWith(t, nil)
	env := map[string]string{"EXC_SOCKET": socket}
	steps := []struct {
		args []string
		code int
		out  string
		err  string
	}{
		{[]string{"orgs", "create", "acme"}, 0, `acme`, `^$`},
		{[]string{"buckets", "create", "site"}, 0, `site\s+no`, `^$`},
		{[]string{"buckets", "set-public", "site", "true"}, 1, `^$`, `^exc: bucket site not made public: excd has no public domain.*public_domain.*\(no_public_domain\)\n$`},
		{[]string{"buckets", "list"}, 0, `\nsite\s+no\s`, `^$`},
		{[]string{"buckets", "set-public", "site", "false"}, 0, `site\s+no\s[^\n]*\n$`, `^$`},
	}
	check := func(args []string, code int, out, err string) {
		t.Helper()
		r := exc(t, env, "", args...)
		if r.code != code || !regexp.MustCompile(out).MatchString(r.stdout) || !regexp.MustCompile(err).MatchString(r.stderr) {
			t.Fatalf("exc %v: code %d (want %d)\nstdout:\n%s\nstderr:\n%s", args, r.code, code, r.stdout, r.stderr)
		}
	}
	for _, s := range steps {
		check(s.args, s.code, s.out, s.err)
	}
	// A flag left from a time excd had a domain: listed as it is, with a
	// note on stderr that nothing serves it.
	orgs, err := db.ListOrgs(context.Background())
	if err != nil || len(orgs) != 1 {
		t.Fatal(orgs, err)
	}
	if err := db.SetBucketPublic(context.Background(), orgs[0].ID, "site", true); err != nil {
		t.Fatal(err)
	}
	check([]string{"buckets", "list"}, 0, `\nsite\s+yes\s`, `^exc: bucket site is flagged public, but excd has no public domain: nothing serves it \(exc buckets set-public site false clears the flag\)\n$`)
	check([]string{"buckets", "set-public", "site", "false"}, 0, `site\s+no\s`, `^$`)
}

// The whole path against a real excd: without a public domain set-public is
// refused; with one, it prints a URL that serves the bucket's objects to a
// plain, unsigned HTTP GET (Host as in the URL, sent to the daemon's
// address, as /etc/hosts or DNS would), until the bucket is private again.
func TestSetPublicRealDaemon(t *testing.T) {
	ctx := context.Background()
	put := func(c *s3.Client) {
		t.Helper()
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("site")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("site"), Key: aws.String("docs/index.html"),
			Body: strings.NewReader("<h1>hello</h1>")}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("no public domain", func(t *testing.T) {
		p := excdtest.Start(t, excdtest.Options{DataDir: t.TempDir()})
		put(p.S3())
		env := map[string]string{"EXC_SOCKET": p.Admin}
		r := exc(t, env, "", "buckets", "set-public", "site", "true")
		if r.code != exitError || r.stdout != "" || !strings.Contains(r.stderr, "no_public_domain") {
			t.Fatalf("set-public without a domain: code %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		if r := exc(t, env, "", "buckets", "list"); !regexp.MustCompile(`\nsite\s+no\s`).MatchString(r.stdout) {
			t.Fatalf("bucket after a refused set-public:\n%s", r.stdout)
		}
	})

	t.Run("public domain", func(t *testing.T) {
		p := excdtest.Start(t, excdtest.Options{DataDir: t.TempDir(), Args: []string{"--public-domain", "Objects.Example.Test"}})
		put(p.S3())
		publicPath(t, p, "http", nil)
	})

	// With TLS the printed URL is https, and a client that trusts the
	// certificate (one SAN for the endpoint, one wildcard for every org's
	// public host) reads the object; the probes answer over TLS too.
	t.Run("public domain over TLS", func(t *testing.T) {
		dir := t.TempDir()
		cert, key := filepath.Join(dir, "excd.crt"), filepath.Join(dir, "excd.key")
		pool := writeCert(t, cert, key, "*.objects.example.test")
		p := excdtest.Start(t, excdtest.Options{DataDir: filepath.Join(dir, "data"),
			Args: []string{"--public-domain", "objects.example.test", "--tls-cert", cert, "--tls-key", key}})
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
		put(p.S3(func(o *s3.Options) { o.HTTPClient = &http.Client{Transport: tr} }))
		publicPath(t, p, "https", pool)
		for path, want := range map[string]string{"/healthz": "ok\n", "/readyz": "ready\n"} {
			resp, err := (&http.Client{Transport: tr}).Get(p.Endpoint + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(b) != want {
				t.Errorf("GET %s over TLS: %d %q", path, resp.StatusCode, b)
			}
		}
	})
}

// publicPath makes bucket site public with exc, checks the printed URL
// (scheme, host, the daemon's port), reads an object through it as an
// anonymous client whose DNS sends the URL's host to the daemon (what
// /etc/hosts does), and makes the bucket private again.
func publicPath(t *testing.T, p *excdtest.Proc, scheme string, pool *x509.CertPool) {
	t.Helper()
	env := map[string]string{"EXC_SOCKET": p.Admin}
	r := exc(t, env, "", "buckets", "set-public", "site", "true")
	m := regexp.MustCompile(`(?m)^anyone can GET (\S+)<key>$`).FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		t.Fatalf("set-public: code %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	base, err := url.Parse(m[1])
	if err != nil {
		t.Fatal(err)
	}
	ep, _ := url.Parse(p.Endpoint)
	if !regexp.MustCompile(`^o[a-z2-7]{12}\.objects\.example\.test$`).MatchString(base.Hostname()) ||
		base.Scheme != scheme || ep.Scheme != scheme || base.Port() != ep.Port() || base.Path != "/site/" {
		t.Fatalf("printed URL %s (endpoint %s)", base, p.Endpoint)
	}
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, ep.Host)
		},
		TLSClientConfig: &tls.Config{RootCAs: pool},
	}, Timeout: time.Minute}
	get := func(key string) (int, string) {
		t.Helper()
		resp, err := hc.Get(base.String() + key)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("docs/index.html"); code != http.StatusOK || body != "<h1>hello</h1>" {
		t.Fatalf("GET %sdocs/index.html: %d %q", base, code, body)
	}
	if code, body := get(""); code != http.StatusForbidden || !strings.Contains(body, "<Code>AccessDenied</Code>") {
		t.Fatalf("listing on the public host: %d %q", code, body)
	}
	if r := exc(t, env, "", "buckets", "set-public", "site", "false"); r.code != 0 || strings.Contains(r.stdout, "anyone") {
		t.Fatalf("set-public false: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if code, _ := get("docs/index.html"); code != http.StatusForbidden {
		t.Fatalf("GET after set-public false: %d", code)
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 and the given
// DNS names, and its key, and returns a pool that trusts it.
func writeCert(t *testing.T, certPath, keyPath string, dnsNames ...string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "excd test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     dnsNames,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return pool
}
