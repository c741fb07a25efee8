package s3gw

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/minio/minio-go/v7/pkg/signer"
)

// FuzzChunkedPut sends aws-chunked PutObject and UploadPart requests whose
// headers are correctly signed (unsigned chunks with a CRC32 trailer by
// aws-sdk-go-v2's signer; signed chunks by minio-go's streaming signer)
// and whose bodies are arbitrary, through the whole gateway. Whatever the
// body, the answer is a 200 or an S3 error with an XML body, never a 500.
func FuzzChunkedPut(f *testing.F) {
	st, uploadID := requestFuzzStack(f)
	data := "hello world"
	f.Add(uint8(0), uint16(len(data)), []byte("b\r\n"+data+"\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n"))
	f.Add(uint8(0), uint16(0), []byte("0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"))
	f.Add(uint8(1), uint16(len(data)), []byte("b;chunk-signature="+strings.Repeat("0", 64)+"\r\n"+data+"\r\n0;chunk-signature="+strings.Repeat("0", 64)+"\r\n\r\n"))
	f.Add(uint8(2), uint16(5), []byte("ffffffffffffffff\r\n"))
	f.Add(uint8(2), uint16(len(data)), []byte("b\r\n"+data+"\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n"))
	f.Add(uint8(3), uint16(len(data)), []byte("b;chunk-signature="+strings.Repeat("f", 64)+"\r\n"+data+"\r\n"))
	aws4 := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: st.key.ID, SecretAccessKey: st.key.Secret}
	h := st.srv.Config.Handler
	f.Fuzz(func(t *testing.T, form uint8, declared uint16, body []byte) {
		if len(body) > 1<<16 {
			return
		}
		base := "http://" + st.srv.Listener.Addr().String()
		path := "/fzz/chunked"
		if form&2 != 0 {
			path = "/fzz/mp?partNumber=3&uploadId=" + uploadID
		}
		req, err := http.NewRequest(http.MethodPut, base+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if form&1 == 0 {
			req.Header.Set("X-Amz-Content-Sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
			req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(int(declared)))
			req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
			req.Header.Set("Content-Encoding", "aws-chunked")
			if err := aws4.SignHTTP(context.Background(), creds, req, "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "s3", "auto", time.Now()); err != nil {
				t.Fatal(err)
			}
		} else {
			// minio-go signs the headers and the seed; the body it framed
			// is replaced by the fuzzer's.
			req = signer.StreamingSignV4(req, st.key.ID, st.key.Secret, "", "auto", int64(declared), time.Now().UTC(), sha256Hasher{sha256.New()})
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
		req.ContentLength = int64(len(body))
		if !serveWire(t, h, req, fmt.Sprintf("form %d, declared %d", form, declared)) {
			t.Fatal("the signed request does not survive the wire")
		}
	})
}
