// Package awsprofile writes an S3 profile into the AWS CLI's shared config
// and credentials files, as `exc keys configure` does, so that
// `aws --profile NAME s3 ls` talks to excd next.
//
// Those files are the user's, full of profiles and comments exc knows
// nothing about. The edit is therefore textual and minimal: the lines of
// the one section being written are replaced (or the section appended), and
// every other byte is kept. Files are replaced atomically, so a crash never
// leaves half a credentials file.
package awsprofile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"excloud.dev/buckets/admin/inifile"
)

// Profile is what configure writes.
type Profile struct {
	Name            string
	AccessKeyID     string
	SecretAccessKey string
	Endpoint        string // e.g. http://127.0.0.1:9000
}

// Paths returns the config and credentials file paths the AWS CLI uses:
// $AWS_CONFIG_FILE and $AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/config and
// ~/.aws/credentials.
func Paths(getenv func(string) string) (config, credentials string, err error) {
	config, credentials = getenv("AWS_CONFIG_FILE"), getenv("AWS_SHARED_CREDENTIALS_FILE")
	if config == "" || credentials == "" {
		home := getenv("HOME")
		if home == "" {
			if home, err = os.UserHomeDir(); err != nil {
				return "", "", fmt.Errorf("locating ~/.aws: %w", err)
			}
		}
		if config == "" {
			config = filepath.Join(home, ".aws", "config")
		}
		if credentials == "" {
			credentials = filepath.Join(home, ".aws", "credentials")
		}
	}
	return config, credentials, nil
}

// Validate checks the fields that end up inside the INI files: a newline or
// bracket in them would corrupt the file or inject other settings.
func (p Profile) Validate() error {
	if p.Name == "" || strings.ContainsAny(p.Name, "[]#; \t\r\n") {
		return fmt.Errorf("profile name %q: must be non-empty, without spaces, brackets, '#' or ';'", p.Name)
	}
	for _, f := range []struct{ what, v string }{
		{"access key id", p.AccessKeyID}, {"secret access key", p.SecretAccessKey}, {"endpoint", p.Endpoint},
	} {
		if f.v == "" || strings.ContainsAny(f.v, " \t\r\n") {
			return fmt.Errorf("%s: must be non-empty and contain no whitespace", f.what)
		}
	}
	return nil
}

// Write sets the profile in the config file (region, endpoint_url, path-style
// addressing) and in the credentials file (the key pair), keeping every other
// section and comment byte for byte. Missing files are created 0600 in a
// directory created 0700. Writing the same profile twice changes nothing the
// second time.
func Write(configPath, credentialsPath string, p Profile) error {
	if err := p.Validate(); err != nil {
		return err
	}
	// In the config file the default profile is [default], every other one
	// [profile NAME]; the credentials file uses bare names throughout.
	header := "profile " + p.Name
	if p.Name == "default" {
		header = "default"
	}
	config := "region = auto\n" +
		"endpoint_url = " + p.Endpoint + "\n" +
		"s3 =\n" +
		"    addressing_style = path\n"
	creds := "aws_access_key_id = " + p.AccessKeyID + "\n" +
		"aws_secret_access_key = " + p.SecretAccessKey + "\n"
	// Credentials first: a profile in config without its key fails loudly
	// in the aws CLI, a key without the endpoint would talk to AWS.
	if err := EditFile(credentialsPath, setSection(p.Name, creds), true); err != nil {
		return err
	}
	return EditFile(configPath, setSection(header, config), false)
}

func setSection(header, body string) func([]byte) []byte {
	return func(old []byte) []byte { return inifile.SetSection(old, header, body) }
}

// EditFile replaces the file at path with edit(its content), atomically; a
// missing file is edited from empty. When secret is set the result is never
// readable by group or others. Other clients' config writers (rclone.conf,
// .s3cfg) use it too.
func EditFile(path string, edit func(old []byte) []byte, secret bool) error {
	// Edit the file a symlink points to (dotfile managers link ~/.aws/*),
	// rather than replace the link with a plain file.
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	old, err := os.ReadFile(path)
	mode, want := fs.FileMode(0), fs.FileMode(0o600)
	switch {
	case err == nil:
		fi, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		mode, want = fi.Mode().Perm(), fi.Mode().Perm()
		if secret {
			want &^= 0o077 // never leave a secret readable by others
		}
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
		}
	default:
		return fmt.Errorf("reading %s: %w", path, err)
	}
	updated := edit(old)
	if mode == want && bytes.Equal(updated, old) {
		return nil // already as wanted; leave the file (and its mtime) alone
	}
	mode = want
	if err := writeAtomic(path, updated, mode); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// writeAtomic writes data to a temporary file beside path and renames it
// over path, so readers see the old file or the new one, never a mix.
func writeAtomic(path string, data []byte, mode fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename this fails harmlessly
	// CreateTemp makes the file 0600; chmod only relaxes it to the mode the
	// old file had (never for credentials, see editFile).
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
