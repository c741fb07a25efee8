package s3gw

import (
	"context"
	"mime"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestNonASCIIMetadata: user metadata is stored as the bytes the client
// sent (RFC 2047 encoded words decoded first) and a non-ASCII value is
// returned RFC 2047-encoded, as S3 does, so a client whose HTTP library
// reads headers as Latin-1 (boto3) does not turn "é" into "Ã©".
func TestNonASCIIMetadata(t *testing.T) {
	st := newStack(t)
	c := st.client(st.key)
	mustBucket(t, c, "meta")
	bid := bucketID(t, st, "meta")
	for _, tc := range []struct{ name, sent, stored, returned string }{
		{"utf-8 bytes", "Hello Worldé", "Hello Worldé", "=?UTF-8?B?SGVsbG8gV29ybGTDqQ==?="},
		{"latin-1 byte", "Hello World\xe9", "Hello World\xe9", "=?UTF-8?B?SGVsbG8gV29ybGTp?="},
		{"encoded word B", "=?UTF-8?B?SGVsbG8gV29ybGTDqQ==?=", "Hello Worldé", "=?UTF-8?B?SGVsbG8gV29ybGTDqQ==?="},
		{"encoded word Q", "=?utf-8?q?caf=C3=A9?=", "café", "=?UTF-8?B?Y2Fmw6k=?="},
		{"ascii", "plain = value?", "plain = value?", "plain = value?"},
		{"not a word", "=?x", "=?x", "=?x"},
	} {
		resp := st.do(t, st.key, "PUT", "/meta/k", []byte("x"), map[string]string{"x-amz-meta-meta1": tc.sent})
		if resp.StatusCode != 200 {
			t.Fatalf("%s: PUT %d %s", tc.name, resp.StatusCode, readAll(t, resp.Body))
		}
		m, err := st.db.Object(context.Background(), bid, "k")
		if err != nil || m.Meta["meta1"] != tc.stored {
			t.Errorf("%s: stored %q, want %q (%v)", tc.name, m.Meta["meta1"], tc.stored, err)
		}
		for _, method := range []string{"HEAD", "GET"} {
			r := st.do(t, st.key, method, "/meta/k", nil, nil)
			if got := r.Header.Get("x-amz-meta-meta1"); got != tc.returned {
				t.Errorf("%s: %s returned %q, want %q", tc.name, method, got, tc.returned)
			}
		}
	}

	// aws-sdk-go-v2 sends the UTF-8 bytes; decoding what comes back gives
	// them again.
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("meta"), Key: aws.String("sdk"),
		Body: nil, Metadata: map[string]string{"note": "naïve ☃ 日本"}}); err != nil {
		t.Fatal(err)
	}
	head, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("meta"), Key: aws.String("sdk")})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := new(mime.WordDecoder).DecodeHeader(head.Metadata["note"])
	if err != nil || dec != "naïve ☃ 日本" {
		t.Errorf("SDK round trip: %q decodes to %q, %v", head.Metadata["note"], dec, err)
	}
}
