package console_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"excloud.dev/buckets/console"
)

func TestSignIn(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		body   any
		ct     string
		status int
		code   string
	}{
		{"good", map[string]string{"access_key_id": rootAK, "secret": rootSK}, "", 200, ""},
		{"wrong secret", map[string]string{"access_key_id": rootAK, "secret": strings.Repeat("x", 40)}, "", 401, "InvalidCredentials"},
		{"unknown key", map[string]string{"access_key_id": "EXCNOSUCHKEY00000000", "secret": rootSK}, "", 401, "InvalidCredentials"},
		{"secret in the id field", map[string]string{"access_key_id": rootSK, "secret": ""}, "", 401, "InvalidCredentials"},
		{"empty", map[string]string{}, "", 401, "InvalidCredentials"},
		{"not json", []byte("access_key_id=" + rootAK + "&secret=" + rootSK), "application/x-www-form-urlencoded", 415, "UnsupportedMediaType"},
		{"bad json", []byte("{"), "application/json", 400, "InvalidArgument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.newClient()
			var hdr []string
			if tc.ct != "" {
				hdr = []string{"Content-Type", tc.ct}
			}
			res, b := c.do("POST", "/api/session", tc.body, hdr...)
			if res.StatusCode != tc.status || errCode(b) != tc.code {
				t.Fatalf("%d %s, want %d %s", res.StatusCode, b, tc.status, tc.code)
			}
			if tc.status != 200 {
				if len(res.Cookies()) != 0 {
					t.Fatalf("a failed sign-in set a cookie: %v", res.Cookies())
				}
				c.want(401, "Unauthenticated", "GET", "/api/session", nil)
				return
			}
			body := c.want(200, "", "GET", "/api/session", nil)
			key := body["key"].(map[string]any)
			if key["id"] != rootAK || key["admin"] != true || body["csrf"] == "" {
				t.Fatalf("session: %v", body)
			}
			if strings.Contains(string(b), rootSK) {
				t.Fatal("the sign-in answer holds the secret")
			}
		})
	}
	// Both refusals say the same, so they tell nothing about which ids exist.
	c := e.newClient()
	_, a := c.do("POST", "/api/session", map[string]string{"access_key_id": rootAK, "secret": "nope"})
	_, b := c.do("POST", "/api/session", map[string]string{"access_key_id": "EXCNOSUCHKEY00000000", "secret": "nope"})
	if !bytes.Equal(a, b) {
		t.Fatalf("wrong secret and unknown key answer differently:\n%s\n%s", a, b)
	}
}

// An id known before sign-in (planted by an attacker, or the previous
// session's) is worth nothing after it.
func TestSessionFixation(t *testing.T) {
	e := newEnv(t)
	c := e.newClient()
	planted := &http.Cookie{Name: "exc_console", Value: "attacker-chosen-id", Path: "/"}
	c.hc.Jar.SetCookies(mustURL(e.srv.URL), []*http.Cookie{planted})
	c.want(401, "Unauthenticated", "GET", "/api/session", nil)

	res, body := c.do("POST", "/api/session", map[string]string{"access_key_id": rootAK, "secret": rootSK})
	if res.StatusCode != 200 {
		t.Fatalf("sign-in: %d %s", res.StatusCode, body)
	}
	first := c.sessionID()
	if first == "" || first == planted.Value {
		t.Fatalf("session id after sign-in: %q", first)
	}
	// Signing in again, in the same browser, gives yet another id and
	// ends the first session.
	res, body = c.do("POST", "/api/session", map[string]string{"access_key_id": rootAK, "secret": rootSK})
	if res.StatusCode != 200 {
		t.Fatalf("sign-in: %d %s", res.StatusCode, body)
	}
	second := c.sessionID()
	if second == first {
		t.Fatal("a second sign-in kept the session id")
	}
	e.secrets = append(e.secrets, first, second)
	old := e.newClient()
	old.hc.Jar.SetCookies(mustURL(e.srv.URL), []*http.Cookie{{Name: "exc_console", Value: first, Path: "/"}})
	old.want(401, "Unauthenticated", "GET", "/api/session", nil)
	c.want(200, "", "GET", "/api/session", nil)
}

