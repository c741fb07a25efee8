package console_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/internal/testutil"
)

// A read-only key's session may read and may not change anything, as over
// S3; what was stored stays.
func TestReadOnlyKey(t *testing.T) {
	e := newEnv(t)
	admin := e.signIn(rootAK, rootSK)
	admin.want(201, "", "POST", "/api/buckets", map[string]string{"name": "bkt"})
	admin.put("bkt", "kept.txt", "text/plain", []byte("kept"))
	up := admin.want(200, "", "POST", "/api/buckets/bkt/uploads", map[string]string{"key": "up"})
	upBase := "/api/buckets/bkt/uploads/" + up["upload_id"].(string)

	k := e.key(true)
	ro := e.signIn(k.ID, k.Secret)
	if ro.body["key"].(map[string]any)["read_only"] != true || ro.body["key"].(map[string]any)["admin"] != false {
		t.Fatalf("session: %v", ro.body)
	}
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"PUT", "/api/buckets/bkt/object?key=new.txt", []byte("x")},
		{"PUT", "/api/buckets/bkt/object?key=kept.txt", []byte("overwritten")},
		{"POST", "/api/buckets/bkt/delete", map[string]any{"keys": []string{"kept.txt"}}},
		{"POST", "/api/buckets/bkt/rename", map[string]string{"from": "kept.txt", "to": "moved.txt"}},
		{"POST", "/api/buckets/bkt/uploads", map[string]string{"key": "big"}},
		{"PUT", upBase + "/1?key=up", []byte("x")},
		{"POST", upBase + "/complete?key=up", map[string]any{"parts": []map[string]any{{"number": 1, "etag": "x"}}}},
		{"DELETE", upBase + "?key=up", nil},
		{"POST", "/api/buckets", map[string]string{"name": "newbucket"}},
		{"DELETE", "/api/buckets/bkt", nil},
		{"PUT", "/api/buckets/bkt/public", map[string]bool{"public": false}},
	} {
		ro.want(403, "AccessDenied", tc.method, tc.path, tc.body)
	}
	// Reads work.
	ro.want(200, "", "GET", "/api/buckets", nil)
	if keys := listAll(ro, "bkt"); fmt.Sprint(keys) != "[kept.txt]" {
		t.Fatalf("objects: %v", keys)
	}
	res, b := ro.do("GET", "/api/buckets/bkt/download?key=kept.txt", nil)
	if res.StatusCode != 200 || string(b) != "kept" {
		t.Fatalf("download: %d %q", res.StatusCode, b)
	}
	ro.want(200, "", "GET", upBase+"?key=up", nil)
	ro.want(200, "", "POST", "/api/buckets/bkt/share", map[string]any{"key": "kept.txt", "expires": 60})
	// The same key over S3 is refused the same way.
	_, err := e.s3(k.ID, k.Secret).PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("new.txt"), Body: strings.NewReader("x")})
	if testutil.APICode(err) != "AccessDenied" {
		t.Fatalf("S3 put with the read-only key: %v", err)
	}
	admin.want(200, "", "GET", upBase+"?key=up", nil)
}

