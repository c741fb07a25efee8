package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	excd "excloud.dev/buckets/internal/daemon"
)

// clientEnv keeps the machine's AWS settings out of SDK config loading:
// these machines set AWS_CA_BUNDLE, which LoadDefaultConfig would try to
// read, and stray keys or a profile in the environment would win over the
// file being tested.
func clientEnv(t *testing.T) {
	for _, k := range []string{"AWS_CA_BUNDLE", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
		"AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION",
		"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

// s3Daemon starts a real excd (catalog, chunk store, S3 listener, admin
// socket) and makes a key and a bucket through exc, as a user would.
func s3Daemon(t *testing.T) (d *excd.Daemon, keyID, secret string) {
	t.Helper()
	d, err := excd.Start(excd.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", GCInterval: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	env := map[string]string{"EXC_SOCKET": d.AdminSocket()}
	if r := exc(t, env, "", "buckets", "create", "photos"); r.code != 0 {
		t.Fatalf("buckets create: %+v", r)
	}
	r := exc(t, env, "", "--json", "buckets", "keys", "create")
	var k struct {
		ID     string `json:"access_key_id"`
		Secret string `json:"secret_access_key"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &k); err != nil || r.code != 0 || k.Secret == "" {
		t.Fatalf("keys create: %v %+v", err, r)
	}
	return d, k.ID, k.Secret
}

// excPiped runs exc with stdin a real pipe (not a terminal) carrying input,
// as in `printf '%s\n' "$SECRET" | exc …`.
func excPiped(t *testing.T, env map[string]string, input string, args ...string) result {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	go func() {
		io.WriteString(pw, input)
		pw.Close()
	}()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, pr, &out, &errOut, func(k string) string { return env[k] })
	return result{code, out.String(), errOut.String()}
}

// roundTrip puts, lists and gets an object with c: the proof that the
// configuration reached the daemon with a key it accepts.
func roundTrip(t *testing.T, c *s3.Client, key string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("photos"), Key: aws.String(key),
		Body: strings.NewReader("hello " + key)}); err != nil {
		t.Fatalf("put through the written configuration: %v", err)
	}
	l, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("photos"), Prefix: aws.String(key)})
	if err != nil || len(l.Contents) != 1 || aws.ToString(l.Contents[0].Key) != key {
		t.Fatalf("list: %v %+v", err, l)
	}
	g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	defer g.Body.Close()
	if b, _ := io.ReadAll(g.Body); string(b) != "hello "+key {
		t.Fatalf("get: %q", b)
	}
}

// The secret piped on stdin ends up in a profile that aws-sdk-go-v2, loading
// only the shared files and the profile name, uses against a real excd.
func TestConfigurePipedSecretProfileWorksWithSDK(t *testing.T) {
	clientEnv(t)
	d, keyID, secret := s3Daemon(t)
	dir := t.TempDir()
	cfgFile, credFile := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	endpoint := "http://" + d.Addr()
	env := map[string]string{"AWS_CONFIG_FILE": cfgFile, "AWS_SHARED_CREDENTIALS_FILE": credFile}
	// Nothing after the first line is taken as part of the secret.
	r := excPiped(t, env, secret+"\nnot part of it\n", "buckets", "keys", "configure", keyID, "--profile", "excd", "--endpoint", endpoint)
	if r.code != 0 || strings.Contains(r.stdout+r.stderr, secret) {
		t.Fatalf("configure: %+v", r)
	}

	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithSharedConfigProfile("excd"),
		config.WithSharedConfigFiles([]string{cfgFile}), config.WithSharedCredentialsFiles([]string{credFile}))
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(cfg.BaseEndpoint) != endpoint || cfg.Region != "auto" {
		t.Fatalf("profile gave endpoint %q region %q", aws.ToString(cfg.BaseEndpoint), cfg.Region)
	}
	roundTrip(t, s3.NewFromConfig(cfg), "via-profile")

	// A pipe that closes without a line is a usage error, and the profile
	// written before is left as it was.
	before, _ := os.ReadFile(credFile)
	if r := excPiped(t, env, "", "buckets", "keys", "configure", keyID, "--profile", "excd"); r.code != exitUsage ||
		!strings.Contains(r.stderr, "no secret on standard input") {
		t.Fatalf("empty stdin: %+v", r)
	}
	if after, _ := os.ReadFile(credFile); !bytes.Equal(before, after) {
		t.Fatalf("credentials changed by a failed configure")
	}
}

// The env format's exports, sourced by a real shell, configure
// aws-sdk-go-v2 from the environment alone.
func TestConfigureEnvFormatWorksWithSDK(t *testing.T) {
	clientEnv(t)
	d, keyID, secret := s3Daemon(t)
	r := excPiped(t, nil, secret+"\n", "buckets", "keys", "configure", keyID, "--format", "env", "--endpoint", "http://"+d.Addr())
	if r.code != 0 {
		t.Fatalf("configure --format env: %+v", r)
	}
	script := filepath.Join(t.TempDir(), "env.sh")
	os.WriteFile(script, []byte(r.stdout), 0o600)
	out, err := exec.Command("sh", "-c", `. "$1" && env`, "sh", script).Output()
	if err != nil {
		t.Fatalf("sourcing the exports: %v\n%s", err, r.stdout)
	}
	set := 0
	for sc := bufio.NewScanner(bytes.NewReader(out)); sc.Scan(); {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, v)
			set++
		}
	}
	if set != 5 {
		t.Fatalf("%d AWS_ variables from\n%s", set, r.stdout)
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, s3.NewFromConfig(cfg), "via-env")
}

// rclone's and s3cmd's --write produce what the printed form shows, into
// the file the client reads, keeping what else is there. (The CI smoke
// script runs rclone and s3cmd on these files.)
func TestConfigureWriteClientFiles(t *testing.T) {
	dir := t.TempDir()
	rcloneConf, s3cfg := filepath.Join(dir, "rclone.conf"), filepath.Join(dir, "s3cfg")
	env := map[string]string{"RCLONE_CONFIG": rcloneConf, "S3CMD_CONFIG": s3cfg, "HOME": filepath.Join(dir, "home")}
	const other = "# my remotes\n[gdrive]\ntype = drive\n"
	os.WriteFile(rcloneConf, []byte(other), 0o644)
	os.WriteFile(s3cfg, []byte("[default]\ngpg_passphrase = keep\nhost_base = s3.amazonaws.com\n"), 0o644)
	args := []string{"buckets", "keys", "configure", "EXCAAAAAAAAAAAAAAAAA", "--profile", "exc", "--endpoint", "https://s3.example.com:8443"}
	const secret = "abcdefghijABCDEFGHIJ0123456789+/abcdefgh"

	printed := exc(t, env, secret+"\n", append(args, "--format", "rclone")...)
	wantRclone := "[exc]\ntype = s3\nprovider = Other\naccess_key_id = EXCAAAAAAAAAAAAAAAAA\nsecret_access_key = " + secret +
		"\nendpoint = https://s3.example.com:8443\nregion = auto\nforce_path_style = true\n"
	if printed.code != 0 || printed.stdout != wantRclone {
		t.Fatalf("rclone printed:\n%s\nwant\n%s\n%s", printed.stdout, wantRclone, printed.stderr)
	}
	for i := 0; i < 2; i++ { // twice: the second run changes nothing
		r := exc(t, env, secret+"\n", append(args, "--format", "rclone", "--write")...)
		if r.code != 0 || r.stdout != "rclone remote exc written to "+rcloneConf+"\ntry: rclone lsd exc:\n" {
			t.Fatalf("rclone --write: %+v", r)
		}
		if got, _ := os.ReadFile(rcloneConf); string(got) != other+"\n"+wantRclone {
			t.Fatalf("rclone.conf:\n%s", got)
		}
	}

	printed = exc(t, env, secret+"\n", append(args, "--format", "s3cmd")...)
	wantS3cmd := "[default]\naccess_key = EXCAAAAAAAAAAAAAAAAA\nsecret_key = " + secret + "\nhost_base = s3.example.com:8443\n" +
		"host_bucket = s3.example.com:8443\nbucket_location = auto\nuse_https = True\nsignature_v2 = False\n"
	if printed.code != 0 || printed.stdout != wantS3cmd {
		t.Fatalf("s3cmd printed:\n%s\nwant\n%s", printed.stdout, wantS3cmd)
	}
	r := exc(t, env, secret+"\n", append(args, "--format", "s3cmd", "--write")...)
	if r.code != 0 || !strings.Contains(r.stdout, "s3cmd settings written to "+s3cfg) {
		t.Fatalf("s3cmd --write: %+v", r)
	}
	wantFile := "[default]\ngpg_passphrase = keep\nhost_base = s3.example.com:8443\naccess_key = EXCAAAAAAAAAAAAAAAAA\nsecret_key = " + secret +
		"\nhost_bucket = s3.example.com:8443\nbucket_location = auto\nuse_https = True\nsignature_v2 = False\n"
	if got, _ := os.ReadFile(s3cfg); string(got) != wantFile {
		t.Fatalf(".s3cfg:\n%s\nwant\n%s", got, wantFile)
	}
	for _, f := range []string{rcloneConf, s3cfg} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s holds a secret: mode %v %v", f, fi.Mode(), err)
		}
	}

	for _, tt := range []struct {
		name string
		args []string
		err  string
	}{
		{"unknown format", []string{"EXCA", "--format", "cyberduck"}, `"cyberduck" is not one of aws, rclone`},
		{"rclone needs a remote name", []string{"EXCA", "--format", "rclone"}, "--profile NAME is required"},
		{"env has no file", []string{"EXCA", "--format", "env", "--write"}, "no config file to --write"},
		{"endpoint with a path", []string{"EXCA", "--format", "s3cmd", "--endpoint", "http://h/s3"}, "only scheme://host[:port]"},
	} {
		r := exc(t, env, "s\n", append([]string{"buckets", "keys", "configure"}, tt.args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.err) {
			t.Errorf("%s: %+v", tt.name, r)
		}
	}
}

// The closing hint follows the aws CLI found on PATH: the profile form
// only for one that reads endpoint_url from a profile.
func TestConfigureHintFollowsAWSCLIVersion(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials")}
	// An `aws` that prints what the real one prints for --version (the real
	// CLIs are run by the CI smoke script).
	fakeAWS := func(version string) string {
		bin := t.TempDir()
		os.WriteFile(filepath.Join(bin, "aws"), []byte("#!/bin/sh\necho '"+version+"'\n"), 0o755)
		return bin
	}
	for _, tt := range []struct {
		name, path, want string
	}{
		{"no aws on PATH", filepath.Join(dir, "empty"),
			"try: aws --profile p --endpoint-url http://127.0.0.1:9000 s3 ls\n(aws CLI version unknown; before 2.13 it ignores endpoint_url in a profile)\n"},
		{"Debian 12's 2.9", fakeAWS("aws-cli/2.9.19 Python/3.11.2 Linux/6.1.0 source/x86_64.debian.12 prompt/off"),
			"try: aws --profile p --endpoint-url http://127.0.0.1:9000 s3 ls\n(aws-cli/2.9.19 ignores endpoint_url in a profile (2.13 and later read it))\n"},
		{"2.13", fakeAWS("aws-cli/2.13.0 Python/3.11.4 Linux/6.1.0 exe/x86_64.debian.12 prompt/off"),
			"try: aws --profile p s3 ls\n"},
		{"v1 1.45", fakeAWS("aws-cli/1.45.11 Python/3.11.7 Linux/6.1.0 botocore/1.43.11"),
			"try: aws --profile p s3 ls\n"},
	} {
		env["PATH"] = tt.path
		r := exc(t, env, "s\n", "buckets", "keys", "configure", "EXCAAAAAAAAAAAAAAAAA", "--profile", "p")
		if r.code != 0 || !strings.HasSuffix(r.stdout, tt.want) {
			t.Errorf("%s: %+v\nwant suffix %q", tt.name, r, tt.want)
		}
	}
}
