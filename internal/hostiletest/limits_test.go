package hostiletest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Headers past the server's limit (64 KiB), or a request line as long, are
// refused with 431 on that connection only; other clients are served as
// before.
func TestHeaderTooLarge(t *testing.T) {
	p, _ := start(t, "hdr")
	for name, head := range map[string]func(io.Writer) error{
		"200 KiB of headers": func(w io.Writer) error {
			fmt.Fprintf(w, "GET /hdr/k HTTP/1.1\r\nHost: x\r\n")
			for i := 0; i < 200; i++ {
				if _, err := fmt.Fprintf(w, "X-Amz-Meta-H%d: %s\r\n", i, strings.Repeat("v", 1000)); err != nil {
					return err
				}
			}
			_, err := io.WriteString(w, "\r\n")
			return err
		},
		"100 KiB query string": func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "GET /hdr?prefix=%s HTTP/1.1\r\nHost: x\r\n\r\n", strings.Repeat("p", 100<<10))
			return err
		},
	} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(p.Endpoint, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		// Written from another goroutine: the server may answer and close
		// before it has read everything.
		go head(conn)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%s: status %d, want 431", name, resp.StatusCode)
		}
	}
	if _, err := p.S3().ListBuckets(context.Background(), &s3.ListBucketsInput{}); err != nil {
		t.Fatalf("other clients after an oversized header: %v", err)
	}
}

// countingReader counts what the client transport consumed of a body.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// endlessXML is an XML document that never ends: an opening element and
// then whitespace for ever.
type endlessXML struct{ head string }

func (e *endlessXML) Read(p []byte) (int, error) {
	if e.head != "" {
		n := copy(p, e.head)
		e.head = e.head[n:]
		return n, nil
	}
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// XML bodies: DeleteObjects with more than 1000 keys, CompleteMultipartUpload
// with more than 10000 parts, and DeleteObjects and
// CompleteMultipartUpload bodies over their 8 MiB cap, are refused with
// MalformedXML (AWS's answer for a document that breaks the schema's
// limits) after reading at most the cap, not the whole body.
func TestXMLBodyLimits(t *testing.T) {
	p, _ := start(t, "xml")
	ctx := context.Background()
	c := p.S3()

	var b strings.Builder
	b.WriteString("<Delete>")
	for i := 0; i < 1001; i++ {
		fmt.Fprintf(&b, "<Object><Key>k%d</Key></Object>", i)
	}
	b.WriteString("</Delete>")
	req := newReq(t, http.MethodPost, p.Endpoint+"/xml?delete", strings.NewReader(b.String()))
	sign(t, req, rootCreds, "us-east-1", time.Now())
	if e := do(t, req); e.Status != 400 || e.Code != "MalformedXML" {
		t.Errorf("DeleteObjects with 1001 keys: %d %s %s", e.Status, e.Code, e.Message)
	}

	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("xml"), Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	b.WriteString("<CompleteMultipartUpload>")
	for i := 1; i <= 10001; i++ {
		fmt.Fprintf(&b, "<Part><PartNumber>%d</PartNumber><ETag>\"e\"</ETag></Part>", i)
	}
	b.WriteString("</CompleteMultipartUpload>")
	req = newReq(t, http.MethodPost, p.Endpoint+"/xml/mp?uploadId="+aws.ToString(up.UploadId), strings.NewReader(b.String()))
	sign(t, req, rootCreds, "us-east-1", time.Now())
	if e := do(t, req); e.Status != 400 || e.Code != "MalformedXML" {
		t.Errorf("CompleteMultipartUpload with 10001 parts: %d %s %s", e.Status, e.Code, e.Message)
	}
	const declared = 1 << 30
	for _, tc := range []struct{ name, path, head string }{
		{"DeleteObjects", "/xml?delete", "<Delete>"},
		{"CompleteMultipartUpload", "/xml/mp?uploadId=" + aws.ToString(up.UploadId), "<CompleteMultipartUpload>"},
	} {
		body := &countingReader{r: io.LimitReader(&endlessXML{head: tc.head}, declared)}
		req := newReq(t, http.MethodPost, p.Endpoint+tc.path, body)
		req.ContentLength = declared
		sign(t, req, rootCreds, "us-east-1", time.Now())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			// The server may close while the transport is still writing;
			// what it read is still bounded below.
			t.Logf("%s: %v", tc.name, err)
		} else {
			e := s3Error{Status: resp.StatusCode}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err := xmlUnmarshal(raw, &e); err != nil || e.Status != 400 || e.Code != "MalformedXML" {
				t.Errorf("%s with a 1 GiB body: %d %s (%s)", tc.name, e.Status, e.Code, raw)
			}
		}
		if sent := body.n.Load(); sent > 32<<20 {
			t.Errorf("%s: server let the client send %d MiB of a 1 GiB body", tc.name, sent>>20)
		} else {
			t.Logf("%s: client sent %.1f MiB of 1 GiB before the answer", tc.name, float64(sent)/(1<<20))
		}
	}
	if _, err := c.ListBuckets(ctx, &s3.ListBucketsInput{}); err != nil {
		t.Fatalf("server after oversized bodies: %v", err)
	}
	// A server that buffered either 1 GiB body would have a peak resident
	// size above it.
	hwm := p.Status("VmHWM")
	t.Logf("excd peak RSS after two 1 GiB XML bodies: %d MiB", hwm>>20)
	if hwm > 1<<30 {
		t.Errorf("excd peak RSS %d MiB", hwm>>20)
	}
}

