package daemon_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/internal/config"
	"excloud.dev/buckets/internal/daemon"
)

// asNobody runs a shell command as nobody (root passes every permission
// check); nil when it succeeds, else an error holding its output.
func asNobody(script string, args ...string) error {
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, "sh"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Each rule of the owner model as a local user other than the daemon's
// meets it, through mounts configured as excd's config would: the mount
// options in the mounts entries, over defaults from MountOptions.
func TestMountOwnerModel(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and /dev/fuse")
	}
	// Mount points other users can reach: t.TempDir's are private.
	pub, err := os.MkdirTemp("", "excd-owner-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pub) })
	if err := os.Chmod(pub, 0o755); err != nil {
		t.Fatal(err)
	}
	at := func(name string) string { return filepath.Join(pub, name) }
	for _, name := range []string{"private", "owned", "shared", "strict", "trusting"} {
		t.Cleanup(func() { syscall.Unmount(at(name), syscall.MNT_DETACH) })
	}
	defaults := config.DefaultMountOptions()
	defaults.Umask = 0o066 // directories 0711: only the files' modes decide
	d := startWith(t, daemon.Config{DataDir: t.TempDir(), AdminSocket: "-", MountOptions: &defaults, Mounts: []string{
		at("private") + ":umask=077",
		at("owned") + ":uid=nobody:gid=nogroup:allow_other",
		at("shared") + ":umask=022:allow_other",
		at("strict") + ":allow_other",
		at("trusting") + ":allow_other:trust_s3_attrs",
	}})
	ctx := context.Background()
	c := awsClient(d, testSK)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	put := func(key string, meta map[string]string) {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key),
			Body: strings.NewReader("secret"), Metadata: meta}); err != nil {
			t.Fatal(err)
		}
	}
	put("plain", nil)
	put("granted", map[string]string{"mode": fmt.Sprint(syscall.S_IFREG | 0o666), "uid": "65534", "gid": "65534"})

	read := func(p string) error { return asNobody(`cat "$1" >/dev/null`, p) }
	write := func(p string) error { return asNobody(`echo more >>"$1"`, p) }
	denied := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "Permission denied") {
			t.Errorf("nobody %s: %v, want Permission denied", what, err)
		}
	}
	allowed := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("nobody %s: %v, want allowed", what, err)
		}
	}

	// allow_other is off unless asked for: even the mount root is closed.
	denied("stats the root of a mount without allow_other", asNobody(`stat "$1"`, at("private")))
	denied("reads through a mount without allow_other", read(at("private/bkt/plain")))
	// The owner options: nobody owns what carries no attributes.
	allowed("reads an object of a mount it owns", read(at("owned/bkt/plain")))
	allowed("writes an object of a mount it owns", write(at("owned/bkt/plain")))
	// The umask: others read, do not write.
	allowed("reads with umask 022", read(at("shared/bkt/granted")))
	denied("writes with umask 022", write(at("shared/bkt/granted")))
	// S3 clients' attributes grant nothing unless trusted.
	denied("reads an object S3 made 0666", read(at("strict/bkt/granted")))
	denied("writes an object S3 gave to nobody", write(at("strict/bkt/granted")))
	allowed("reads an object S3 made 0666 where S3 attributes are trusted", read(at("trusting/bkt/granted")))
	allowed("writes an object S3 gave to nobody where S3 attributes are trusted", write(at("trusting/bkt/granted")))
}
