package daemon

import (
	"crypto/tls"
	"fmt"
	"sync/atomic"
)

// certReloader holds the serving certificate. Handshakes read it through
// GetCertificate, so a reload (SIGHUP, after a renewal) swaps it for new
// connections without a restart and without touching open ones.
type certReloader struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

// load reads the pair again. On error the previous certificate stays in use:
// a renewal that left a half-written file must not take HTTPS down.
func (c *certReloader) load() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tls: load %s and %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert.Store(&cert)
	return nil
}

func (c *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cert.Load(), nil
}

// ReloadTLS re-reads the certificate and key files. Without TLS it does
// nothing. On error the old certificate keeps serving.
func (d *Daemon) ReloadTLS() error {
	if d.certs == nil {
		return nil
	}
	if err := d.certs.load(); err != nil {
		return err
	}
	d.log.Info("tls certificate reloaded", "cert", d.certs.certFile)
	return nil
}
