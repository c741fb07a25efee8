package fsmount_test

import (
	"context"
	"mime"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sys/unix"
)

// TestNonASCIIMetadataXattrs: a non-ASCII metadata value written over S3
// reads back through user.* as the bytes sent (decoded from RFC 2047 when
// sent encoded), and one set as an xattr comes back over S3 RFC
// 2047-encoded, decoding to the bytes set.
func TestNonASCIIMetadataXattrs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("f"), Body: strings.NewReader("x"),
		Metadata: map[string]string{"raw": "Hello Worldé", "word": "=?UTF-8?B?bmHDr3ZlIOKYgw==?="}}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	for name, want := range map[string]string{"user.raw": "Hello Worldé", "user.word": "naïve ☃"} {
		n, err := unix.Getxattr(e.p("f"), name, buf)
		if err != nil || string(buf[:n]) != want {
			t.Errorf("getxattr %s: %q, %v; want %q", name, buf[:n], err, want)
		}
	}
	if err := unix.Setxattr(e.p("f"), "user.set", []byte("日本 ü"), 0); err != nil {
		t.Fatal(err)
	}
	head, err := e.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("f")})
	if err != nil {
		t.Fatal(err)
	}
	got := head.Metadata["set"]
	dec, err := new(mime.WordDecoder).DecodeHeader(got)
	if !strings.HasPrefix(got, "=?UTF-8?B?") || err != nil || dec != "日本 ü" {
		t.Errorf("S3 reads the xattr as %q (decodes to %q, %v)", got, dec, err)
	}
}
