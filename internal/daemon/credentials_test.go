package daemon_test

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/internal/daemon"
	"excloud.dev/buckets/internal/testutil"
)

// logBuffer collects a daemon's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startLogged starts a daemon on dir, seeded with ak/sk unless empty, and
// returns it with its log.
func startLogged(t *testing.T, dir, ak, sk string) (*daemon.Daemon, *logBuffer) {
	t.Helper()
	lb := &logBuffer{}
	d, err := daemon.Start(daemon.Config{DataDir: dir, Listen: "127.0.0.1:0", GCInterval: -1,
		RootAccessKey: ak, RootSecretKey: sk, Logger: slog.New(slog.NewTextHandler(lb, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, lb
}

// filesHolding lists the files under dir whose bytes contain secret.
func filesHolding(t *testing.T, dir, secret string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(secret)) {
			found = append(found, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// A seeded root secret is the operator's already: excd never writes it into
// the data directory, so a copy of the directory holds no working secret.
func TestSeededSecretNeverInDataDir(t *testing.T) {
	dir := t.TempDir()
	d, _ := startLogged(t, dir, testAK, testSK)
	if d.CredentialsPath() != "" {
		t.Errorf("seeded first start wrote %s", d.CredentialsPath())
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, daemon.CredentialsFile)); err == nil {
		t.Errorf("a seeded first start left %s in the data directory", daemon.CredentialsFile)
	}
	if f := filesHolding(t, dir, testSK); len(f) > 0 {
		t.Errorf("the seeded secret is in plain text in %v", f)
	}
}

// A generated first key is written once, 0600, with a warning to move the
// file; every later start repeats the warning while the file is there; once
// it is moved, nothing writes the secret into the data directory again.
func TestGeneratedCredentialsWrittenOnceAndMoved(t *testing.T) {
	dir := t.TempDir()
	d, lb := startLogged(t, dir, "", "")
	path := d.CredentialsPath()
	if path != filepath.Join(dir, daemon.CredentialsFile) {
		t.Fatalf("credentials path %q", path)
	}
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode() != 0o600 {
		t.Fatalf("credentials file: %v mode %v", err, fi.Mode())
	}
	if !strings.Contains(lb.String(), "level=WARN") || !strings.Contains(lb.String(), "Move that file out of the data directory") {
		t.Errorf("first start did not warn to move the credentials file:\n%s", lb)
	}
	raw, _ := os.ReadFile(path)
	var ak, sk string
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "aws_access_key_id = "); ok {
			ak = v
		}
		if v, ok := strings.CutPrefix(line, "aws_secret_access_key = "); ok {
			sk = v
		}
	}
	if len(ak) != 20 || !strings.HasPrefix(ak, "EXC") || len(sk) != 40 {
		t.Fatalf("generated key %q / secret of %d chars", ak, len(sk))
	}
	if strings.Contains(lb.String(), sk) {
		t.Fatal("the secret was logged")
	}
	if fi, err := os.Stat(filepath.Join(dir, "master.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master key: %v", err)
	}
	c := testutil.S3("http://"+d.Addr(), ak, sk)
	if _, err := c.ListBuckets(context.Background(), &s3.ListBucketsInput{}); err != nil {
		t.Fatalf("list buckets with the generated key: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	// Not moved yet: the next start says so again, and rewrites nothing.
	d, lb = startLogged(t, dir, "", "")
	if d.CredentialsPath() != "" {
		t.Errorf("second start wrote credentials again")
	}
	if !strings.Contains(lb.String(), "still holds the first access key's secret") || !strings.Contains(lb.String(), path) {
		t.Errorf("second start did not remind that the credentials file is still there:\n%s", lb)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	// Moved away: the data directory holds no working secret, and no
	// start puts one back.
	if err := os.Rename(path, filepath.Join(t.TempDir(), "credentials")); err != nil {
		t.Fatal(err)
	}
	d, lb = startLogged(t, dir, "", "")
	if strings.Contains(lb.String(), "still holds") {
		t.Errorf("warned about a credentials file that was moved:\n%s", lb)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if f := filesHolding(t, dir, sk); len(f) > 0 {
		t.Errorf("the generated secret is in plain text in %v after the file was moved", f)
	}
}
