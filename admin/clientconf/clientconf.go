// Package clientconf renders an access key as the configuration each S3
// client wants — rclone, s3cmd, environment variables, boto3 — and writes it
// into the client's own config file where it has one. The aws CLI's files
// are written by package awsprofile; this package adds the hint that works
// with the aws CLI actually installed (see awscli.go).
//
// What every client needs from excd is the same: the endpoint, any region
// (excd accepts every region in a signature; "auto" says so), and path-style
// addressing, since excd serves buckets as /bucket/key.
package clientconf

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"excloud.dev/buckets/admin/awsprofile"
	"excloud.dev/buckets/admin/inifile"
)

// Formats are the --format values, the aws CLI's first.
var Formats = []string{"aws", "rclone", "s3cmd", "env", "boto3"}

// Key is what a client needs to reach excd. Name is the aws profile or the
// rclone remote; the other formats have no name.
type Key struct {
	Name            string
	AccessKeyID     string
	SecretAccessKey string
	Endpoint        string // http(s)://host[:port]
}

// Validate rejects values that would break out of a line, a quoted string or
// a section in the rendered file, and endpoints a client cannot use.
func (k Key) Validate() error {
	name := k.Name
	if name == "" {
		name = "x" // unnamed formats
	}
	if err := (awsprofile.Profile{Name: name, AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey, Endpoint: k.Endpoint}).Validate(); err != nil {
		return err
	}
	u, err := url.Parse(k.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("endpoint %q is not an http(s) URL", k.Endpoint)
	}
	// s3cmd has no notion of a path prefix, and excd serves at the root.
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("endpoint %q: only scheme://host[:port] is meaningful", k.Endpoint)
	}
	return nil
}

// Rclone is the remote section for rclone.conf. rclone's "Other" provider
// signs with SigV4 and lists with ListObjects V1 by default; excd's V1
// listing pages with markers as rclone 1.60 expects (checked with rclone
// 1.60.1 over 1,200 keys), so no list_version is forced.
func Rclone(k Key) string {
	return "[" + k.Name + "]\n" + rcloneBody(k)
}

func rcloneBody(k Key) string {
	return "type = s3\n" +
		"provider = Other\n" +
		"access_key_id = " + k.AccessKeyID + "\n" +
		"secret_access_key = " + k.SecretAccessKey + "\n" +
		"endpoint = " + strings.TrimSuffix(k.Endpoint, "/") + "\n" +
		"region = auto\n" +
		"force_path_style = true\n"
}

// s3cmdSettings are the [default] settings s3cmd needs. host_bucket without
// "%(bucket)s" is what makes s3cmd use path style; without bucket_location
// s3cmd signs for us-east-1, which excd accepts, but "auto" keeps it from
// naming a real AWS region in a bucket creation.
func s3cmdSettings(k Key) [][2]string {
	u, _ := url.Parse(k.Endpoint) // Validate checked it
	https := "False"
	if u.Scheme == "https" {
		https = "True"
	}
	return [][2]string{
		{"access_key", k.AccessKeyID},
		{"secret_key", k.SecretAccessKey},
		{"host_base", u.Host},
		{"host_bucket", u.Host},
		{"bucket_location", "auto"},
		{"use_https", https},
		{"signature_v2", "False"},
	}
}

// S3cmd is a whole .s3cfg for the key.
func S3cmd(k Key) string {
	var b strings.Builder
	b.WriteString("[default]\n")
	for _, kv := range s3cmdSettings(k) {
		b.WriteString(kv[0] + " = " + kv[1] + "\n")
	}
	return b.String()
}

// Env is shell exports. AWS_REGION is what the SDKs read, AWS_DEFAULT_REGION
// what the aws CLI v1 and 2.9 read; AWS_ENDPOINT_URL is honoured by the aws
// CLI from 2.13 (1.29) and current SDKs. No variable selects path style;
// clients use it by themselves for an IP endpoint like 127.0.0.1.
func Env(k Key) string {
	var b strings.Builder
	for _, kv := range [][2]string{
		{"AWS_ACCESS_KEY_ID", k.AccessKeyID},
		{"AWS_SECRET_ACCESS_KEY", k.SecretAccessKey},
		{"AWS_ENDPOINT_URL", k.Endpoint},
		{"AWS_REGION", "auto"},
		{"AWS_DEFAULT_REGION", "auto"},
	} {
		b.WriteString("export " + kv[0] + "=" + shellQuote(kv[1]) + "\n")
	}
	return b.String()
}

// Boto3 is a Python snippet that makes a client and lists the buckets.
func Boto3(k Key) string {
	return "import boto3\n" +
		"from botocore.config import Config\n\n" +
		"s3 = boto3.client(\n" +
		"    \"s3\",\n" +
		"    endpoint_url=" + strconv.Quote(k.Endpoint) + ",\n" +
		"    region_name=\"auto\",\n" +
		"    aws_access_key_id=" + strconv.Quote(k.AccessKeyID) + ",\n" +
		"    aws_secret_access_key=" + strconv.Quote(k.SecretAccessKey) + ",\n" +
		"    config=Config(s3={\"addressing_style\": \"path\"}),\n" +
		")\n" +
		"print([b[\"Name\"] for b in s3.list_buckets()[\"Buckets\"]])\n"
}

// shellQuote single-quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:/+=@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// RclonePath is the config file rclone itself uses: $RCLONE_CONFIG, else
// an existing legacy ~/.rclone.conf, else $XDG_CONFIG_HOME/rclone/rclone.conf,
// else ~/.config/rclone/rclone.conf.
func RclonePath(getenv func(string) string) (string, error) {
	if p := getenv("RCLONE_CONFIG"); p != "" {
		return p, nil
	}
	home, err := homeDir(getenv)
	if err != nil {
		return "", err
	}
	if legacy := filepath.Join(home, ".rclone.conf"); fileExists(legacy) {
		return legacy, nil
	}
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "rclone", "rclone.conf"), nil
	}
	return filepath.Join(home, ".config", "rclone", "rclone.conf"), nil
}

// S3cmdPath is the config file s3cmd reads: $S3CMD_CONFIG, else ~/.s3cfg.
func S3cmdPath(getenv func(string) string) (string, error) {
	if p := getenv("S3CMD_CONFIG"); p != "" {
		return p, nil
	}
	home, err := homeDir(getenv)
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".s3cfg"), nil
}

// WriteRclone sets remote [k.Name] in the rclone config at path; other
// remotes and comments are kept byte for byte.
func WriteRclone(path string, k Key) error {
	if err := k.Validate(); err != nil {
		return err
	}
	body := rcloneBody(k)
	return awsprofile.EditFile(path, func(old []byte) []byte { return inifile.SetSection(old, k.Name, body) }, true)
}

// WriteS3cmd sets excd's settings in the [default] section of the .s3cfg at
// path. s3cmd has one section for everything, so only the settings named
// here are replaced; the user's others (gpg, multipart sizes) stay.
func WriteS3cmd(path string, k Key) error {
	if err := k.Validate(); err != nil {
		return err
	}
	settings := s3cmdSettings(k)
	return awsprofile.EditFile(path, func(old []byte) []byte { return inifile.SetKeys(old, "default", settings) }, true)
}

func homeDir(getenv func(string) string) (string, error) {
	if h := getenv("HOME"); h != "" {
		return h, nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("locating the home directory: %w", err)
	}
	return h, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
