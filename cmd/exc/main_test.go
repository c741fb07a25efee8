package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"excloud.dev/buckets/admin"
	"excloud.dev/buckets/catalog"
)

// daemon starts a real catalog and admin server and returns its socket. The
// server acts as a daemon with public_domain "objects.test" on port 9000.
func daemon(t *testing.T) (socket string, db *catalog.DB) {
	t.Helper()
	return daemonWith(t, func(org string) string { return "http://" + org + ".objects.test:9000" })
}

// daemonWith is daemon with the admin server's PublicURL (nil: no public
// domain).
func daemonWith(t *testing.T, publicURL func(string) string) (socket string, db *catalog.DB) {
	t.Helper()
	db, err := catalog.Open(catalog.Options{Dir: t.TempDir(), EncryptionKey: bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	socket = filepath.Join(t.TempDir(), "admin.sock")
	ln, err := admin.Listen(socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := admin.NewServer(admin.Config{
		Catalog: db,
		Status: func(context.Context) (admin.Status, error) {
			return admin.Status{Version: "v9", Commit: "abc", UptimeSeconds: 3661, BytesAfterDedup: 2048}, nil
		},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		PublicURL: publicURL,
	})
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return socket, db
}

type result struct {
	code           int
	stdout, stderr string
}

// exc runs one command line in-process.
func exc(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut, func(k string) string { return env[k] })
	return result{code, out.String(), errOut.String()}
}

func TestCommands(t *testing.T) {
	socket, _ := daemon(t)
	env := map[string]string{"EXC_SOCKET": socket}
	var keyID string // filled by the key creation step

	steps := []struct {
		name string
		args []string
		code int
		out  string // regexp the stdout must match
		err  string // regexp the stderr must match
	}{
		{"no org to default to", []string{"buckets", "list"}, 4, `^$`, `no org exists`},
		{"create org", []string{"orgs", "create", "zeta"}, 0, `(?m)^ORG ID\s+NAME\s+CREATED\s+DEFAULT\no[a-z2-7]{12}\s+zeta\s.*\syes$`, `^$`},
		{"create second org", []string{"orgs", "create", "acme"}, 0, `acme\s.*\sno\n`, `^$`},
		{"duplicate org", []string{"orgs", "create", "acme"}, 1, `^$`, `org_exists`},
		{"list orgs by name", []string{"orgs", "list"}, 0, `(?s)acme.*zeta`, `^$`},
		{"bucket in default org (zeta, created first; acme sorts first)", []string{"buckets", "create", "photos"}, 0, `photos\s+no\s+o`, `^$`},
		{"bucket in named org", []string{"buckets", "create", "photos", "--org", "acme"}, 0, `photos`, `^$`},
		{"duplicate bucket", []string{"buckets", "create", "photos"}, 1, `^$`, `bucket_exists`},
		{"invalid bucket name", []string{"buckets", "create", "No_Good"}, 1, `^$`, `invalid_bucket_name`},
		{"missing org", []string{"buckets", "list", "--org", "nope"}, 4, `^$`, `no_such_org`},
		{"set public", []string{"buckets", "set-public", "photos", "true"}, 0, `photos\s+yes.*\nanyone can GET http://o[a-z2-7]{12}\.objects\.test:9000/photos/<key>\n$`, `^$`},
		{"set public bad bool", []string{"buckets", "set-public", "photos", "maybe"}, 2, `^$`, `neither true nor false`},
		{"set public missing bucket", []string{"buckets", "set-public", "nope", "false"}, 4, `^$`, `no_such_bucket`},
		{"list buckets", []string{"buckets", "list"}, 0, `(?m)^NAME\s+PUBLIC\s+ORG ID\s+CREATED\nphotos\s+yes`, `^$`},
		{"create key", []string{"buckets", "keys", "create", "--read-only", "--bucket", "photos"}, 0,
			`(?s)access_key_id\s+EXC[A-Z0-9]{17}\n.*secret_access_key\s+\S{40}\n.*read-only.*photos`, `shown only now`},
		{"key scoped to missing bucket", []string{"buckets", "keys", "create", "--bucket", "nope"}, 4, `^$`, `no_such_bucket`},
		{"list keys", []string{"buckets", "keys", "list"}, 0, `(?m)^ACCESS KEY ID\s+ACCESS\s+BUCKETS\s+CREATED\nEXC[A-Z0-9]{17}\s+read-only\s+photos\s`, `^$`},
		{"delete missing key", []string{"buckets", "keys", "delete", "EXCNOPENOPENOPENOPE0"}, 4, `^$`, `no_such_key`},
		{"delete key in another org", []string{"buckets", "keys", "delete", "--org", "acme"}, 4, `^$`, `no_such_key`},
		{"delete key", []string{"buckets", "keys", "delete"}, 0, `access key EXC[A-Z0-9]{17} deleted`, `^$`},
		{"key list empty", []string{"buckets", "keys", "list"}, 0, `^ACCESS KEY ID\s+ACCESS\s+BUCKETS\s+CREATED\n$`, `^$`},
		{"status", []string{"status"}, 0, `(?s)version\s+v9 \(commit abc\).*uptime\s+1h1m1s.*orgs\s+2\n.*buckets\s+2\n.*objects\s+0\n.*bytes after dedup\s+2\.0 KiB \(2048 bytes\)`, `^$`},
		{"non-empty org", []string{"orgs", "delete", "zeta"}, 1, `^$`, `org_not_empty`},
		{"delete bucket", []string{"buckets", "delete", "photos", "--org", "zeta"}, 0, `bucket photos deleted`, `^$`},
		{"delete org", []string{"orgs", "delete", "zeta"}, 0, `org zeta deleted`, `^$`},
		{"delete missing org", []string{"orgs", "delete", "zeta"}, 4, `^$`, `no_such_org`},
		{"default org deleted: no org to default to", []string{"buckets", "list"}, 4, `^$`, `no default org`},
		{"default org deleted: acme did not become it", []string{"buckets", "list", "--org", "acme"}, 0, `photos`, `^$`},
		{"usage: missing arg", []string{"buckets", "create"}, 2, `^$`, `needs 1 argument`},
		{"usage: extra arg", []string{"orgs", "list", "x"}, 2, `^$`, `takes no arguments`},
		{"usage: unknown flag", []string{"orgs", "list", "--frob"}, 2, `^$`, `unknown flag`},
		{"usage: unknown subcommand", []string{"buckets", "frob"}, 2, `^$`, `unknown command "frob"`},
		{"usage: group alone", []string{"orgs"}, 2, `^$`, `orgs: a command is needed, one of: create, delete, list`},
		{"version flag", []string{"--version"}, 0, `^exc dev \(commit unknown\)\n$`, `^$`},
		{"version command", []string{"version"}, 0, `^exc dev \(commit unknown\)\n$`, `^$`},
		{"unreachable names the socket", []string{"--socket", socket + ".missing", "orgs", "list"}, 3, `^$`,
			regexp.QuoteMeta(socket+".missing") + `.*no such file`},
	}
	for _, s := range steps {
		args := s.args
		if strings.HasPrefix(s.name, "delete key") {
			args = append(args[:len(args):len(args)], keyID)
		}
		r := exc(t, env, "", args...)
		if s.name == "create key" {
			keyID = regexp.MustCompile(`EXC[A-Z0-9]{17}`).FindString(r.stdout)
		}
		if r.code != s.code || !regexp.MustCompile(s.out).MatchString(r.stdout) || !regexp.MustCompile(s.err).MatchString(r.stderr) {
			t.Fatalf("%s: exc %s\ncode %d (want %d)\nstdout:\n%s\nstderr:\n%s", s.name, strings.Join(args, " "), r.code, s.code, r.stdout, r.stderr)
		}
	}
}

func TestJSONOutput(t *testing.T) {
	socket, _ := daemon(t)
	env := map[string]string{}
	run := func(args ...string) map[string]any {
		t.Helper()
		r := exc(t, env, "", append([]string{"--socket", socket, "--json"}, args...)...)
		if r.code != 0 {
			t.Fatalf("exc %v: %d %s", args, r.code, r.stderr)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
			t.Fatalf("exc %v: not JSON: %v\n%s", args, err, r.stdout)
		}
		return v
	}
	keys := func(v any) string {
		m := v.(map[string]any)
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		return strings.Join(sorted(ks), ",")
	}

	org := run("orgs", "create", "acme")
	if got := keys(org); got != "created,default,name,org_id" || org["default"] != true {
		t.Fatalf("org fields: %s", got)
	}
	if got := keys(run("buckets", "create", "photos")); got != "created,is_public,name,org_id" {
		t.Fatalf("bucket fields: %s", got)
	}
	if b := run("buckets", "set-public", "photos", "true"); b["is_public"] != true || b["public_url"] != "http://"+org["org_id"].(string)+".objects.test:9000/photos/" {
		t.Fatalf("set-public: %v", b)
	}
	k := run("buckets", "keys", "create", "--bucket", "photos")
	if got := keys(k); got != "access_key_id,buckets,created,org_id,read_only,secret_access_key" {
		t.Fatalf("new key fields: %s", got)
	}
	list := run("buckets", "keys", "list")
	listed := list["keys"].([]any)
	if len(listed) != 1 || keys(listed[0]) != "access_key_id,buckets,created,org_id,read_only" {
		t.Fatalf("listed keys: %v", list)
	}
	if orgs := run("orgs", "list")["orgs"].([]any); len(orgs) != 1 || orgs[0].(map[string]any)["org_id"] != org["org_id"] {
		t.Fatalf("orgs list: %v", orgs)
	}
	if bs := run("buckets", "list")["buckets"].([]any); len(bs) != 1 || bs[0].(map[string]any)["is_public"] != true {
		t.Fatalf("buckets list: %v", bs)
	}
	st := run("status")
	for _, f := range []string{"version", "commit", "uptime_seconds", "orgs", "buckets", "objects", "bytes_stored", "bytes_after_dedup", "usage"} {
		if _, ok := st[f]; !ok {
			t.Fatalf("status lacks %s: %v", f, st)
		}
	}
	if del := run("buckets", "keys", "delete", k["access_key_id"].(string)); del["ok"] != true {
		t.Fatalf("delete: %v", del)
	}
}

// exc refuses a socket another user made (say, in someone else's
// ./excd-data), with a message that says so rather than "is excd running?".
func TestRefusesSocketOfAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the socket to another user")
	}
	socket, _ := daemon(t)
	if err := os.Lchown(socket, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	r := exc(t, map[string]string{"EXC_SOCKET": socket}, "", "orgs", "list")
	if r.code != exitUnreachable || !strings.Contains(r.stderr, "refusing admin socket "+socket) ||
		!strings.Contains(r.stderr, "belongs to uid 65534") || strings.Contains(r.stderr, "Is excd running") {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

func sorted(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

func TestConfigure(t *testing.T) {
	dir := t.TempDir()
	cfg, creds := filepath.Join(dir, "aws", "config"), filepath.Join(dir, "aws", "credentials")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o700); err != nil {
		t.Fatal(err)
	}
	const oldCfg = "# personal\n[default]\nregion = eu-west-1\n\n[profile work] ; keep\nregion = us-east-1\n"
	const oldCreds = "[default]\naws_access_key_id = AKIA1\naws_secret_access_key = one\n\n# work\n[work]\naws_access_key_id = AKIA2\naws_secret_access_key = two\n"
	os.WriteFile(cfg, []byte(oldCfg), 0o600)
	os.WriteFile(creds, []byte(oldCreds), 0o600)
	// No EXC_SOCKET and no daemon: configure must not need one.
	env := map[string]string{"AWS_CONFIG_FILE": cfg, "AWS_SHARED_CREDENTIALS_FILE": creds}

	const secret = "abcdefghijABCDEFGHIJ0123456789+/abcdefgh"
	for i := 0; i < 2; i++ {
		r := exc(t, env, secret+"\n", "buckets", "keys", "configure", "EXCAAAAAAAAAAAAAAAAA", "--profile", "excd")
		if r.code != 0 {
			t.Fatalf("run %d: %d %s", i, r.code, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Fatalf("secret echoed: %s %s", r.stdout, r.stderr)
		}
		gotCfg, _ := os.ReadFile(cfg)
		wantCfg := oldCfg + "\n[profile excd]\nregion = auto\nendpoint_url = http://127.0.0.1:9000\ns3 =\n    addressing_style = path\n"
		if string(gotCfg) != wantCfg {
			t.Fatalf("run %d config:\n%q\nwant\n%q", i, gotCfg, wantCfg)
		}
		gotCreds, _ := os.ReadFile(creds)
		wantCreds := oldCreds + "\n[excd]\naws_access_key_id = EXCAAAAAAAAAAAAAAAAA\naws_secret_access_key = " + secret + "\n"
		if string(gotCreds) != wantCreds {
			t.Fatalf("run %d credentials:\n%q\nwant\n%q", i, gotCreds, wantCreds)
		}
	}

	// A new file pair under a fresh HOME, with another endpoint.
	home := filepath.Join(dir, "home")
	r := exc(t, map[string]string{"HOME": home}, "s\n", "buckets", "keys", "configure", "EXCAAAAAAAAAAAAAAAAA",
		"--profile", "p", "--endpoint", "https://s3.example.com")
	if r.code != 0 {
		t.Fatalf("fresh home: %d %s", r.code, r.stderr)
	}
	for _, f := range []string{"config", "credentials"} {
		fi, err := os.Stat(filepath.Join(home, ".aws", f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, fi, err)
		}
	}

	for _, tt := range []struct {
		name, stdin string
		args        []string
		code        int
	}{
		{"no profile", "s\n", []string{"EXCA"}, 2},
		{"no secret", "", []string{"EXCA", "--profile", "x"}, 2},
		{"bad endpoint", "s\n", []string{"EXCA", "--profile", "x", "--endpoint", "ftp://h"}, 2},
		{"bad profile name", "s\n", []string{"EXCA", "--profile", "a]b"}, 2},
	} {
		r := exc(t, env, tt.stdin, append([]string{"buckets", "keys", "configure"}, tt.args...)...)
		if r.code != tt.code {
			t.Errorf("%s: code %d, want %d (%s)", tt.name, r.code, tt.code, r.stderr)
		}
	}
}