// Part numbers outside 1..10000, keys over 1024 bytes and user metadata
// over 2 KiB are refused with the codes S3 uses.
func TestRequestLimits(t *testing.T) {
	p, _ := start(t, "lim")
	ctx := context.Background()
	c := p.S3()
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("lim"), Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(up.UploadId)
	meta := func(n int) map[string]string { return map[string]string{"big": strings.Repeat("m", n)} }
	for _, tc := range []struct {
		name, method, path string
		hdr                map[string]string
		status             int
		code               string
	}{
		{"part 0", "PUT", "/lim/mp?partNumber=0&uploadId=" + id, nil, 400, "InvalidArgument"},
		{"part 10001", "PUT", "/lim/mp?partNumber=10001&uploadId=" + id, nil, 400, "InvalidArgument"},
		{"part -1", "PUT", "/lim/mp?partNumber=-1&uploadId=" + id, nil, 400, "InvalidArgument"},
		{"part x", "PUT", "/lim/mp?partNumber=x&uploadId=" + id, nil, 400, "InvalidArgument"},
		{"part 01", "PUT", "/lim/mp?partNumber=01&uploadId=" + id, nil, 400, "InvalidArgument"},
		{"part +1", "PUT", "/lim/mp?partNumber=%2B1&uploadId=" + id, nil, 400, "InvalidArgument"},
		{"part empty", "PUT", "/lim/mp?partNumber=&uploadId=" + id, nil, 400, "InvalidArgument"},
		{"key 1025", "PUT", "/lim/" + strings.Repeat("k", 1025), nil, 400, "KeyTooLongError"},
		{"meta 2 KiB", "PUT", "/lim/m", map[string]string{"X-Amz-Meta-Big": strings.Repeat("m", 2046)}, 400, "MetadataTooLarge"},
		{"standard headers 2 KiB", "PUT", "/lim/m", map[string]string{"Content-Disposition": strings.Repeat("d", 2049)}, 400, "MetadataTooLarge"},
	} {
		req := newReq(t, tc.method, p.Endpoint+tc.path, strings.NewReader("x"))
		for k, v := range tc.hdr {
			req.Header.Set(k, v)
		}
		sign(t, req, rootCreds, "us-east-1", time.Now())
		if e := do(t, req); e.Status != tc.status || e.Code != tc.code {
			t.Errorf("%s: %d %s %q, want %d %s", tc.name, e.Status, e.Code, e.Message, tc.status, tc.code)
		}
	}
	// The limits themselves are allowed: part 10000, a 1024-byte key,
	// exactly 2 KiB of metadata (name "big" counts).
	if _, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("lim"), Key: aws.String("mp"), UploadId: up.UploadId,
		PartNumber: aws.Int32(10000), Body: strings.NewReader("x")}); err != nil {
		t.Errorf("part 10000: %v", err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lim"), Key: aws.String(strings.Repeat("k", 1024)), Body: strings.NewReader("x")}); err != nil {
		t.Errorf("1024-byte key: %v", err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lim"), Key: aws.String("m"), Metadata: meta(2048 - 3), Body: strings.NewReader("x")}); err != nil {
		t.Errorf("2 KiB of metadata: %v", err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lim"), Key: aws.String("m"), Metadata: meta(2048 - 2), Body: strings.NewReader("x")}); err == nil {
		t.Errorf("2 KiB + 1 of metadata accepted")
	}
}
