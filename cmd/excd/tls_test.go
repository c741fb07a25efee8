package main

import (
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
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns the
// certificate.
func selfSigned(t *testing.T, certPath, keyPath, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
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
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Write both atomically, as a renewal tool should.
	for path, block := range map[string]*pem.Block{certPath: {Type: "CERTIFICATE", Bytes: der}, keyPath: {Type: "EC PRIVATE KEY", Bytes: kder}} {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// peerCert connects over TLS, trusting pool, and returns the served leaf.
func peerCert(t *testing.T, addr string, pool *x509.CertPool) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if p := conn.ConnectionState().NegotiatedProtocol; p == "h2" {
		t.Fatalf("negotiated %q; the gateway is HTTP/1.1 only", p)
	}
	return conn.ConnectionState().PeerCertificates[0]
}

// HTTPS with a certificate generated here; SIGHUP swaps in a new one for new
// connections, and a keep-alive connection made before keeps working.
func TestTLSAndReload(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	c1 := selfSigned(t, certPath, keyPath, "first")
	n := listenNotify(t, true)
	p := startExcd(t, baseEnv(t, n), nil, "--tls-cert", certPath, "--tls-key", keyPath)
	addr := addrFrom(t, n.await(t, "READY=1"))

	pool := x509.NewCertPool()
	pool.AddCert(c1)
	if got := peerCert(t, addr, pool); !got.Equal(c1) {
		t.Fatalf("served %s, want the first certificate", got.Subject)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("anonymous request over HTTPS: %d", resp.StatusCode)
	}
	// Plain HTTP to the HTTPS port is refused.
	if resp, err := http.Get("http://" + addr + "/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("plain HTTP accepted on the HTTPS port: %d", resp.StatusCode)
		}
	}

	c2 := selfSigned(t, certPath, keyPath, "second")
	p.signal(t, syscall.SIGHUP)
	n.await(t, "RELOADING=1")
	n.await(t, "READY=1")
	pool.AddCert(c2)
	if got := peerCert(t, addr, pool); !got.Equal(c2) {
		t.Fatalf("after SIGHUP served %s, want the second certificate", got.Subject)
	}
	// The keep-alive connection from before still serves.
	resp, err = hc.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	// A broken renewal keeps the working certificate.
	os.WriteFile(certPath, []byte("garbage"), 0o600)
	p.signal(t, syscall.SIGHUP)
	n.await(t, "READY=1")
	if got := peerCert(t, addr, pool); !got.Equal(c2) {
		t.Fatalf("after a bad reload served %s, want the second certificate still", got.Subject)
	}
	if !strings.Contains(p.stderr.String(), "keeping the old certificate") {
		t.Error("bad certificate on reload not logged")
	}
	p.signal(t, syscall.SIGTERM)
	if err := p.wait(t); err != nil {
		t.Fatal(err)
	}
}