// A key limited to some buckets sees only those, in lists, requests and
// the change feed.
func TestBucketScopedKey(t *testing.T) {
	e := newEnv(t)
	admin := e.signIn(rootAK, rootSK)
	for _, b := range []string{"mine", "theirs"} {
		admin.want(201, "", "POST", "/api/buckets", map[string]string{"name": b})
		admin.put(b, "f.txt", "text/plain", []byte(b))
	}
	k := e.key(false, "mine")
	sc := e.signIn(k.ID, k.Secret)
	bs := sc.want(200, "", "GET", "/api/buckets", nil)["buckets"].([]any)
	if len(bs) != 1 || bs[0].(map[string]any)["name"] != "mine" {
		t.Fatalf("buckets: %v", bs)
	}
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/buckets/theirs/objects", nil},
		{"GET", "/api/buckets/theirs/meta?key=f.txt", nil},
		{"GET", "/api/buckets/theirs/download?key=f.txt", nil},
		{"PUT", "/api/buckets/theirs/object?key=g.txt", []byte("x")},
		{"POST", "/api/buckets/theirs/delete", map[string]any{"keys": []string{"f.txt"}}},
		{"POST", "/api/buckets/theirs/share", map[string]any{"key": "f.txt", "expires": 60}},
		{"DELETE", "/api/buckets/theirs", nil},
		{"POST", "/api/buckets", map[string]string{"name": "another"}},
		{"GET", "/api/events?bucket=theirs", nil},
		{"GET", "/api/keys", nil},
	} {
		sc.want(403, "AccessDenied", tc.method, tc.path, tc.body)
	}
	sc.put("mine", "g.txt", "text/plain", []byte("g"))
	if keys := listAll(sc, "mine"); fmt.Sprint(keys) != "[f.txt g.txt]" {
		t.Fatalf("mine: %v", keys)
	}
	if keys := listAll(admin, "theirs"); fmt.Sprint(keys) != "[f.txt]" {
		t.Fatalf("theirs changed: %v", keys)
	}
}

func TestKeysAdmin(t *testing.T) {
	e := newEnv(t)
	admin := e.signIn(rootAK, rootSK)
	admin.want(201, "", "POST", "/api/buckets", map[string]string{"name": "bkt"})
	ro, sc := e.key(true), e.key(false, "bkt")
	for _, k := range [][2]string{{ro.ID, ro.Secret}, {sc.ID, sc.Secret}} {
		c := e.signIn(k[0], k[1])
		c.want(403, "AccessDenied", "GET", "/api/keys", nil)
		c.want(403, "AccessDenied", "POST", "/api/keys", map[string]any{"read_only": false})
		c.want(403, "AccessDenied", "DELETE", "/api/keys/"+rootAK, nil)
		c.want(403, "AccessDenied", "GET", "/api/store", nil)
	}
	made := admin.want(201, "", "POST", "/api/keys", map[string]any{"read_only": true, "buckets": []string{"bkt"}})
	id, secret := made["id"].(string), made["secret"].(string)
	e.secrets = append(e.secrets, secret)
	sn := made["snippets"].(map[string]any)
	for _, f := range []string{"aws", "rclone", "s3cmd", "env", "boto3"} {
		s, _ := sn[f].(string)
		if !strings.Contains(s, id) || !strings.Contains(s, secret) || !strings.Contains(s, e.d.Addr()) {
			t.Errorf("snippet %s: %q", f, s)
		}
	}
	// The new key works over S3, read-only and scoped.
	s3c := e.s3(id, secret)
	if _, err := s3c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("bkt")}); err != nil {
		t.Fatalf("new key over S3: %v", err)
	}
	keys := admin.want(200, "", "GET", "/api/keys", nil)["keys"].([]any)
	found := false
	for _, k := range keys {
		m := k.(map[string]any)
		if _, ok := m["secret"]; ok {
			t.Fatalf("the key list holds a secret: %v", m)
		}
		if m["id"] == id {
			found = m["read_only"] == true && fmt.Sprint(m["buckets"]) == "[bkt]"
		}
	}
	if !found || len(keys) != 4 {
		t.Fatalf("keys: %v", keys)
	}
	admin.want(400, "InvalidBucketName", "POST", "/api/keys", map[string]any{"buckets": []string{"Bad Name"}})
	admin.want(409, "KeyInUse", "DELETE", "/api/keys/"+rootAK, nil)
	admin.want(404, "NoSuchAccessKey", "DELETE", "/api/keys/EXCNOSUCHKEY00000000", nil)
	if res, b := admin.do("DELETE", "/api/keys/"+id, nil); res.StatusCode != 204 {
		t.Fatalf("delete: %d %s", res.StatusCode, b)
	}
	if _, err := s3c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("bkt")}); testutil.APICode(err) != "InvalidAccessKeyId" {
		t.Fatalf("deleted key over S3: %v", err)
	}
	// The store's status comes from the daemon (internal/daemon tests it).
	admin.want(501, "NotImplemented", "GET", "/api/store", nil)
}

