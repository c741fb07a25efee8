package sigv4_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"excloud.dev/buckets/s3gw/sigv4"
)

// verifyingTransport stands in for the gateway: each request a real S3
// client sends is written to bytes, parsed back as net/http's server would,
// checked by Verify, and its payload decoded; then the transport answers a
// canned 200 (or a 403 carrying Verify's error). The clients sign and frame
// as they do against S3, but no object is stored and nothing the gateway
// does after Verify is exercised: these are unit tests of Verify against
// real clients' output. The same clients and payload forms against the
// real gateway, over HTTPS and HTTP, are s3gw's
// TestClientPayloadFormsEndToEnd.
type verifyingTransport struct {
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	method, path, contentSHA256, trailerChecksum string
	body                                         []byte
	trailers                                     map[string]string
	err                                          error
}

func (vt *verifyingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		return nil, err
	}
	r, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		return nil, err
	}
	s := seenRequest{method: r.Method, path: r.URL.Path}
	res, err := sigv4.Verify(r, time.Now(), lookup)
	if err == nil {
		s.contentSHA256, s.trailerChecksum = res.ContentSHA256, res.TrailerChecksum
		s.body, err = io.ReadAll(res.Body)
		s.trailers = res.Trailers()
	}
	s.err = err
	vt.mu.Lock()
	vt.seen = append(vt.seen, s)
	vt.mu.Unlock()
	resp := &http.Response{
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		StatusCode: http.StatusOK,
		Header: http.Header{
			"Etag":          {`"d41d8cd98f00b204e9800998ecf8427e"`},
			"Last-Modified": {time.Now().UTC().Format(http.TimeFormat)},
			"Content-Type":  {"application/octet-stream"},
		},
		Body:          http.NoBody,
		Request:       req,
		ContentLength: 0,
	}
	if err != nil {
		xml := fmt.Sprintf("<Error><Code>SignatureDoesNotMatch</Code><Message>%s</Message></Error>", html.EscapeString(err.Error()))
		resp.StatusCode = http.StatusForbidden
		resp.Header.Set("Content-Type", "application/xml")
		resp.Body = io.NopCloser(strings.NewReader(xml))
		resp.ContentLength = int64(len(xml))
	}
	return resp, nil
}

func (vt *verifyingTransport) last(t *testing.T) seenRequest {
	t.Helper()
	vt.mu.Lock()
	defer vt.mu.Unlock()
	if len(vt.seen) == 0 {
		t.Fatal("no request reached the transport")
	}
	return vt.seen[len(vt.seen)-1]
}

// form names the payload form a request used, its hex hash shortened.
func form(s seenRequest) string {
	cs := s.contentSHA256
	if len(cs) == 64 && !strings.Contains(cs, "-") {
		cs = "hex"
	}
	return cs + "/" + s.trailerChecksum
}

// unseekable hides bytes.Reader's Seek, as a pipe or network stream would.
type unseekable struct{ io.Reader }

func awsClient(vt *verifyingTransport, endpoint string) *s3.Client {
	return s3.New(s3.Options{
		Region:       testRegion,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSecret, Source: "test"}, nil
		}),
		HTTPClient: &http.Client{Transport: vt},
		Retryer:    aws.NopRetryer{},
	})
}

