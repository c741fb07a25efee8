package awsprofile_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"excloud.dev/buckets/admin/awsprofile"
)

const existingConfig = `# my aws config; keep this comment
[default]
region = eu-west-1
output = json

# the work account
[profile work]
region = us-east-1
s3 =
    max_concurrent_requests = 20

[profile excd]
region = somewhere-old
endpoint_url = http://old:9000
; trailing comment that introduces the next one
[profile last]
region = ap-south-1`

const existingCreds = `[default]
aws_access_key_id = AKIADEFAULT
aws_secret_access_key = defaultsecret
# comment between
[work]
aws_access_key_id = AKIAWORK
aws_secret_access_key = worksecret
`

func TestWriteKeepsOtherProfiles(t *testing.T) {
	dir := t.TempDir()
	cfg, creds := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	if err := os.WriteFile(cfg, []byte(existingConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(creds, []byte(existingCreds), 0o640); err != nil {
		t.Fatal(err)
	}
	p := awsprofile.Profile{Name: "excd", AccessKeyID: "EXCAAAAAAAAAAAAAAAAA", SecretAccessKey: "s3cr3t/+x", Endpoint: "http://127.0.0.1:9000"}
	for i := 0; i < 2; i++ { // the second run must change nothing
		if err := awsprofile.Write(cfg, creds, p); err != nil {
			t.Fatal(err)
		}
		gotCfg, _ := os.ReadFile(cfg)
		wantCfg := strings.Replace(existingConfig,
			"[profile excd]\nregion = somewhere-old\nendpoint_url = http://old:9000\n",
			"[profile excd]\nregion = auto\nendpoint_url = http://127.0.0.1:9000\ns3 =\n    addressing_style = path\n", 1)
		if string(gotCfg) != wantCfg {
			t.Fatalf("run %d: config:\n%s\nwant:\n%s", i, gotCfg, wantCfg)
		}
		gotCreds, _ := os.ReadFile(creds)
		wantCreds := existingCreds + "\n[excd]\naws_access_key_id = EXCAAAAAAAAAAAAAAAAA\naws_secret_access_key = s3cr3t/+x\n"
		if string(gotCreds) != wantCreds {
			t.Fatalf("run %d: credentials:\n%s\nwant:\n%s", i, gotCreds, wantCreds)
		}
	}
	// The config keeps its mode; the credentials lose group access.
	if fi, _ := os.Stat(cfg); fi.Mode().Perm() != 0o644 {
		t.Errorf("config mode = %v", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(creds); fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials mode = %v", fi.Mode().Perm())
	}
	// A changed key replaces the section in place.
	p.AccessKeyID, p.SecretAccessKey = "EXCBBBBBBBBBBBBBBBBB", "other"
	if err := awsprofile.Write(cfg, creds, p); err != nil {
		t.Fatal(err)
	}
	gotCreds, _ := os.ReadFile(creds)
	if !strings.HasPrefix(string(gotCreds), existingCreds) || strings.Count(string(gotCreds), "[excd]") != 1 ||
		!strings.Contains(string(gotCreds), "aws_secret_access_key = other\n") || strings.Contains(string(gotCreds), "s3cr3t") {
		t.Fatalf("credentials after key change:\n%s", gotCreds)
	}
}

func TestWriteCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".aws")
	cfg, creds := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	p := awsprofile.Profile{Name: "default", AccessKeyID: "EXCAAAAAAAAAAAAAAAAA", SecretAccessKey: "s", Endpoint: "https://s3.example"}
	if err := awsprofile.Write(cfg, creds, p); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode = %v", fi.Mode().Perm())
	}
	for _, f := range []string{cfg, creds} {
		if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v", f, fi.Mode().Perm())
		}
	}
	// The default profile's config section is [default], not [profile default].
	if b, _ := os.ReadFile(cfg); !strings.HasPrefix(string(b), "[default]\nregion = auto\n") {
		t.Errorf("config:\n%s", b)
	}
}

func TestWriteFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "dotfiles-credentials")
	if err := os.WriteFile(real, []byte(existingCreds), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "credentials")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	p := awsprofile.Profile{Name: "x", AccessKeyID: "EXCAAAAAAAAAAAAAAAAA", SecretAccessKey: "s", Endpoint: "http://h"}
	if err := awsprofile.Write(filepath.Join(dir, "config"), link, p); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode().Type() != os.ModeSymlink {
		t.Fatalf("symlink replaced: %v %v", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(real); !strings.Contains(string(b), "[x]\n") {
		t.Fatalf("target not edited:\n%s", b)
	}
}

func TestValidateRefusesInjection(t *testing.T) {
	for _, p := range []awsprofile.Profile{
		{Name: "a]\n[evil", AccessKeyID: "EXC", SecretAccessKey: "s", Endpoint: "http://h"},
		{Name: "a", AccessKeyID: "EXC", SecretAccessKey: "s\nregion = x", Endpoint: "http://h"},
		{Name: "a", AccessKeyID: "", SecretAccessKey: "s", Endpoint: "http://h"},
		{Name: "", AccessKeyID: "EXC", SecretAccessKey: "s", Endpoint: "http://h"},
	} {
		if err := p.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", p)
		}
	}
}

func TestPaths(t *testing.T) {
	env := map[string]string{"HOME": "/home/u"}
	cfg, creds, err := awsprofile.Paths(func(k string) string { return env[k] })
	if err != nil || cfg != "/home/u/.aws/config" || creds != "/home/u/.aws/credentials" {
		t.Fatalf("defaults: %s %s %v", cfg, creds, err)
	}
	env["AWS_CONFIG_FILE"], env["AWS_SHARED_CREDENTIALS_FILE"] = "/c", "/k"
	cfg, creds, err = awsprofile.Paths(func(k string) string { return env[k] })
	if err != nil || cfg != "/c" || creds != "/k" {
		t.Fatalf("from env: %s %s %v", cfg, creds, err)
	}
}