// Another org's key is invisible to this org's administrator.
func TestKeysOtherOrg(t *testing.T) {
	e := newEnv(t)
	org, err := e.d.Catalog().CreateOrg(context.Background(), "other")
	if err != nil {
		t.Fatal(err)
	}
	k := e.key(false)
	k.OrgID = org.ID
	k.ID, k.Secret = "", ""
	other, err := e.d.Catalog().CreateAccessKey(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, other.Secret)
	admin := e.signIn(rootAK, rootSK)
	admin.want(404, "NoSuchAccessKey", "DELETE", "/api/keys/"+other.ID, nil)
	for _, x := range admin.want(200, "", "GET", "/api/keys", nil)["keys"].([]any) {
		if x.(map[string]any)["id"] == other.ID {
			t.Fatal("another org's key is listed")
		}
	}
	oc := e.signIn(other.ID, other.Secret)
	oc.want(201, "", "POST", "/api/buckets", map[string]string{"name": "bkt"})
	admin.want(404, "NoSuchBucket", "GET", "/api/buckets/bkt/objects", nil)
}

// Every endpoint but sign-in and the app's assets needs a session.
func TestEveryEndpointNeedsASession(t *testing.T) {
	e := newEnv(t)
	admin := e.signIn(rootAK, rootSK)
	admin.want(201, "", "POST", "/api/buckets", map[string]string{"name": "bkt"})
	admin.put("bkt", "a.txt", "text/plain", []byte("a"))
	anon := e.newClient()
	anon.csrf = admin.csrf // even with a token: it belongs to no session of this browser
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/session", nil},
		{"DELETE", "/api/session", nil},
		{"GET", "/api/buckets", nil},
		{"POST", "/api/buckets", map[string]string{"name": "anon"}},
		{"DELETE", "/api/buckets/bkt", nil},
		{"PUT", "/api/buckets/bkt/public", map[string]bool{"public": true}},
		{"GET", "/api/buckets/bkt/objects", nil},
		{"GET", "/api/buckets/bkt/meta?key=a.txt", nil},
		{"GET", "/api/buckets/bkt/download?key=a.txt", nil},
		{"PUT", "/api/buckets/bkt/object?key=b.txt", []byte("b")},
		{"POST", "/api/buckets/bkt/delete", map[string]any{"keys": []string{"a.txt"}}},
		{"POST", "/api/buckets/bkt/rename", map[string]string{"from": "a.txt", "to": "c.txt"}},
		{"POST", "/api/buckets/bkt/share", map[string]any{"key": "a.txt", "expires": 60}},
		{"GET", "/api/buckets/bkt/uploads", nil},
		{"POST", "/api/buckets/bkt/uploads", map[string]string{"key": "u"}},
		{"PUT", "/api/buckets/bkt/uploads/x/1?key=u", []byte("x")},
		{"GET", "/api/buckets/bkt/uploads/x?key=u", nil},
		{"POST", "/api/buckets/bkt/uploads/x/complete?key=u", map[string]any{"parts": []any{}}},
		{"DELETE", "/api/buckets/bkt/uploads/x?key=u", nil},
		{"GET", "/api/events", nil},
		{"GET", "/api/keys", nil},
		{"POST", "/api/keys", map[string]any{}},
		{"DELETE", "/api/keys/" + rootAK, nil},
		{"GET", "/api/store", nil},
	} {
		anon.want(401, "Unauthenticated", tc.method, tc.path, tc.body)
	}
	if keys := listAll(admin, "bkt"); fmt.Sprint(keys) != "[a.txt]" {
		t.Fatalf("objects changed: %v", keys)
	}
	res, _ := anon.do("GET", "/", nil)
	if res.StatusCode != 200 {
		t.Fatalf("GET / without a session: %d", res.StatusCode)
	}
}
