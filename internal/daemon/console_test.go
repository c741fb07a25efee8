package daemon_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"excloud.dev/buckets/internal/daemon"
	"excloud.dev/buckets/internal/testutil"
)

// selfSigned writes a certificate for 127.0.0.1 and returns a pool that
// trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "excd test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// The console is off unless console_listen is set.
func TestConsoleOffByDefault(t *testing.T) {
	d := start(t, t.TempDir())
	if a := d.ConsoleAddr(); a != "" {
		t.Fatalf("console listening on %s without console_listen", a)
	}
}

// console_listen serves the console over HTTPS with the S3 certificate;
// share links point at the S3 endpoint; the store page reports the daemon's
// figures; an open change feed does not hold up shutdown; no secret is
// logged.
func TestConsoleListener(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	logs := &testutil.LogBuffer{}
	d, err := daemon.Start(daemon.Config{
		DataDir:         dir,
		Listen:          "127.0.0.1:0",
		ConsoleListen:   "127.0.0.1:0",
		TLSCert:         certFile,
		TLSKey:          keyFile,
		RootAccessKey:   testAK,
		RootSecretKey:   testSK,
		GCInterval:      -1,
		AdminSocket:     "-",
		Version:         "v9.9.9-test",
		ShutdownTimeout: time.Minute,
		Logger:          slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			d.Close()
		}
	})
	base := "https://" + d.ConsoleAddr()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	csrf := ""
	call := func(method, path, body string) (*http.Response, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Origin", base)
		req.Header.Set("X-CSRF-Token", csrf)
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		b, _ := io.ReadAll(res.Body)
		_ = json.Unmarshal(b, &out)
		return res, out
	}
	res, out := call("POST", "/api/session", `{"access_key_id":"`+testAK+`","secret":"`+testSK+`"}`)
	if res.StatusCode != 200 {
		t.Fatalf("sign-in: %d %v", res.StatusCode, out)
	}
	csrf = out["csrf"].(string)
	if ck := res.Cookies(); len(ck) != 1 || !ck[0].Secure || !ck[0].HttpOnly {
		t.Fatalf("cookie over HTTPS: %v", res.Header["Set-Cookie"])
	}
	if res, out = call("POST", "/api/buckets", `{"name":"bkt"}`); res.StatusCode != 201 {
		t.Fatalf("create bucket: %d %v", res.StatusCode, out)
	}
	req, _ := http.NewRequest("PUT", base+"/api/buckets/bkt/object?key=a.txt", strings.NewReader("hello"))
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Content-Type", "text/plain")
	if res, err := hc.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("put: %v %v", err, res)
	}
	res, out = call("POST", "/api/buckets/bkt/share", `{"key":"a.txt","expires":60}`)
	link, _ := out["url"].(string)
	if res.StatusCode != 200 || !strings.HasPrefix(link, "https://"+d.Addr()+"/bkt/a.txt?") {
		t.Fatalf("share: %d %v (S3 is %s)", res.StatusCode, out, d.Addr())
	}
	plain := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	lr, err := plain.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(lr.Body)
	lr.Body.Close()
	if lr.StatusCode != 200 || string(got) != "hello" {
		t.Fatalf("share link: %d %q", lr.StatusCode, got)
	}
	res, out = call("GET", "/api/store", "")
	if res.StatusCode != 200 || out["version"] != "v9.9.9-test" || out["logical_bytes"] != 5.0 ||
		out["used_bytes"] == nil || out["free_bytes"].(float64) <= 0 {
		t.Fatalf("store: %d %v", res.StatusCode, out)
	}
	if _, err := d.RunGC(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, out = call("GET", "/api/store", ""); out["gc"].(map[string]any)["last"] == nil {
		t.Fatalf("store after a collection: %v", out)
	}

	// An open change feed must not hold up shutdown.
	sreq, _ := http.NewRequest("GET", base+"/api/events", nil)
	sres, err := hc.Do(sreq)
	if err != nil || sres.StatusCode != 200 {
		t.Fatalf("events: %v %v", err, sres)
	}
	ready := make(chan struct{})
	streamDone := make(chan struct{})
	go func() {
		defer close(streamDone)
		sc := bufio.NewScanner(sres.Body)
		for sc.Scan() {
			if sc.Text() == ": ready" {
				close(ready)
			}
		}
		sres.Body.Close()
	}()
	<-ready
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	<-streamDone
	// Close took less than ShutdownTimeout: had it waited for the stream,
	// the forced path would have logged its warning.
	if logs.Contains("console requests still in flight") {
		t.Fatal("shutdown waited for the change feed")
	}
	for _, s := range []string{testSK, csrf} {
		if logs.Contains(s) {
			t.Fatalf("the log holds a secret (%.6s…)", s)
		}
	}
	u, _ := url.Parse(base)
	for _, ck := range jar.Cookies(u) {
		if logs.Contains(ck.Value) {
			t.Fatal("the log holds the session id")
		}
	}
}
