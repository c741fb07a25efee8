package fsmount_test

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
	"golang.org/x/sys/unix"

	"excloud.dev/buckets/fsmount"
	"excloud.dev/buckets/internal/testutil"
)

// nobody is the local user the owner model keeps out: root passes every
// permission check, so only another user shows what the kernel allows.
var nobody = &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}

func umask(u uint32) *uint32 { return &u }

// newSharedEnv is newEnvOpts with the mount point reachable by other users
// (t.TempDir's directories are 0700), so that only the mount decides.
func newSharedEnv(t *testing.T, opts fsmount.Options) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run commands as another user")
	}
	e := newEnvOpts(t, nil, opts)
	for d := filepath.Dir(e.mnt); d != filepath.Clean(os.TempDir()) && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// asNobody runs a shell command as nobody; nil when it succeeds, else an
// error holding its output.
func asNobody(script string, args ...string) error {
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, "sh"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: nobody}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Each access of nobody's: what a local user who is not the owner can do.
func canRead(p string) error   { return asNobody(`cat "$1" >/dev/null`, p) }
func canWrite(p string) error  { return asNobody(`echo more >>"$1"`, p) }
func canList(p string) error   { return asNobody(`ls "$1" >/dev/null`, p) }
func canCreate(p string) error { return asNobody(`echo new >"$1"`, p) }

func wantDenied(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), "Permission denied") {
		t.Errorf("nobody %s: %v, want Permission denied", what, err)
	}
}

func wantAllowed(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("nobody %s: %v, want allowed", what, err)
	}
}

func statOf(t *testing.T, p string) (perm uint32, uid, gid uint32) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatalf("stat %s: %v", p, err)
	}
	return st.Mode & 0o7777, st.Uid, st.Gid
}

func wantStat(t *testing.T, p string, perm, uid, gid uint32) {
	t.Helper()
	if gp, gu, gg := statOf(t, p); gp != perm || gu != uid || gg != gid {
		t.Errorf("%s: mode %04o uid %d gid %d, want %04o %d %d", filepath.Base(p), gp, gu, gg, perm, uid, gid)
	}
}

// Mode 0000 is reported as stored, and keeps other users out: go-fuse
// would report it as 0644 (issue 13). Owner uid 0 is reported as 0 too,
// not as the mount's default owner.
func TestModeZero(t *testing.T) {
	e := newSharedEnv(t, fsmount.Options{AllowOther: true, Umask: umask(0o022), UID: 1000, GID: 1000})
	p := e.p("f")
	if err := os.WriteFile(p, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantAllowed(t, "reads a 0644 file", canRead(p))
	if err := os.Chmod(p, 0); err != nil {
		t.Fatal(err)
	}
	wantStat(t, p, 0, 0, 0)
	if got := e.head(t, "f").Meta["mode"]; got != fmt.Sprint(syscall.S_IFREG) {
		t.Errorf("stored mode %q, want %d", got, syscall.S_IFREG)
	}
	wantDenied(t, "reads a 0000 file", canRead(p))
	wantDenied(t, "writes a 0000 file", canWrite(p))

	d := e.p("d")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0); err != nil {
		t.Fatal(err)
	}
	wantStat(t, d, 0, 0, 0)
	wantDenied(t, "lists a 0000 directory", canList(d))
}

// Objects uploaded over S3 carry no attributes: by default they are the
// owner's alone (0600 files, 0700 directories), and so are the buckets and
// the mount root, even with allow_other.
func TestOwnerDefaults(t *testing.T) {
	e := newSharedEnv(t, fsmount.Options{AllowOther: true})
	e.put(t, "s3file", "secret")
	e.put(t, "s3dir/z", "secret")
	wantStat(t, e.p("s3file"), 0o600, 0, 0)
	wantStat(t, e.p("s3dir"), 0o700, 0, 0)
	wantStat(t, e.bdir, 0o700, 0, 0)
	wantStat(t, e.mnt, 0o700, 0, 0)
	wantDenied(t, "lists the mount", canList(e.mnt))
	wantDenied(t, "lists a bucket", canList(e.bdir))
	wantDenied(t, "reads an S3 object", canRead(e.p("s3file")))
	// No stored mode grants privileges: setuid bits and devices are inert.
	if opts := mountOptions(t, e.mnt); !strings.Contains(","+opts+",", ",nosuid,") || !strings.Contains(","+opts+",", ",nodev,") {
		t.Errorf("mount options %q, want nosuid and nodev", opts)
	}
}

// mountOptions returns the per-mount options of the mount at dir.
func mountOptions(t *testing.T, dir string) string {
	t.Helper()
	opts := testutil.MountsAt(t, dir)
	if len(opts) == 0 {
		t.Fatalf("%s is not mounted", dir)
	}
	return opts[len(opts)-1]
}

