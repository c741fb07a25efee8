package clientconf_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"excloud.dev/buckets/admin/clientconf"
)

func TestParseAWSCLIVersion(t *testing.T) {
	for _, tt := range []struct {
		out            string
		ok, readsEPURL bool
		text           string
	}{
		{"aws-cli/2.9.19 Python/3.11.2 Linux/6.1.0 source/x86_64.debian.12 prompt/off\n", true, false, "aws-cli/2.9.19"},
		{"aws-cli/2.12.7 Python/3.11.4 Linux/6.1.0 exe/x86_64.ubuntu.22 prompt/off", true, false, "aws-cli/2.12.7"},
		{"aws-cli/2.13.0 Python/3.11.4 Linux/6.1.0 exe/x86_64.ubuntu.22 prompt/off", true, true, "aws-cli/2.13.0"},
		{"aws-cli/2.27.50 Python/3.13.4 Darwin/24.5.0 exe/arm64", true, true, "aws-cli/2.27.50"},
		{"aws-cli/1.28.9 Python/3.9.2 Linux/5.10.0 botocore/1.31.9", true, false, "aws-cli/1.28.9"},
		{"aws-cli/1.29.0 Python/3.9.2 Linux/5.10.0 botocore/1.31.0", true, true, "aws-cli/1.29.0"},
		{"aws-cli/1.45.11 Python/3.11.7 Linux/6.18.44 botocore/1.43.11", true, true, "aws-cli/1.45.11"},
		{"aws-cli/3.0 Python/3.14", true, true, "aws-cli/3.0"},
		{"pyenv: aws: command not found", false, false, ""},
		{"", false, false, ""},
		{"my-aws-cli/2.20.0", false, false, ""},
	} {
		v, ok := clientconf.ParseAWSCLIVersion(tt.out)
		if ok != tt.ok || v.ReadsEndpointURL() != tt.readsEPURL || v.Text != tt.text {
			t.Errorf("%q: %+v %v, reads endpoint_url %v", tt.out, v, ok, v.ReadsEndpointURL())
		}
	}
}

