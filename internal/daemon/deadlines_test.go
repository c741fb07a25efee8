package daemon_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/internal/daemon"
	"excloud.dev/buckets/internal/metrics"
)

// A client that stops reading a response is cut off after the idle
// timeout; one that reads slowly but steadily gets everything, however long
// it takes. (The request-body side uses the same per-read deadline.)
func TestStalledClientsAreCutOff(t *testing.T) {
	const idle = 300 * time.Millisecond
	m := metrics.New()
	d := startWith(t, daemon.Config{DataDir: t.TempDir(), IOIdleTimeout: idle, MetricsListen: "127.0.0.1:0", Metrics: m})
	ctx := context.Background()
	c := plainClient(d)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("slow")}); err != nil {
		t.Fatal(err)
	}
	big := randBytes(16<<20, 5) // more than loopback socket buffers hold
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("slow"), Key: aws.String("big"), Body: bytes.NewReader(big)}); err != nil {
		t.Fatal(err)
	}
	req, err := s3.NewPresignClient(c).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("slow"), Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	get := func() (net.Conn, *bufio.Reader) {
		conn, err := net.Dial("tcp", d.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", strings.TrimPrefix(req.URL, "http://"+d.Addr()), d.Addr())
		br := bufio.NewReaderSize(conn, 1<<20)
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
			t.Fatalf("status line %q, %v", line, err)
		}
		return conn, br
	}

	// Read the status line, then nothing: once socket buffers are full the
	// server's writes make no progress, and it must give up after about
	// idle rather than hold the request (and a goroutine) forever.
	// Polled: the minute bounds a hang (no deadline at all), it does not
	// time the one given.
	get()
	var s map[string]float64
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(idle / 10) {
		s = scrape(t, d.MetricsAddr())
		if s["excd_s3_requests_in_flight"] == 0 && s[`excd_s3_requests_total{op="GetObject",status="200"}`] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stalled download still in flight a minute on (idle timeout %v): %v in flight, %v done", idle,
				s["excd_s3_requests_in_flight"], s[`excd_s3_requests_total{op="GetObject",status="200"}`])
		}
	}
	if sent := s[`excd_s3_sent_bytes_total{op="GetObject"}`]; sent >= float64(len(big)) {
		t.Fatalf("stalled reader was sent all %v bytes", sent)
	}

	// Slow but steady: 1 MiB every idle/10 (about half a second in all), no
	// pause as long as idle.
	conn, br := get()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var got int
	buf := make([]byte, 1<<20)
	for got < len(big) {
		k, err := br.Read(buf)
		got += k
		if err != nil {
			break
		}
		time.Sleep(idle / 10)
	}
	// The headers' remainder precedes the body; the body is the last
	// len(big) bytes at least.
	if got < len(big) {
		t.Fatalf("steady reader cut off after %d of %d bytes", got, len(big))
	}
}
