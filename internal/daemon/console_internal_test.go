package daemon

import (
	"net"
	"net/http/httptest"
	"strconv"
	"testing"
)

// Share links and key snippets name the S3 endpoint as the browser's user
// reaches it: the listen address, unless that is 0.0.0.0 or [::], which
// no client can dial; then the host the console was reached at.
func TestConsoleS3URL(t *testing.T) {
	for _, tc := range []struct {
		listen, consoleHost string
		tls                 bool
		want                string // %d is the S3 port
	}{
		{"127.0.0.1:0", "127.0.0.1:9001", false, "http://127.0.0.1:%d"},
		{"127.0.0.1:0", "console.example:9001", true, "https://127.0.0.1:%d"},
		{"0.0.0.0:0", "files.example.com:9001", false, "http://files.example.com:%d"},
		{"0.0.0.0:0", "files.example.com", true, "https://files.example.com:%d"},
		{"0.0.0.0:0", "[fd00::1]:9001", false, "http://[fd00::1]:%d"},
	} {
		ln, err := net.Listen("tcp", tc.listen)
		if err != nil {
			t.Fatal(err)
		}
		d := &Daemon{ln: ln, tls: tc.tls}
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = tc.consoleHost
		port := ln.Addr().(*net.TCPAddr).Port
		want := tc.want[:len(tc.want)-2] + strconv.Itoa(port)
		if got := d.consoleS3URL(r); got != want {
			t.Errorf("listen %s, console at %s: %q, want %q", tc.listen, tc.consoleHost, got, want)
		}
		ln.Close()
	}
}