// TestAWSS3Client drives aws-sdk-go-v2's S3 client through Verify. Over
// https with a stream it sends STREAMING-UNSIGNED-PAYLOAD-TRAILER with a
// checksum trailer; with a seekable body a hex payload hash or
// UNSIGNED-PAYLOAD; over http a hex hash.
func TestAWSS3Client(t *testing.T) {
	data := testData(100_000)
	forms := map[string]bool{}
	for _, endpoint := range []string{"https://s3.test", "http://s3.test:9000"} {
		vt := &verifyingTransport{}
		c := awsClient(vt, endpoint)
		for _, key := range testKeys {
			for _, alg := range []types.ChecksumAlgorithm{"", types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmCrc64nvme, types.ChecksumAlgorithmSha256} {
				for _, stream := range []bool{false, true} {
					if stream && strings.HasPrefix(endpoint, "http:") {
						continue // the SDK cannot hash an unseekable body for plain http
					}
					name := fmt.Sprintf("%s/%q/%s/stream=%v", endpoint, key, alg, stream)
					var body io.Reader = bytes.NewReader(data)
					if stream {
						body = unseekable{body}
					}
					_, err := c.PutObject(context.Background(), &s3.PutObjectInput{
						Bucket:            aws.String("bucket"),
						Key:               aws.String(key),
						Body:              body,
						ContentLength:     aws.Int64(int64(len(data))),
						ChecksumAlgorithm: alg,
						Metadata:          map[string]string{"color": "blue  green"},
					})
					s := vt.last(t)
					if err != nil || s.err != nil {
						t.Fatalf("%s: PutObject: %v (verify: %v)", name, err, s.err)
					}
					if !bytes.Equal(s.body, data) {
						t.Fatalf("%s: decoded %d bytes, want %d", name, len(s.body), len(data))
					}
					if s.path != "/bucket/"+key {
						t.Fatalf("%s: path %q", name, s.path)
					}
					forms[form(s)] = true
				}
			}
			if _, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key), VersionId: aws.String("v+1 /~")}); err != nil {
				t.Fatalf("HeadObject %q: %v (verify: %v)", key, err, vt.last(t).err)
			}
			if _, err := c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key)}); err != nil {
				t.Fatalf("DeleteObject %q: %v (verify: %v)", key, err, vt.last(t).err)
			}
		}
	}
	t.Logf("x-amz-content-sha256 forms seen: %v", forms)
	for _, want := range []string{sigv4.StreamingUnsignedTrailer + "/CRC64NVME", sigv4.StreamingUnsignedTrailer + "/CRC32C", sigv4.StreamingUnsignedTrailer + "/SHA256", sigv4.UnsignedPayload + "/", "hex/"} {
		if !forms[want] {
			t.Errorf("aws-sdk-go-v2 never sent %s", want)
		}
	}
}

// TestMinioClient drives minio-go's client through Verify: over http it
// uses signed aws-chunked (STREAMING-AWS4-HMAC-SHA256-PAYLOAD); over https
// an unsigned payload, with trailing checksums when asked.
func TestMinioClient(t *testing.T) {
	data := testData(70_000)
	forms := map[string]bool{}
	for _, secure := range []bool{false, true} {
		vt := &verifyingTransport{}
		mc, err := minio.New("s3.test:9000", &minio.Options{
			Creds:        credentials.NewStaticV4(testAK, testSecret, ""),
			Secure:       secure,
			Transport:    vt,
			Region:       testRegion,
			BucketLookup: minio.BucketLookupPath,
			// Lets minio-go send checksums as trailers.
			TrailingHeaders: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range testKeys {
			for _, opts := range []minio.PutObjectOptions{
				{},
				{Checksum: minio.ChecksumCRC32C},
				{AutoChecksum: minio.ChecksumCRC64NVME},
				{SendContentMd5: true},
				{DisableContentSha256: true},
			} {
				name := fmt.Sprintf("secure=%v/%q/%+v", secure, key, opts.Checksum)
				_, err := mc.PutObject(context.Background(), "bucket", key, bytes.NewReader(data), int64(len(data)), opts)
				s := vt.last(t)
				if err != nil || s.err != nil {
					t.Fatalf("%s: PutObject: %v (verify: %v)", name, err, s.err)
				}
				if !bytes.Equal(s.body, data) {
					t.Fatalf("%s: decoded %d bytes, want %d", name, len(s.body), len(data))
				}
				forms[form(s)] = true
			}
			if _, err := mc.StatObject(context.Background(), "bucket", key, minio.StatObjectOptions{}); err != nil {
				t.Fatalf("StatObject %q: %v (verify: %v)", key, err, vt.last(t).err)
			}
			u, err := mc.PresignedGetObject(context.Background(), "bucket", key, time.Hour, nil)
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
			if _, err := vt.RoundTrip(req); err != nil || vt.last(t).err != nil {
				t.Fatalf("presigned GET %q: %v %v", key, err, vt.last(t).err)
			}
		}
	}
	t.Logf("x-amz-content-sha256 forms seen: %v", forms)
	for _, want := range []string{sigv4.StreamingPayload + "/", sigv4.StreamingPayloadTrailer + "/CRC32C", sigv4.StreamingUnsignedTrailer + "/CRC32C", sigv4.UnsignedPayload + "/"} {
		if !forms[want] {
			t.Errorf("minio-go never sent %s", want)
		}
	}
}
