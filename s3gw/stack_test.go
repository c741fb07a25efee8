package s3gw

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/catalog/catalogtest"
	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/chunkstore/local"
	"excloud.dev/buckets/internal/testutil"
	"excloud.dev/buckets/objects"
)

// stack is the real thing in a temporary directory: Badger catalog, local
// chunk files, the object layer and the gateway behind an httptest server.
type stack struct {
	db   *catalog.DB
	srv  *httptest.Server
	org  string
	key  catalog.AccessKey // full access
	logs *logBuffer
	dir  string // catalog/ and chunks/ live here
}

func newStack(t testing.TB) *stack { return newStackWith(t, nil) }

// newStackWith is newStack with a hook to adjust the gateway's Config.
func newStackWith(t testing.TB, configure func(*Config)) *stack {
	t.Helper()
	dir := t.TempDir()
	keys, err := chunkstore.DeriveKeys(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := catalogtest.OpenWith(t, catalog.Options{Dir: filepath.Join(dir, "catalog"), EncryptionKey: keys.Catalog[:], Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	be, err := local.New(filepath.Join(dir, "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	store, err := chunkstore.New(be, keys)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	org, err := db.CreateOrg(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	key, err := db.CreateAccessKey(ctx, catalog.AccessKey{OrgID: org.ID})
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	cfg := Config{
		Objects: objects.New(db, store, quiet),
		Keys:    db,
		Logger:  slog.New(slog.NewTextHandler(logs, nil)),
	}
	if configure != nil {
		configure(&cfg)
	}
	h := New(cfg)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &stack{db: db, srv: srv, org: org.ID, key: key, logs: logs, dir: dir}
}

// logBuffer collects the gateway's log lines; handlers write to it after
// their response is sent, so reads and writes share a lock.
type logBuffer = testutil.LogBuffer

func (s *stack) newKey(t *testing.T, k catalog.AccessKey) catalog.AccessKey {
	t.Helper()
	k.OrgID = s.org
	k, err := s.db.CreateAccessKey(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// client is an aws-sdk-go-v2 S3 client for key, path-style, no retries.
func (s *stack) client(k catalog.AccessKey) *s3.Client {
	return testutil.S3(s.srv.URL, k.ID, k.Secret, testutil.NoRetries)
}

// do sends a raw request signed by k (unsigned when k.ID is empty).
func (s *stack) do(t *testing.T, k catalog.AccessKey, method, path string, body []byte, hdr map[string]string) *http.Response {
	t.Helper()
	resp, err := s.send(k, method, path, body, hdr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// send is do for other goroutines: it reports errors instead of failing
// the test, and the caller closes the body.
func (s *stack) send(k catalog.AccessKey, method, path string, body []byte, hdr map[string]string) (*http.Response, error) {
	req, err := http.NewRequest(method, s.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for name, v := range hdr {
		if name == "Host" {
			req.Host = v // the client ignores a Host header
			continue
		}
		req.Header.Set(name, v)
	}
	if k.ID != "" {
		sum := sha256.Sum256(body)
		payload := hex.EncodeToString(sum[:])
		req.Header.Set("x-amz-content-sha256", payload)
		err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(context.Background(),
			aws.Credentials{AccessKeyID: k.ID, SecretAccessKey: k.Secret}, req, payload, "s3", "auto", time.Now())
		if err != nil {
			return nil, err
		}
	}
	return s.srv.Client().Do(req)
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wantError checks an S3 error response: status, code, request id.
func wantError(t *testing.T, resp *http.Response, status int, code string) {
	t.Helper()
	body := readAll(t, resp.Body)
	if resp.StatusCode != status {
		t.Errorf("%s %s: status %d, want %d (%s)", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, body)
	}
	if resp.Header.Get("x-amz-request-id") == "" {
		t.Errorf("%s %s: no x-amz-request-id", resp.Request.Method, resp.Request.URL.Path)
	}
	if code != "" && !strings.Contains(body, "<Code>"+code+"</Code>") {
		t.Errorf("%s %s: body %s, want code %s", resp.Request.Method, resp.Request.URL.Path, body, code)
	}
}
