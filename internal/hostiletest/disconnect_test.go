package hostiletest

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// sendPartial writes a signed request declaring size bytes of body, sends
// only sent of them, waits until the data directory holds more chunk
// files than before (the server stored some of what arrived), and closes
// the connection: a client that dies mid-upload, leaving orphan chunks.
func sendPartial(t *testing.T, dataDir, endpoint, method, path string, size, sent int) {
	t.Helper()
	before := countChunks(t, dataDir)
	req := newReq(t, method, endpoint+path, nil)
	req.ContentLength = int64(size)
	sign(t, req, rootCreds, "us-east-1", time.Now())
	conn, err := net.Dial("tcp", strings.TrimPrefix(endpoint, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", method, req.URL.RequestURI(), req.Host, size)
	for k, vs := range req.Header {
		for _, v := range vs {
			fmt.Fprintf(w, "%s: %s\r\n", k, v)
		}
	}
	w.WriteString("\r\n")
	// Random, so that the stored chunks are distinct and none dedups.
	buf := make([]byte, 64<<10)
	for n := 0; n < sent; n += len(buf) {
		crand.Read(buf)
		if _, err := w.Write(buf[:min(len(buf), sent-n)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	// 12 of 20 MiB hold whole 4 MiB chunks, which the server stores as
	// it reads; the deadline only bounds a hang.
	for deadline := time.Now().Add(time.Minute); countChunks(t, dataDir) <= before; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: no chunk stored a minute after %d of %d bytes were sent", method, path, sent, size)
		}
	}
}

// A client that disconnects in the middle of a 20 MiB PutObject or an
// UploadPart leaves nothing visible, and a collection afterwards removes
// every chunk it had stored: the chunk count returns to its baseline.
func TestDisconnectMidUpload(t *testing.T) {
	p, dir := start(t, "dis")
	ctx := context.Background()
	c := p.S3()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("dis"), Key: aws.String("keep"), Body: strings.NewReader(strings.Repeat("k", 3<<20))}); err != nil {
		t.Fatal(err)
	}
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("dis"), Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.AdminClient().GC(ctx); err != nil {
		t.Fatal(err)
	}
	base := countChunks(t, dir)

	sendPartial(t, dir, p.Endpoint, http.MethodPut, "/dis/big", 20<<20, 12<<20)
	sendPartial(t, dir, p.Endpoint, http.MethodPut, "/dis/mp?partNumber=1&uploadId="+aws.ToString(up.UploadId), 20<<20, 12<<20)
	mid := countChunks(t, dir)
	t.Logf("chunk files: %d before, %d after two aborted 12-of-20 MiB uploads", base, mid)
	if mid < base+2 {
		t.Fatalf("chunk files: %d before, %d after two aborted uploads that each stored some: nothing for GC to remove", base, mid)
	}

	// The server notices the disconnect when its next read fails; wait
	// for both requests to have ended, then nothing may be visible.
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dis"), Key: aws.String("big")})
		var nf *types.NotFound
		if !errors.As(err, &nf) {
			t.Fatalf("HeadObject of the aborted PUT: %v", err)
		}
		parts, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("dis"), Key: aws.String("mp"), UploadId: up.UploadId})
		if err != nil {
			t.Fatal(err)
		}
		if len(parts.Parts) != 0 {
			t.Fatalf("aborted UploadPart is listed: %+v", parts.Parts)
		}
		st, err := p.AdminClient().GC(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := countChunks(t, dir)
		if n == base {
			t.Logf("after GC: %d chunk files (GC deleted %d)", n, st.Deleted)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chunk files: %d at baseline, %d a minute after the disconnects and a GC", base, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	l, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("dis")})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Contents) != 1 || aws.ToString(l.Contents[0].Key) != "keep" {
		t.Fatalf("listing after aborted uploads: %d objects", len(l.Contents))
	}
	// The upload itself is still usable.
	if _, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("dis"), Key: aws.String("mp"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader("x")}); err != nil {
		t.Fatalf("UploadPart after an aborted one: %v", err)
	}
}