func TestCookieFlags(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   []envOpt
		hdr    []string
		secure bool
	}{
		{"http", nil, nil, false},
		{"https", []envOpt{withTLS}, nil, true},
		{"behind a TLS proxy", nil, []string{"X-Forwarded-Proto", "https"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts...)
			c := e.newClient()
			res, b := c.do("POST", "/api/session", map[string]string{"access_key_id": rootAK, "secret": rootSK}, tc.hdr...)
			if res.StatusCode != 200 {
				t.Fatalf("%d %s", res.StatusCode, b)
			}
			var ck *http.Cookie
			for _, x := range res.Cookies() {
				if x.Name == "exc_console" {
					ck = x
				}
			}
			if ck == nil {
				t.Fatal("no session cookie")
			}
			e.secrets = append(e.secrets, ck.Value)
			if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Secure != tc.secure {
				t.Fatalf("cookie flags: %q", res.Header.Get("Set-Cookie"))
			}
			if len(ck.Value) < 40 {
				t.Fatalf("session id of %d characters", len(ck.Value))
			}
		})
	}
}

// A page on another site can make the browser send a form POST (or a
// fetch) with the session cookie; it cannot read the CSRF token. Each such
// request is refused and changes nothing.
func TestCSRF(t *testing.T) {
	e := newEnv(t)
	c := e.signIn(rootAK, rootSK)
	for _, tc := range []struct {
		name string
		hdr  []string
		body any
	}{
		{"no token", []string{"X-CSRF-Token", "-"}, map[string]string{"name": "csrf-a"}},
		{"wrong token", []string{"X-CSRF-Token", "not-the-token"}, map[string]string{"name": "csrf-b"}},
		{"cross-site form post", []string{"X-CSRF-Token", "-", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site",
			"Content-Type", "application/x-www-form-urlencoded"}, []byte("name=csrf-c")},
		{"foreign origin with the token", []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "-"}, map[string]string{"name": "csrf-d"}},
		{"null origin", []string{"Origin", "null"}, map[string]string{"name": "csrf-e"}},
		{"same-site is not same-origin", []string{"Sec-Fetch-Site", "same-site", "Origin", "-"}, map[string]string{"name": "csrf-f"}},
	} {
		t.Log(tc.name)
		c.want(403, "CSRFRejected", "POST", "/api/buckets", tc.body, tc.hdr...)
	}
	out := c.want(200, "", "GET", "/api/buckets", nil)
	if n := len(out["buckets"].([]any)); n != 0 {
		t.Fatalf("refused requests created %d buckets", n)
	}
	// Sign-out needs the token too: a cross-site page cannot end a session.
	c.want(403, "CSRFRejected", "DELETE", "/api/session", nil, "X-CSRF-Token", "-")
	c.want(200, "", "GET", "/api/session", nil)
	// Login CSRF: another site cannot sign the browser in as its own key.
	other := e.newClient()
	other.want(403, "CSRFRejected", "POST", "/api/session", map[string]string{"access_key_id": rootAK, "secret": rootSK},
		"Origin", "https://evil.example")
	other.want(401, "Unauthenticated", "GET", "/api/session", nil)
	// The same request from the page itself works; so does the page served
	// through a proxy that terminates TLS (the browser's origin is https,
	// this listener is http).
	c.want(201, "", "POST", "/api/buckets", map[string]string{"name": "csrf-ok"})
	c.want(201, "", "POST", "/api/buckets", map[string]string{"name": "csrf-ok-proxied"},
		"Origin", "https://"+strings.TrimPrefix(e.srv.URL, "http://"))
	// But not another port on the same host: that is another origin.
	c.want(403, "CSRFRejected", "POST", "/api/buckets", map[string]string{"name": "csrf-port"},
		"Origin", "http://127.0.0.1:1")
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	c := e.signIn(rootAK, rootSK)
	for _, p := range []string{"/", "/static/nope.js", "/api/session", "/api/buckets", "/api/nope"} {
		for _, who := range []*client{c, e.newClient()} {
			res, _ := who.do("GET", p, nil)
			h := res.Header
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"frame-ancestors 'none'", "default-src 'self'", "object-src 'none'", "base-uri 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("GET %s: CSP %q lacks %q", p, csp, want)
				}
			}
			if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("GET %s: headers %v", p, h)
			}
		}
	}
	res, b := c.do("GET", "/", nil)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || !bytes.Contains(b, []byte("<html")) {
		t.Fatalf("GET /: %d %s %.80s", res.StatusCode, res.Header.Get("Content-Type"), b)
	}
}