// The owner and umask options decide what other users may do with objects
// that carry no attributes.
func TestOwnerOptions(t *testing.T) {
	t.Run("owner", func(t *testing.T) {
		e := newSharedEnv(t, fsmount.Options{AllowOther: true, UID: 65534, GID: 65534})
		e.put(t, "s3file", "data")
		wantStat(t, e.p("s3file"), 0o600, 65534, 65534)
		wantAllowed(t, "reads its object", canRead(e.p("s3file")))
		wantAllowed(t, "writes its object", canWrite(e.p("s3file")))
		wantAllowed(t, "creates a file", canCreate(e.p("new")))
		// Created by nobody, so owned by nobody, with its mode.
		wantStat(t, e.p("new"), 0o644, 65534, 65534)
		if m := e.head(t, "s3file"); m.Size != int64(len("datamore\n")) {
			t.Errorf("object after nobody's append: %d bytes", m.Size)
		}
	})
	t.Run("umask", func(t *testing.T) {
		e := newSharedEnv(t, fsmount.Options{AllowOther: true, Umask: umask(0o022)})
		e.put(t, "s3file", "data")
		wantStat(t, e.p("s3file"), 0o644, 0, 0)
		wantStat(t, e.bdir, 0o755, 0, 0)
		wantAllowed(t, "reads", canRead(e.p("s3file")))
		wantDenied(t, "writes", canWrite(e.p("s3file")))
		wantDenied(t, "creates", canCreate(e.p("new")))
		if m := e.head(t, "s3file"); m.Size != 4 {
			t.Errorf("object changed by a denied write: %d bytes", m.Size)
		}
	})
}

// Mode and owner metadata written by an S3 client do not change what
// local users may do, unless the mount trusts S3 attributes; the ones
// written through the mount do.
func TestS3AttributesNotTrusted(t *testing.T) {
	// Directories 0711: reachable, so only the files' modes decide.
	e := newSharedEnv(t, fsmount.Options{AllowOther: true, Umask: umask(0o066)})
	ctx := context.Background()
	put := func(key string, meta map[string]string) {
		t.Helper()
		if _, err := e.s3.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String("b"), Key: aws.String(key), Body: strings.NewReader("secret"), Metadata: meta,
		}); err != nil {
			t.Fatal(err)
		}
	}
	granted := map[string]string{"mode": fmt.Sprint(syscall.S_IFREG | 0o666), "uid": "65534", "gid": "65534"}
	put("granted", granted)
	wantStat(t, e.p("granted"), 0o600, 0, 0)
	wantDenied(t, "reads an object S3 made 0666", canRead(e.p("granted")))
	wantDenied(t, "writes an object S3 gave to nobody", canWrite(e.p("granted")))

	// Through the mount, attributes are honoured.
	mine := e.p("mine")
	if err := os.WriteFile(mine, []byte("public"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(mine, 0o644); err != nil {
		t.Fatal(err)
	}
	wantAllowed(t, "reads a file chmod'ed 0644 in the mount", canRead(mine))
	seal := e.head(t, "mine").Meta["exc-attrs"]
	if seal == "" {
		t.Fatalf("mount-written attributes carry no seal: %v", e.head(t, "mine").Meta)
	}
	// A seal belongs to the values it was made for.
	forged := map[string]string{"exc-attrs": seal}
	for k, v := range granted {
		forged[k] = v
	}
	put("forged", forged)
	wantStat(t, e.p("forged"), 0o600, 0, 0)
	wantDenied(t, "reads an object with a borrowed seal", canRead(e.p("forged")))
	// It is not an xattr either.
	if err := unix.Setxattr(mine, "user.exc-attrs", []byte(seal), 0); err != syscall.EPERM {
		t.Errorf("setxattr user.exc-attrs: %v, want EPERM", err)
	}

	// chmod of an S3 object seals what the mount showed (owner root), not
	// the uid the S3 client wrote.
	if err := os.Chmod(e.p("granted"), 0o640); err != nil {
		t.Fatal(err)
	}
	wantStat(t, e.p("granted"), 0o640, 0, 0)
	if m := e.head(t, "granted").Meta; m["uid"] != "0" || m["gid"] != "0" {
		t.Errorf("metadata after chmod: %v", m)
	}

	// A mount that trusts S3 attributes shows them.
	put("granted", granted)
	trusting := filepath.Join(filepath.Dir(e.mnt), "trusting")
	if err := os.Mkdir(trusting, 0o755); err != nil {
		t.Fatal(err)
	}
	srv, err := fsmount.Mount(ctx, trusting, e.d.Layer(), e.d.Catalog(), e.org, fsmount.Options{
		AllowOther: true, TrustS3Attrs: true, Umask: umask(0o066), DataDir: e.dataD, Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Unmount() })
	wantStat(t, filepath.Join(trusting, "b", "granted"), 0o666, 65534, 65534)
	wantAllowed(t, "reads through a trusting mount", canRead(filepath.Join(trusting, "b", "granted")))
	wantStat(t, e.p("granted"), 0o600, 0, 0)
}

// A seal holds for mounts with the same key (excd derives it from the
// master key, so across restarts) and for no other.
func TestAttributesNeedTheKey(t *testing.T) {
	k1, k2 := []byte("key one, thirty-two bytes long.."), []byte("key two, thirty-two bytes long..")
	e := newEnvOpts(t, nil, fsmount.Options{AttrKey: k1})
	p := e.p("f")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 1234, 5678); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Unmount(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key            []byte
		perm, uid, gid uint32
	}{{k1, 0o644, 1234, 5678}, {k2, 0o600, 0, 0}} {
		srv, err := fsmount.Mount(context.Background(), e.mnt, e.d.Layer(), e.d.Catalog(), e.org, fsmount.Options{
			AttrKey: tc.key, DataDir: e.dataD, Logger: quiet(),
		})
		if err != nil {
			t.Fatal(err)
		}
		wantStat(t, p, tc.perm, tc.uid, tc.gid)
		if err := srv.Unmount(); err != nil {
			t.Fatal(err)
		}
	}
}
