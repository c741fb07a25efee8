package admin_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"excloud.dev/buckets/admin"
	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/internal/testutil"
)

// syncBuffer collects the server's log so tests can check what it says
// (and that it never says a secret).
type syncBuffer = testutil.LogBuffer

type env struct {
	db     *catalog.DB
	client *admin.Client
	socket string
	log    *syncBuffer
}

// testPublicURL stands in for a daemon with public_domain = "objects.test"
// listening on port 9000.
func testPublicURL(org string) string { return "http://" + org + ".objects.test:9000" }

// start runs a real catalog and a real admin server on a unix socket in a
// temporary directory, with a public domain.
func start(t *testing.T) *env {
	t.Helper()
	return startWith(t, testPublicURL)
}

// startWith is start with the server's Config.PublicURL (nil: no public
// domain).
func startWith(t *testing.T, publicURL func(string) string) *env {
	t.Helper()
	db, err := catalog.Open(catalog.Options{Dir: t.TempDir(), EncryptionKey: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{db: db, socket: filepath.Join(t.TempDir(), "run", "admin.sock"), log: &syncBuffer{}}
	ln, err := admin.Listen(e.socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := admin.NewServer(admin.Config{
		Catalog: db,
		Status: func(context.Context) (admin.Status, error) {
			return admin.Status{Version: "v-test", Commit: "c0ffee", UptimeSeconds: 42, BytesAfterDedup: 1234,
				Objects: 999}, nil // the server must not take counts from the daemon
		},
		Logger:    slog.New(slog.NewTextHandler(e.log, nil)),
		PublicURL: publicURL,
	})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	e.client = admin.Dial(e.socket)
	t.Cleanup(e.client.Close)
	return e
}

// wantCode checks that err is an API error with this code and status.
func wantCode(t *testing.T, what string, err error, code string, status int) {
	t.Helper()
	var ae *admin.Error
	if !errors.As(err, &ae) {
		t.Fatalf("%s: got %v, want API error %s", what, err, code)
	}
	if ae.Code != code || ae.Status != status {
		t.Fatalf("%s: got %s/%d (%s), want %s/%d", what, ae.Code, ae.Status, ae.Message, code, status)
	}
}

func TestOrgsBucketsKeysLifecycle(t *testing.T) {
	e := start(t)
	ctx, c := context.Background(), e.client

	acme, err := c.CreateOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(acme.ID, "o") || acme.Name != "acme" || acme.Created.IsZero() {
		t.Fatalf("created org = %+v", acme)
	}
	beta, err := c.CreateOrg(ctx, "beta")
	if err != nil {
		t.Fatal(err)
	}
	orgs, err := c.Orgs(ctx)
	if err != nil || len(orgs) != 2 || orgs[0].Name != "acme" || orgs[1].Name != "beta" {
		t.Fatalf("orgs = %+v, %v", orgs, err)
	}
	for _, ref := range []string{acme.ID, "acme"} {
		if o, err := c.Org(ctx, ref); err != nil || o.ID != acme.ID {
			t.Fatalf("org %s = %+v, %v", ref, o, err)
		}
	}

	// Bucket names are per org: both may have "photos".
	for _, org := range []string{"acme", beta.ID} {
		b, err := c.CreateBucket(ctx, org, "photos")
		if err != nil {
			t.Fatal(err)
		}
		if b.Name != "photos" || b.IsPublic {
			t.Fatalf("bucket = %+v", b)
		}
	}
	if _, err := c.CreateBucket(ctx, "acme", "logs.2024"); err != nil {
		t.Fatal(err)
	}
	bs, err := c.Buckets(ctx, "acme")
	if err != nil || len(bs) != 2 {
		t.Fatalf("buckets = %+v, %v", bs, err)
	}
	for _, b := range bs {
		if b.OrgID != acme.ID {
			t.Fatalf("bucket of another org listed: %+v", b)
		}
	}
	b, err := c.SetBucketPublic(ctx, "acme", "photos", true)
	if err != nil || !b.IsPublic {
		t.Fatalf("set public = %+v, %v", b, err)
	}
	if want := "http://" + acme.ID + ".objects.test:9000/photos/"; b.PublicURL != want {
		t.Fatalf("public URL = %q, want %q", b.PublicURL, want)
	}
	if b, err := c.Bucket(ctx, beta.ID, "photos"); err != nil || b.IsPublic || b.PublicURL != "" {
		t.Fatalf("other org's bucket changed: %+v, %v", b, err)
	}
	if b, err := c.SetBucketPublic(ctx, "acme", "photos", false); err != nil || b.IsPublic || b.PublicURL != "" {
		t.Fatalf("set private = %+v, %v", b, err)
	}

	// Keys: the secret is in the creation response only.
	k, err := c.CreateKey(ctx, "acme", admin.CreateKeyRequest{ReadOnly: true, Buckets: []string{"photos", "photos"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.ID, "EXC") || len(k.ID) != 20 || len(k.Secret) != 40 || !k.ReadOnly ||
		k.OrgID != acme.ID || len(k.Buckets) != 1 || k.Buckets[0] != "photos" {
		t.Fatalf("created key = %+v", k)
	}
	stored, err := e.db.AccessKey(ctx, k.ID)
	if err != nil || stored.Secret != k.Secret {
		t.Fatalf("catalog has %+v, %v", stored, err)
	}
	rw, err := c.CreateKey(ctx, "acme", admin.CreateKeyRequest{})
	if err != nil || rw.ReadOnly || len(rw.Buckets) != 0 {
		t.Fatalf("rw key = %+v, %v", rw, err)
	}
	keys, err := c.Keys(ctx, "acme")
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys = %+v, %v", keys, err)
	}
	if got, err := c.Key(ctx, "", k.ID); err != nil || got.ID != k.ID || !got.ReadOnly {
		t.Fatalf("key = %+v, %v", got, err)
	}
	// The raw JSON of every read is free of both secrets.
	for _, path := range []string{"/v1/orgs/acme/keys", "/v1/keys/" + k.ID, "/v1/orgs/acme/keys/" + rw.ID} {
		body := rawGet(t, e.socket, path)
		for _, secret := range []string{k.Secret, rw.Secret} {
			if strings.Contains(body, secret) {
				t.Fatalf("GET %s returned a secret: %s", path, body)
			}
		}
		if strings.Contains(body, "secret_access_key") {
			t.Fatalf("GET %s has a secret field: %s", path, body)
		}
	}
	// A key is invisible from another org.
	wantCode(t, "key via other org", c.DeleteKey(ctx, beta.ID, k.ID), admin.CodeNoSuchKey, http.StatusNotFound)
	if err := c.DeleteKey(ctx, "acme", k.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteKey(ctx, "", rw.ID); err != nil {
		t.Fatal(err)
	}
	if keys, err := c.Keys(ctx, "acme"); err != nil || len(keys) != 0 {
		t.Fatalf("keys after delete = %+v, %v", keys, err)
	}

	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != "v-test" || st.Commit != "c0ffee" || st.UptimeSeconds != 42 || st.BytesAfterDedup != 1234 ||
		st.Orgs != 2 || st.Buckets != 3 || st.Objects != 0 || len(st.Usage) != 2 || st.Usage[0].Name != "acme" ||
		st.Usage[0].Buckets != 2 {
		t.Fatalf("status = %+v", st)
	}

	// Deleting: buckets first, then the org.
	for _, name := range []string{"photos", "logs.2024"} {
		if err := c.DeleteBucket(ctx, "acme", name); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.DeleteOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "deleted org", func() error { _, err := c.Org(ctx, acme.ID); return err }(), admin.CodeNoSuchOrg, http.StatusNotFound)

	// Secrets never reach the log; the operations do.
	logs := e.log.String()
	for _, secret := range []string{k.Secret, rw.Secret} {
		if strings.Contains(logs, secret) {
			t.Fatalf("a secret was logged:\n%s", logs)
		}
	}
	if !strings.Contains(logs, "access key created") || !strings.Contains(logs, k.ID) {
		t.Fatalf("key creation not logged:\n%s", logs)
	}
}

func TestErrorCodes(t *testing.T) {
	e := start(t)
	ctx, c := context.Background(), e.client
	org, err := c.CreateOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateBucket(ctx, "acme", "full"); err != nil {
		t.Fatal(err)
	}
	// A non-empty bucket needs an object: put one through the catalog.
	b, err := e.db.Bucket(ctx, org.ID, "full")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.PutObject(ctx, b, "k", &catalog.Manifest{Size: 1, Inline: []byte("x"), ETag: `"x"`, ModTime: time.Now()}, catalog.Condition{}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		call   func() error
		code   string
		status int
	}{
		{"missing org", func() error { _, err := c.Buckets(ctx, "nope"); return err }, admin.CodeNoSuchOrg, 404},
		{"missing org by id", func() error { _, err := c.Org(ctx, "oaaaaaaaaaaaa"); return err }, admin.CodeNoSuchOrg, 404},
		{"delete missing org", func() error { return c.DeleteOrg(ctx, "nope") }, admin.CodeNoSuchOrg, 404},
		{"duplicate org", func() error { _, err := c.CreateOrg(ctx, "acme"); return err }, admin.CodeOrgExists, 409},
		{"bad org name", func() error { _, err := c.CreateOrg(ctx, "a b"); return err }, admin.CodeInvalidOrgName, 400},
		{"org name shaped like an id", func() error { _, err := c.CreateOrg(ctx, "oabcdefghijkl"); return err }, admin.CodeInvalidOrgName, 400},
		{"non-empty org", func() error { return c.DeleteOrg(ctx, "acme") }, admin.CodeOrgNotEmpty, 409},
		{"duplicate bucket", func() error { _, err := c.CreateBucket(ctx, "acme", "full"); return err }, admin.CodeBucketExists, 409},
		{"non-empty bucket", func() error { return c.DeleteBucket(ctx, "acme", "full") }, admin.CodeBucketNotEmpty, 409},
		{"missing bucket", func() error { return c.DeleteBucket(ctx, "acme", "nope") }, admin.CodeNoSuchBucket, 404},
		{"get missing bucket", func() error { _, err := c.Bucket(ctx, "acme", "nope"); return err }, admin.CodeNoSuchBucket, 404},
		{"public missing bucket", func() error { _, err := c.SetBucketPublic(ctx, "acme", "nope", true); return err }, admin.CodeNoSuchBucket, 404},
		{"invalid bucket name", func() error { _, err := c.CreateBucket(ctx, "acme", "Bad_Name"); return err }, admin.CodeInvalidBucketName, 400},
		{"bucket name is an ip", func() error { _, err := c.CreateBucket(ctx, "acme", "10.0.0.1"); return err }, admin.CodeInvalidBucketName, 400},
		{"key scoped to missing bucket", func() error {
			_, err := c.CreateKey(ctx, "acme", admin.CreateKeyRequest{Buckets: []string{"nope"}})
			return err
		}, admin.CodeNoSuchBucket, 404},
		{"key scoped to invalid name", func() error {
			_, err := c.CreateKey(ctx, "acme", admin.CreateKeyRequest{Buckets: []string{"UP"}})
			return err
		}, admin.CodeInvalidBucketName, 400},
		{"key in missing org", func() error { _, err := c.CreateKey(ctx, "nope", admin.CreateKeyRequest{}); return err }, admin.CodeNoSuchOrg, 404},
		{"missing key", func() error { _, err := c.Key(ctx, "", "EXCAAAAAAAAAAAAAAAAA"); return err }, admin.CodeNoSuchKey, 404},
		{"delete missing key", func() error { return c.DeleteKey(ctx, "acme", "EXCAAAAAAAAAAAAAAAAA") }, admin.CodeNoSuchKey, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.name, tt.call(), tt.code, tt.status) })
	}

	// Wire-level errors: the JSON error shape for requests no client sends.
	for _, tt := range []struct {
		method, path, body, code string
		status                   int
	}{
		{"GET", "/v2/orgs", "", admin.CodeUnknownRoute, 404},
		{"PATCH", "/v1/orgs", "", admin.CodeUnknownRoute, 404},
		{"POST", "/v1/orgs", "{", admin.CodeInvalidRequest, 400},
		{"POST", "/v1/orgs", `{"name":"x","nmae":"y"}`, admin.CodeInvalidRequest, 400},
		{"POST", "/v1/orgs/acme/keys", `{"readonly":true}`, admin.CodeInvalidRequest, 400},
	} {
		status, body := raw(t, e.socket, tt.method, tt.path, tt.body)
		if status != tt.status || !strings.Contains(body, `"code": "`+tt.code+`"`) || !strings.Contains(body, `"message"`) {
			t.Errorf("%s %s %s: %d %s, want %d %s", tt.method, tt.path, tt.body, status, body, tt.status, tt.code)
		}
	}
}

func TestValidBucketName(t *testing.T) {
	for name, ok := range map[string]bool{
		"abc": true, "a-b.c": true, "0ab": true, "my.bucket.1": true, strings.Repeat("a", 63): true,
		"ab": false, strings.Repeat("a", 64): false, "Abc": false, "a_b": false, "-ab": false, "ab-": false,
		".ab": false, "ab.": false, "a..b": false, "192.168.1.1": false, "a b": false, "1.2.3": true,
		// The same rule as S3 CreateBucket: IP-shaped with leading zeros,
		// and AWS's reserved prefixes and suffixes.
		"10.0.00.1": false, "xn--abc": false, "sthree-abc": false, "abc-s3alias": false,
	} {
		if err := admin.ValidBucketName(name); (err == nil) != ok {
			t.Errorf("ValidBucketName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

// Without a public domain nothing serves a public bucket, so making one
// public is refused (and changes nothing) rather than reported as done;
// making one private always works, also for a flag set while a domain was
// configured.
func TestSetPublicWithoutPublicDomain(t *testing.T) {
	e := startWith(t, nil)
	c, ctx := e.client, context.Background()
	o, err := c.CreateOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"site", "old"} {
		if _, err := c.CreateBucket(ctx, "acme", name); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.SetBucketPublic(ctx, "acme", "site", true)
	wantCode(t, "set-public without a domain", err, admin.CodeNoPublicDomain, http.StatusConflict)
	if !strings.Contains(err.Error(), "public_domain") {
		t.Fatalf("the refusal does not say what to set: %v", err)
	}
	if b, err := c.Bucket(ctx, "acme", "site"); err != nil || b.IsPublic {
		t.Fatalf("refused set-public changed the bucket: %+v, %v", b, err)
	}
	_, err = c.SetBucketPublic(ctx, "acme", "nope", true)
	wantCode(t, "missing bucket", err, admin.CodeNoSuchBucket, http.StatusNotFound)

	// A flag from a time the daemon had a domain: shown as it is, with no
	// URL (nothing serves it), and it can be cleared.
	if err := e.db.SetBucketPublic(ctx, o.ID, "old", true); err != nil {
		t.Fatal(err)
	}
	if b, err := c.Bucket(ctx, "acme", "old"); err != nil || !b.IsPublic || b.PublicURL != "" {
		t.Fatalf("flagged bucket = %+v, %v", b, err)
	}
	if b, err := c.SetBucketPublic(ctx, "acme", "old", false); err != nil || b.IsPublic {
		t.Fatalf("set private = %+v, %v", b, err)
	}
}
