package hostiletest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"excloud.dev/buckets/internal/daemon"
	"excloud.dev/buckets/internal/excdtest"
	"excloud.dev/buckets/internal/testutil"
)

// startInProcess runs the daemon in this process with short timeouts: the
// real ones (20 s for headers, 2 min between body reads) would make the
// test slow; the mechanism is the same.
func startInProcess(t *testing.T, headerTimeout, ioIdle time.Duration) (*daemon.Daemon, *s3.Client) {
	t.Helper()
	d, err := daemon.Start(daemon.Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", AdminSocket: "-",
		RootAccessKey: excdtest.AccessKey, RootSecretKey: excdtest.SecretKey,
		GCInterval: -1, ReadHeaderTimeout: headerTimeout, IOIdleTimeout: ioIdle,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	c := testutil.S3("http://"+d.Addr(), excdtest.AccessKey, excdtest.SecretKey)
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("slow")}); err != nil {
		t.Fatal(err)
	}
	return d, c
}

// trickleHeaders sends a request's headers one byte every gap until the
// server closes the connection, and returns how long that took.
func trickleHeaders(t *testing.T, addr string, gap, limit time.Duration) time.Duration {
	t.Helper()
	// The server's clock starts at accept: start ours before dialling.
	began := time.Now()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	closed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, conn) // returns when the server closes
		close(closed)
	}()
	head := "GET /slow/k HTTP/1.1\r\nHost: " + addr + "\r\nX-Amz-Meta-Padding: " + strings.Repeat("p", 4096) + "\r\n\r\n"
	for i := 0; i < len(head); i++ {
		select {
		case <-closed:
			return time.Since(began)
		case <-time.After(gap):
		}
		if time.Since(began) > limit {
			t.Fatalf("server still reading trickled headers after %v", limit)
		}
		if _, err := conn.Write([]byte{head[i]}); err != nil {
			<-closed
			return time.Since(began)
		}
	}
	t.Fatal("the whole request head was accepted byte by byte")
	return 0
}

// A client that trickles its headers is cut off by the header timeout,
// however steadily it sends; other clients are unaffected meanwhile.
func TestSlowLorisHeaders(t *testing.T) {
	const timeout = time.Second
	d, c := startInProcess(t, timeout, time.Minute)
	took := trickleHeaders(t, d.Addr(), 50*time.Millisecond, 10*timeout)
	t.Logf("trickling client cut off after %v (header timeout %v)", took.Round(10*time.Millisecond), timeout)
	if took < timeout {
		t.Fatalf("cut off after %v, before the %v timeout", took, timeout)
	}
	// A client that connects and sends nothing at all is cut off too.
	began := time.Now()
	conn, err := net.Dial("tcp", d.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * timeout))
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("silent connection still open after %v", 10*timeout)
	}
	t.Logf("silent client cut off after %v", time.Since(began).Round(10*time.Millisecond))
	if _, err := c.ListBuckets(context.Background(), &s3.ListBucketsInput{}); err != nil {
		t.Fatal(err)
	}
}

// The same against a child excd with the real 20 s header timeout
// (-long only).
func TestSlowLorisHeadersRealTimeout(t *testing.T) {
	if !*long {
		t.Skip("takes 20 s; run with -args -long")
	}
	p, _ := start(t, "slow")
	took := trickleHeaders(t, strings.TrimPrefix(p.Endpoint, "http://"), 100*time.Millisecond, 40*time.Second)
	t.Logf("trickling client cut off after %v by excd", took.Round(100*time.Millisecond))
	if took < 19*time.Second || took > 25*time.Second {
		t.Fatalf("cut off after %v, want about 20 s", took)
	}
}

// stallBody sends a signed PUT declaring size bytes of body, sends sent
// of them and then nothing, and returns the response status (0 if none
// came) and how long after the stall the server closed the connection.
func stallBody(t *testing.T, addr, path string, size, sent int, limit time.Duration) (int, time.Duration) {
	t.Helper()
	req := newReq(t, http.MethodPut, "http://"+addr+path, nil)
	req.ContentLength = int64(size)
	sign(t, req, rootCreds, "us-east-1", time.Now())
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", req.URL.RequestURI(), req.Host, size)
	for k, vs := range req.Header {
		fmt.Fprintf(w, "%s: %s\r\n", k, vs[0])
	}
	w.WriteString("\r\n")
	w.Write(make([]byte, sent))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	conn.SetReadDeadline(began.Add(limit))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	status := 0
	if err == nil {
		status = resp.StatusCode
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		_, err = br.ReadByte() // then the connection must close
	}
	took := time.Since(began)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("PUT %s: connection still open %v after the body stalled (status %d)", path, took, status)
	}
	return status, took
}

// A client that stops sending its body is cut off after the idle timeout:
// it gets 400 RequestTimeout, its connection is closed, and the object
// does not appear. That holds when the handler was reading the body (a
// stall half way through a PUT) and when it refused the request without
// reading it (net/http then tries to discard what remains of the body,
// which must not wait for ever either).
func TestSlowLorisBody(t *testing.T) {
	const idle = time.Second
	d, c := startInProcess(t, time.Minute, idle)
	for _, tc := range []struct {
		name, path string
		size, sent int
		status     int
	}{
		{"stall mid-body", "/slow/stalled", 1 << 20, 100 << 10, 400},
		{"stall with little left", "/slow/stalled", 200 << 10, 100 << 10, 400},
		{"refused unread", "/slow/" + strings.Repeat("k", 1025), 200 << 10, 0, 400},
	} {
		status, took := stallBody(t, d.Addr(), tc.path, tc.size, tc.sent, 10*idle)
		t.Logf("%s: status %d, connection closed %v after the stall (idle timeout %v)", tc.name, status, took.Round(10*time.Millisecond), idle)
		if status != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, status, tc.status)
		}
		if took > 3*idle {
			t.Errorf("%s: closed only after %v", tc.name, took)
		}
	}
	_, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("slow"), Key: aws.String("stalled")})
	var nf *types.NotFound
	if !errors.As(err, &nf) {
		t.Fatalf("HeadObject of the stalled PUT: %v", err)
	}
}

// The stalled-body cut-off against a child excd with the real 2-minute
// idle timeout (-long only).
func TestSlowLorisBodyRealTimeout(t *testing.T) {
	if !*long {
		t.Skip("takes 2 min; run with -args -long")
	}
	p, _ := start(t, "slow")
	addr := strings.TrimPrefix(p.Endpoint, "http://")
	status, took := stallBody(t, addr, "/slow/stalled", 1<<20, 100<<10, 3*time.Minute)
	t.Logf("stalled body: status %d, excd closed the connection %v after the stall", status, took.Round(100*time.Millisecond))
	if status != 400 || took < 110*time.Second || took > 130*time.Second {
		t.Fatalf("status %d after %v, want 400 after about 2 min", status, took)
	}
}