func TestExpiry(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		e := newEnv(t, func(c *console.Config, _ *envFlags) { c.IdleTimeout = 10 * time.Minute })
		c := e.signIn(rootAK, rootSK)
		e.clock.advance(9 * time.Minute)
		c.want(200, "", "GET", "/api/session", nil) // activity: the idle clock restarts
		e.clock.advance(9 * time.Minute)
		c.want(200, "", "GET", "/api/buckets", nil)
		e.clock.advance(10 * time.Minute)
		c.want(401, "Unauthenticated", "GET", "/api/session", nil)
		// And it stays gone.
		e.clock.advance(-10 * time.Minute)
		c.want(401, "Unauthenticated", "GET", "/api/session", nil)
	})
	t.Run("absolute", func(t *testing.T) {
		e := newEnv(t, func(c *console.Config, _ *envFlags) { c.IdleTimeout = 10 * time.Minute; c.MaxAge = time.Hour })
		c := e.signIn(rootAK, rootSK)
		for i := 0; i < 7; i++ { // 56 minutes of steady use
			e.clock.advance(8 * time.Minute)
			c.want(200, "", "GET", "/api/session", nil)
		}
		e.clock.advance(4 * time.Minute)
		c.want(401, "Unauthenticated", "GET", "/api/session", nil)
	})
}

func TestSignOut(t *testing.T) {
	e := newEnv(t)
	c := e.signIn(rootAK, rootSK)
	id := c.sessionID()
	res, _ := c.do("DELETE", "/api/session", nil)
	if res.StatusCode != 204 {
		t.Fatalf("sign-out: %d", res.StatusCode)
	}
	c.want(401, "Unauthenticated", "GET", "/api/session", nil)
	// Each request has its line in the log, as S3 requests do.
	for _, want := range []string{
		`msg="console request" method=POST path=/api/session access_key=` + rootAK + ` status=200`,
		`msg="console request" method=DELETE path=/api/session access_key=` + rootAK + ` status=204`,
		`msg="console request" method=GET path=/api/session access_key="" status=401 code=Unauthenticated`,
	} {
		if !e.log.Contains(want) {
			t.Errorf("the log lacks %q:\n%s", want, e.log.String())
		}
	}
	// The old cookie, replayed, is dead on the server side too.
	replay := e.newClient()
	replay.csrf = c.csrf
	replay.hc.Jar.SetCookies(mustURL(e.srv.URL), []*http.Cookie{{Name: "exc_console", Value: id, Path: "/"}})
	replay.want(401, "Unauthenticated", "GET", "/api/buckets", nil)
	replay.want(401, "Unauthenticated", "POST", "/api/buckets", map[string]string{"name": "after-signout"})
}

// A deleted key's sessions end at once, as its S3 requests would fail.
func TestDeletedKeyEndsSession(t *testing.T) {
	e := newEnv(t)
	k := e.key(false)
	c := e.signIn(k.ID, k.Secret)
	admin := e.signIn(rootAK, rootSK)
	res, b := admin.do("DELETE", "/api/keys/"+k.ID, nil)
	if res.StatusCode != 204 {
		t.Fatalf("delete key: %d %s", res.StatusCode, b)
	}
	c.want(401, "Unauthenticated", "GET", "/api/buckets", nil)
}
