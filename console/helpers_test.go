package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/console"
	"excloud.dev/buckets/internal/daemon"
	"excloud.dev/buckets/internal/testutil"
)

const (
	rootAK = "EXCTESTKEY0000000001"
	rootSK = "testsecret0000000000000000000000000000ab"
)

func init() {
	// The machines set AWS_CA_BUNDLE; SDK config loading would try to use it.
	os.Unsetenv("AWS_CA_BUNDLE")
}

// clock is the console's time, moved by tests instead of sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// env is a real excd (S3 gateway, object layer, Badger in t.TempDir()) and a
// console over its object layer and catalog, served by httptest so tests
// choose its clock, expiry and TLS.
type env struct {
	t       *testing.T
	d       *daemon.Daemon
	con     *console.Server
	srv     *httptest.Server
	log     *testutil.LogBuffer
	clock   *clock
	secrets []string // must never appear in the log
}

type envOpt func(*console.Config, *envFlags)

type envFlags struct{ tls bool }

func withTLS(c *console.Config, f *envFlags) { f.tls = true; c.TLS = true }

func newEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	e := &env{t: t, log: &testutil.LogBuffer{}, clock: &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}
	log := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := daemon.Start(daemon.Config{
		DataDir:       t.TempDir(),
		Listen:        "127.0.0.1:0",
		RootAccessKey: rootAK,
		RootSecretKey: rootSK,
		GCInterval:    -1,
		AdminSocket:   "-",
		Logger:        log,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.d = d
	t.Cleanup(func() { d.Close() })
	cfg := console.Config{
		Objects:      d.Layer(),
		Catalog:      d.Catalog(),
		Logger:       log,
		S3URL:        func(*http.Request) string { return "http://" + d.Addr() },
		IdleTimeout:  30 * time.Minute,
		MaxAge:       12 * time.Hour,
		PingInterval: 50 * time.Millisecond,
		Now:          e.clock.Now,
	}
	var f envFlags
	for _, o := range opts {
		o(&cfg, &f)
	}
	e.con = console.New(cfg)
	if f.tls {
		e.srv = httptest.NewUnstartedServer(e.con)
		e.srv.StartTLS()
	} else {
		e.srv = httptest.NewServer(e.con)
	}
	e.srv.Config.RegisterOnShutdown(e.con.Close)
	t.Cleanup(func() {
		e.con.Close()
		e.srv.Close()
	})
	e.secrets = append(e.secrets, rootSK)
	t.Cleanup(e.checkLog)
	return e
}

// checkLog fails the test if any secret the test knows of was logged.
func (e *env) checkLog() {
	l := e.log.String()
	for _, s := range e.secrets {
		if s != "" && strings.Contains(l, s) {
			e.t.Errorf("the log holds a secret (%.6s…)", s)
		}
	}
}

// key makes an access key in the default org.
func (e *env) key(readOnly bool, buckets ...string) catalog.AccessKey {
	e.t.Helper()
	root, err := e.d.Catalog().AccessKey(context.Background(), rootAK)
	if err != nil {
		e.t.Fatal(err)
	}
	k, err := e.d.Catalog().CreateAccessKey(context.Background(), catalog.AccessKey{OrgID: root.OrgID, ReadOnly: readOnly, Buckets: buckets})
	if err != nil {
		e.t.Fatal(err)
	}
	e.secrets = append(e.secrets, k.Secret)
	return k
}

func (e *env) s3(id, secret string) *s3.Client {
	return testutil.S3("http://"+e.d.Addr(), id, secret, testutil.NoRetries)
}

func (e *env) orgID() string {
	root, err := e.d.Catalog().AccessKey(context.Background(), rootAK)
	if err != nil {
		e.t.Fatal(err)
	}
	return root.OrgID
}

// client is a browser: a cookie jar, the CSRF token from sign-in, and the
// console's own Origin on every request, as fetch() sends it.
type client struct {
	e    *env
	hc   *http.Client
	csrf string
	body map[string]any // the sign-in answer
}

func (e *env) newClient() *client {
	jar, _ := cookiejar.New(nil)
	hc := e.srv.Client()
	hc = &http.Client{Transport: hc.Transport, Jar: jar}
	return &client{e: e, hc: hc}
}

// signIn signs a new browser in, failing the test unless it works.
func (e *env) signIn(id, secret string) *client {
	e.t.Helper()
	c := e.newClient()
	res, body := c.do("POST", "/api/session", map[string]string{"access_key_id": id, "secret": secret})
	if res.StatusCode != http.StatusOK {
		e.t.Fatalf("sign-in: %d %s", res.StatusCode, body)
	}
	if err := json.Unmarshal(body, &c.body); err != nil {
		e.t.Fatal(err)
	}
	c.csrf, _ = c.body["csrf"].(string)
	if c.csrf == "" {
		e.t.Fatalf("sign-in answer has no csrf token: %s", body)
	}
	e.secrets = append(e.secrets, c.csrf, c.sessionID())
	return c
}

func (c *client) sessionID() string {
	for _, ck := range c.hc.Jar.Cookies(mustURL(c.e.srv.URL)) {
		if ck.Name == "exc_console" {
			return ck.Value
		}
	}
	return ""
}

// do sends a request; body is JSON unless it is a []byte or io.Reader.
// hdr are name, value pairs; a value of "-" removes the header.
func (c *client) do(method, path string, body any, hdr ...string) (*http.Response, []byte) {
	c.e.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.e.t.Fatal(err)
		}
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, c.e.srv.URL+path, rd)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if method != "GET" && method != "HEAD" {
		req.Header.Set("Origin", c.e.srv.URL)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		if c.csrf != "" {
			req.Header.Set("X-CSRF-Token", c.csrf)
		}
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "-" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.e.t.Fatal(err)
	}
	return res, b
}

// want checks status and, for errors, the JSON error code; it returns the
// decoded body.
func (c *client) want(status int, code string, method, path string, body any, hdr ...string) map[string]any {
	c.e.t.Helper()
	res, b := c.do(method, path, body, hdr...)
	if res.StatusCode != status {
		c.e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, res.StatusCode, status, b)
	}
	var out map[string]any
	if len(b) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &out); err != nil {
			c.e.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	if code != "" {
		got, _ := out["error"].(map[string]any)
		if got == nil || got["code"] != code {
			c.e.t.Fatalf("%s %s: error %v, want code %s", method, path, out, code)
		}
	}
	return out
}

func errCode(b []byte) string {
	var out struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(b, &out)
	return out.Error.Code
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
