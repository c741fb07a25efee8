package hostiletest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"excloud.dev/buckets/internal/excdtest"
)

// slowTimeouts are the header and idle timeouts the slow-client tests give
// excd (--read-header-timeout, --io-idle-timeout): 1 s each, so CI checks
// the shipped mechanism in seconds; under -long none are given and the
// shipped 20 s and 2 min apply.
func slowTimeouts() (header, idle time.Duration, args []string) {
	if *long {
		return 20 * time.Second, 2 * time.Minute, nil
	}
	return time.Second, time.Second, []string{"--read-header-timeout", "1s", "--io-idle-timeout", "1s"}
}

// startSlow runs excd with the slow-client timeouts and a bucket "slow".
func startSlow(t *testing.T) (p *excdtest.Proc, header, idle time.Duration) {
	t.Helper()
	header, idle, args := slowTimeouts()
	p = excdtest.Start(t, excdtest.Options{DataDir: t.TempDir(), Args: args})
	if _, err := p.S3().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("slow")}); err != nil {
		t.Fatal(err)
	}
	return p, header, idle
}

// trickleHeaders sends a request head of about 300 bytes one byte every
// gap, and reports whether the server closed the connection before the
// head was complete, and after how long (for the log only).
func trickleHeaders(t *testing.T, addr string, gap time.Duration) (cut bool, took time.Duration) {
	t.Helper()
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
	head := "GET /slow/k HTTP/1.1\r\nHost: " + addr + "\r\nX-Amz-Meta-Padding: " + strings.Repeat("p", 240) + "\r\n\r\n"
	for i := 0; i < len(head); i++ {
		select {
		case <-closed:
			return true, time.Since(began)
		case <-time.After(gap):
		}
		if _, err := conn.Write([]byte{head[i]}); err != nil {
			<-closed
			return true, time.Since(began)
		}
	}
	return false, time.Since(began)
}

// A client that trickles its headers is cut off by the header timeout,
// however steadily it sends, and one that sends nothing is cut off too;
// other clients are unaffected meanwhile. The trickle lasts about 15 times
// the timeout: a head that arrives whole means the timeout was not
// applied (with 1 s given, the shipped 20 s would let it through).
func TestSlowLorisHeaders(t *testing.T) {
	p, header, _ := startSlow(t)
	addr := strings.TrimPrefix(p.Endpoint, "http://")
	cut, took := trickleHeaders(t, addr, header/20)
	if !cut {
		t.Fatalf("the whole request head was accepted byte by byte over %v (header timeout %v)", took.Round(10*time.Millisecond), header)
	}
	t.Logf("trickling client cut off after %v (header timeout %v)", took.Round(10*time.Millisecond), header)
	// A client that connects and sends nothing at all: the read returns
	// when the server closes; the deadline only bounds a hang.
	began := time.Now()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(header + 5*time.Minute))
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("silent connection still open after %v", time.Since(began))
	}
	t.Logf("silent client cut off after %v", time.Since(began).Round(10*time.Millisecond))
	if _, err := p.S3().ListBuckets(context.Background(), &s3.ListBucketsInput{}); err != nil {
		t.Fatal(err)
	}
}

// stallBody sends a signed PUT declaring size bytes of body, sends sent
// of them and then nothing, and returns the response status (0 if none
// came) and how long after the stall the server closed the connection.
// limit only bounds a hang: past it the test fails.
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
// which must not wait for ever either). With 1 s given, the wait for the
// close is bounded by a minute, half the shipped 2 min: a pass means the
// given timeout applied.
func TestSlowLorisBody(t *testing.T) {
	p, _, idle := startSlow(t)
	addr := strings.TrimPrefix(p.Endpoint, "http://")
	limit := time.Minute
	if *long {
		limit = idle + 5*time.Minute
	}
	for _, tc := range []struct {
		name, path string
		size, sent int
		status     int
	}{
		{"stall mid-body", "/slow/stalled", 1 << 20, 100 << 10, 400},
		{"stall with little left", "/slow/stalled", 200 << 10, 100 << 10, 400},
		{"refused unread", "/slow/" + strings.Repeat("k", 1025), 200 << 10, 0, 400},
	} {
		status, took := stallBody(t, addr, tc.path, tc.size, tc.sent, limit)
		t.Logf("%s: status %d, connection closed %v after the stall (idle timeout %v)", tc.name, status, took.Round(10*time.Millisecond), idle)
		if status != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, status, tc.status)
		}
	}
	_, err := p.S3().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("slow"), Key: aws.String("stalled")})
	var nf *types.NotFound
	if !errors.As(err, &nf) {
		t.Fatalf("HeadObject of the stalled PUT: %v", err)
	}
}