func TestAWSHint(t *testing.T) {
	v29, _ := clientconf.ParseAWSCLIVersion("aws-cli/2.9.19 Python/3.11.2")
	v213, _ := clientconf.ParseAWSCLIVersion("aws-cli/2.13.0 Python/3.11.4")
	for _, tt := range []struct {
		name string
		v    clientconf.AWSCLIVersion
		want string
	}{
		{"unknown", clientconf.AWSCLIVersion{}, "try: aws --profile p --endpoint-url https://s3.example.com s3 ls\n" +
			"(aws CLI version unknown; before 2.13 it ignores endpoint_url in a profile)\n"},
		{"2.9", v29, "try: aws --profile p --endpoint-url https://s3.example.com s3 ls\n" +
			"(aws-cli/2.9.19 ignores endpoint_url in a profile (2.13 and later read it))\n"},
		{"2.13", v213, "try: aws --profile p s3 ls\n"},
	} {
		if got := clientconf.AWSHint("p", "https://s3.example.com", tt.v); got != tt.want {
			t.Errorf("%s:\ngot  %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

var key = clientconf.Key{Name: "exc", AccessKeyID: "EXCAAAAAAAAAAAAAAAAA", SecretAccessKey: "se+cr/et=", Endpoint: "http://127.0.0.1:9000"}

func TestFormats(t *testing.T) {
	for _, tt := range []struct {
		name string
		f    func(clientconf.Key) string
		k    clientconf.Key
		want string
	}{
		{"rclone", clientconf.Rclone, key, "[exc]\ntype = s3\nprovider = Other\naccess_key_id = EXCAAAAAAAAAAAAAAAAA\n" +
			"secret_access_key = se+cr/et=\nendpoint = http://127.0.0.1:9000\nregion = auto\nforce_path_style = true\n"},
		{"rclone, trailing slash", clientconf.Rclone, clientconf.Key{Name: "r", AccessKeyID: "A", SecretAccessKey: "S", Endpoint: "https://h/"},
			"[r]\ntype = s3\nprovider = Other\naccess_key_id = A\nsecret_access_key = S\nendpoint = https://h\nregion = auto\nforce_path_style = true\n"},
		{"s3cmd http", clientconf.S3cmd, key, "[default]\naccess_key = EXCAAAAAAAAAAAAAAAAA\nsecret_key = se+cr/et=\n" +
			"host_base = 127.0.0.1:9000\nhost_bucket = 127.0.0.1:9000\nbucket_location = auto\nuse_https = False\nsignature_v2 = False\n"},
		{"s3cmd https, default port", clientconf.S3cmd, clientconf.Key{AccessKeyID: "A", SecretAccessKey: "S", Endpoint: "https://s3.example.com"},
			"[default]\naccess_key = A\nsecret_key = S\nhost_base = s3.example.com\nhost_bucket = s3.example.com\n" +
				"bucket_location = auto\nuse_https = True\nsignature_v2 = False\n"},
		{"env", clientconf.Env, key, "export AWS_ACCESS_KEY_ID=EXCAAAAAAAAAAAAAAAAA\nexport AWS_SECRET_ACCESS_KEY=se+cr/et=\n" +
			"export AWS_ENDPOINT_URL=http://127.0.0.1:9000\nexport AWS_REGION=auto\nexport AWS_DEFAULT_REGION=auto\n"},
		{"env quotes", clientconf.Env, clientconf.Key{AccessKeyID: "A", SecretAccessKey: `it's$x"`, Endpoint: "http://h"},
			"export AWS_ACCESS_KEY_ID=A\nexport AWS_SECRET_ACCESS_KEY='it'\\''s$x\"'\nexport AWS_ENDPOINT_URL=http://h\n" +
				"export AWS_REGION=auto\nexport AWS_DEFAULT_REGION=auto\n"},
		{"boto3", clientconf.Boto3, clientconf.Key{AccessKeyID: "A", SecretAccessKey: `q"\`, Endpoint: "http://h:1"},
			"import boto3\nfrom botocore.config import Config\n\ns3 = boto3.client(\n    \"s3\",\n    endpoint_url=\"http://h:1\",\n" +
				"    region_name=\"auto\",\n    aws_access_key_id=\"A\",\n    aws_secret_access_key=\"q\\\"\\\\\",\n" +
				"    config=Config(s3={\"addressing_style\": \"path\"}),\n)\nprint([b[\"Name\"] for b in s3.list_buckets()[\"Buckets\"]])\n"},
	} {
		if got := tt.f(tt.k); got != tt.want {
			t.Errorf("%s:\ngot\n%s\nwant\n%s", tt.name, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(*clientconf.Key)
		err  string
	}{
		{"ok", func(*clientconf.Key) {}, ""},
		{"unnamed ok", func(k *clientconf.Key) { k.Name = "" }, ""},
		{"name with bracket", func(k *clientconf.Key) { k.Name = "a]b" }, "profile name"},
		{"secret with newline", func(k *clientconf.Key) { k.SecretAccessKey = "a\n[x]" }, "secret access key"},
		{"ftp", func(k *clientconf.Key) { k.Endpoint = "ftp://h" }, "not an http(s) URL"},
		{"path", func(k *clientconf.Key) { k.Endpoint = "http://h/s3" }, "only scheme://host[:port]"},
		{"user", func(k *clientconf.Key) { k.Endpoint = "http://u:p@h" }, "only scheme://host[:port]"},
	} {
		k := key
		tt.edit(&k)
		err := k.Validate()
		if (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

func TestPaths(t *testing.T) {
	home := t.TempDir()
	env := map[string]string{"HOME": home}
	getenv := func(k string) string { return env[k] }
	check := func(what string, f func(func(string) string) (string, error), want string) {
		t.Helper()
		if got, err := f(getenv); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", what, got, err, want)
		}
	}
	check("rclone default", clientconf.RclonePath, filepath.Join(home, ".config", "rclone", "rclone.conf"))
	check("s3cmd default", clientconf.S3cmdPath, filepath.Join(home, ".s3cfg"))
	env["XDG_CONFIG_HOME"] = "/xdg"
	check("rclone XDG", clientconf.RclonePath, "/xdg/rclone/rclone.conf")
	os.WriteFile(filepath.Join(home, ".rclone.conf"), nil, 0o600)
	check("rclone legacy file", clientconf.RclonePath, filepath.Join(home, ".rclone.conf"))
	env["RCLONE_CONFIG"], env["S3CMD_CONFIG"] = "/r.conf", "/s.cfg"
	check("rclone env", clientconf.RclonePath, "/r.conf")
	check("s3cmd env", clientconf.S3cmdPath, "/s.cfg")
}
