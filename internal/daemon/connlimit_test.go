package daemon_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/internal/daemon"
	"excloud.dev/buckets/internal/testutil"
)

// rawConn is one real TCP connection to the daemon from a chosen loopback
// address (Linux routes all of 127.0.0.0/8 to lo), kept open between
// requests.
type rawConn struct {
	c  net.Conn
	br *bufio.Reader
}

func dialFrom(t *testing.T, addr, src string) *rawConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{c: c, br: bufio.NewReader(c)}
}

// get sends an anonymous GET / and returns the status and S3 error code of
// the answer, and whether it said "Connection: close". An admitted
// connection gets 403 AccessDenied (anonymous) and stays open.
func (rc *rawConn) get(t *testing.T) (int, string, bool) {
	t.Helper()
	if err := rc.c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(rc.c, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	code := ""
	if i := strings.Index(string(b), "<Code>"); i >= 0 {
		code = string(b[i+6:])
		code = code[:strings.Index(code, "<")]
	}
	return resp.StatusCode, code, resp.Close
}

// closedByServer reports whether the server has closed the connection.
func (rc *rawConn) closedByServer(t *testing.T) bool {
	t.Helper()
	_ = rc.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err := rc.br.ReadByte()
	return errors.Is(err, io.EOF)
}

// TestConnectionBounds holds real connections open against a daemon
// bounded to 2 per source and 3 in total: the connection past either bound
// is answered 503 SlowDown in S3's XML and closed; the others are served;
// a closed connection frees its place.
func TestConnectionBounds(t *testing.T) {
	d := startWith(t, daemon.Config{DataDir: t.TempDir(), MaxConns: 3, MaxConnsPerSource: 2})
	addr := d.Addr()
	served := func(rc *rawConn) {
		t.Helper()
		if st, code, _ := rc.get(t); st != 403 || code != "AccessDenied" {
			t.Fatalf("admitted connection: %d %s, want 403 AccessDenied (served)", st, code)
		}
	}
	refused := func(rc *rawConn, why string) {
		t.Helper()
		st, code, closing := rc.get(t)
		if st != 503 || code != "SlowDown" || !closing {
			t.Fatalf("%s: %d %s (Connection: close %v), want 503 SlowDown and close", why, st, code, closing)
		}
		if !rc.closedByServer(t) {
			t.Fatalf("%s: the refused connection was left open", why)
		}
	}

	a1, a2 := dialFrom(t, addr, "127.0.0.1"), dialFrom(t, addr, "127.0.0.1")
	served(a1)
	served(a2)
	// Both stay usable: a kept-alive connection is admitted once.
	served(a1)
	refused(dialFrom(t, addr, "127.0.0.1"), "third connection from one source")

	// Another source still gets in, up to the total.
	b1 := dialFrom(t, addr, "127.0.0.2")
	served(b1)
	refused(dialFrom(t, addr, "127.0.0.3"), "fourth connection in total")

	// An SDK client sees the refusal as the S3 error it retries on.
	c := testutil.S3("http://"+addr, testAK, testSK, testutil.NoRetries)
	if _, err := c.ListBuckets(context.Background(), &s3.ListBucketsInput{}); apiCode(err) != "SlowDown" {
		t.Fatalf("aws-sdk-go-v2 over the bound: %v, want SlowDown", err)
	}

	// Closing a connection gives its place back. The daemon notices the
	// close asynchronously: poll, with a generous bound.
	a2.c.Close()
	for deadline := time.Now().Add(time.Minute); ; {
		rc := dialFrom(t, addr, "127.0.0.1")
		st, code, _ := rc.get(t)
		if st == 403 && code == "AccessDenied" {
			break
		}
		rc.c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("a closed connection's place was not given back within a minute: still %d %s", st, code)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := c.ListBuckets(context.Background(), &s3.ListBucketsInput{}); apiCode(err) != "SlowDown" {
		t.Fatalf("the place freed went to the new connection, so the SDK is refused again: %v", err)
	}
}

// Without bounds (< 0) many connections from one source are all served.
func TestConnectionBoundsOff(t *testing.T) {
	d := startWith(t, daemon.Config{DataDir: t.TempDir(), MaxConns: -1, MaxConnsPerSource: -1})
	for i := range 40 {
		rc := dialFrom(t, d.Addr(), "127.0.0.1")
		if st, code, _ := rc.get(t); st != 403 {
			t.Fatalf("connection %d: %d %s", i, st, code)
		}
	}
}

// Connections being refused are bounded too: while 64 refused ones sit
// without sending a request, the next one over the bound is closed at once,
// unanswered, and the ones waiting still get their 503 when they ask.
func TestConnectionRefusalsBounded(t *testing.T) {
	d := startWith(t, daemon.Config{DataDir: t.TempDir(), MaxConns: 1, MaxConnsPerSource: -1})
	addr := d.Addr()
	first := dialFrom(t, addr, "127.0.0.1")
	if st, _, _ := first.get(t); st != 403 {
		t.Fatalf("first connection: %d", st)
	}
	var waiting []*rawConn
	for range 64 {
		waiting = append(waiting, dialFrom(t, addr, "127.0.0.1"))
	}
	// Accepted in order after the 64, this one finds no room to be
	// answered; the server closes it without a response.
	extra := dialFrom(t, addr, "127.0.0.1")
	if !extra.closedByServer(t) {
		t.Fatal("the connection past the refusal bound was not closed")
	}
	for i, rc := range waiting {
		if st, code, closing := rc.get(t); st != 503 || code != "SlowDown" || !closing {
			t.Fatalf("waiting connection %d: %d %s", i, st, code)
		}
	}
}
