package daemon_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"excloud.dev/buckets/internal/daemon"
	"excloud.dev/buckets/internal/fsutil"
)

const nobodyUID = 65534

// victim is a file outside the data directory that an attack through it
// would write or extend; checkUntouched verifies it was not.
type victim struct {
	path string
	data []byte
}

func newVictim(t *testing.T) victim {
	t.Helper()
	v := victim{path: filepath.Join(t.TempDir(), "victim"), data: []byte("someone else's file\n")}
	if err := os.WriteFile(v.path, v.data, 0o644); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v victim) checkUntouched(t *testing.T) {
	t.Helper()
	got, err := os.ReadFile(v.path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, v.data) {
		t.Errorf("%s was changed through the data directory: %d bytes now, was %d", v.path, len(got), len(v.data))
	}
}

func chown(t *testing.T, path string, uid int) {
	t.Helper()
	if err := os.Lchown(path, uid, uid); err != nil {
		t.Fatal(err)
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string, uid int) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	chown(t, link, uid)
}

// initDataDir makes a data directory with a completed first start.
func initDataDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	d := startWith(t, daemon.Config{DataDir: dir})
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestUntrustedDataDirRefused prepares a data directory as another user
// could have, for each way found to abuse one, and checks that the start
// is refused with a message naming the path and the problem, and that the
// file the attack aimed at is untouched.
func TestUntrustedDataDirRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown files to another user")
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cases := []struct {
		name string
		// prepare returns the data directory, the config to start with,
		// the path the message must name, and the victim (if any).
		prepare func(t *testing.T) (cfg daemon.Config, path string, v *victim)
		want    string
	}{
		{"world-writable data dir, credentials symlink", func(t *testing.T) (daemon.Config, string, *victim) {
			dir := filepath.Join(t.TempDir(), "data")
			os.Mkdir(dir, 0o700)
			chmod(t, dir, 0o777)
			v := newVictim(t)
			symlink(t, v.path, filepath.Join(dir, "credentials"), nobodyUID)
			return daemon.Config{DataDir: dir}, dir, &v
		}, "mode 0777 lets other users write it"},
		{"credentials symlink left in a private data dir", func(t *testing.T) (daemon.Config, string, *victim) {
			dir := filepath.Join(t.TempDir(), "data")
			os.Mkdir(dir, 0o700)
			v := newVictim(t)
			symlink(t, v.path, filepath.Join(dir, "credentials"), nobodyUID)
			return daemon.Config{DataDir: dir}, filepath.Join(dir, "credentials"), &v
		}, "already exists"},
		{"data dir of another user", func(t *testing.T) (daemon.Config, string, *victim) {
			dir := filepath.Join(t.TempDir(), "data")
			os.Mkdir(dir, 0o700)
			chown(t, dir, nobodyUID)
			return daemon.Config{DataDir: dir}, dir, nil
		}, "belongs to uid 65534"},
		{"group-writable data dir", func(t *testing.T) (daemon.Config, string, *victim) {
			dir := initDataDir(t)
			chmod(t, dir, 0o770)
			return daemon.Config{DataDir: dir}, dir, nil
		}, "mode 0770 lets other users write it"},
		{"reserve symlink", func(t *testing.T) (daemon.Config, string, *victim) {
			dir := initDataDir(t)
			v := newVictim(t)
			os.Remove(filepath.Join(dir, "reserve"))
			symlink(t, v.path, filepath.Join(dir, "reserve"), nobodyUID)
			return daemon.Config{DataDir: dir, MinFree: 4 << 20}, filepath.Join(dir, "reserve"), &v
		}, "is a symlink"},
		{"reserve of another user", func(t *testing.T) (daemon.Config, string, *victim) {
			dir := initDataDir(t)
			p := filepath.Join(dir, "reserve")
			os.Remove(p)
			if err := os.WriteFile(p, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			chown(t, p, nobodyUID)
			return daemon.Config{DataDir: dir, MinFree: 4 << 20}, p, nil
		}, "belongs to uid 65534"},
		{"master key of another user", func(t *testing.T) (daemon.Config, string, *victim) {
			dir := filepath.Join(t.TempDir(), "data")
			os.Mkdir(dir, 0o700)
			p := filepath.Join(dir, "master.key")
			if err := os.WriteFile(p, []byte(hex.EncodeToString(bytes.Repeat([]byte{7}, 32))+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			chown(t, p, nobodyUID)
			return daemon.Config{DataDir: dir}, p, nil
		}, "belongs to uid 65534"},
		{"master key symlink", func(t *testing.T) (daemon.Config, string, *victim) {
			dir := filepath.Join(t.TempDir(), "data")
			os.Mkdir(dir, 0o700)
			key := filepath.Join(t.TempDir(), "theirs.key")
			if err := os.WriteFile(key, []byte(hex.EncodeToString(bytes.Repeat([]byte{7}, 32))+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "master.key")
			symlink(t, key, p, nobodyUID)
			return daemon.Config{DataDir: dir}, p, nil
		}, "is a symlink"},
		{"catalog directory of another user", func(t *testing.T) (daemon.Config, string, *victim) {
			dir := initDataDir(t)
			p := filepath.Join(dir, "catalog")
			chown(t, p, nobodyUID)
			return daemon.Config{DataDir: dir}, p, nil
		}, "belongs to uid 65534"},
		{"chunk directory writable by others", func(t *testing.T) (daemon.Config, string, *victim) {
			dir := initDataDir(t)
			p := filepath.Join(dir, "chunks")
			chmod(t, p, 0o733)
			return daemon.Config{DataDir: dir}, p, nil
		}, "mode 0733 lets other users write it"},
		{"catalog directory symlink of another user", func(t *testing.T) (daemon.Config, string, *victim) {
			dir := initDataDir(t)
			p := filepath.Join(dir, "catalog")
			moved := filepath.Join(t.TempDir(), "catalog")
			if err := os.Rename(p, moved); err != nil {
				t.Fatal(err)
			}
			symlink(t, moved, p, nobodyUID)
			return daemon.Config{DataDir: dir}, p, nil
		}, "symlink made by another user"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CREDENTIALS_DIRECTORY", "")
			cfg, path, v := tc.prepare(t)
			cfg.Listen, cfg.GCInterval, cfg.Logger = "127.0.0.1:0", -1, quiet
			d, err := daemon.Start(cfg)
			if err == nil {
				d.Close()
				t.Fatalf("excd started on %s", path)
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not name %s and %q", msg, path, tc.want)
			}
			if tc.want != "already exists" && !errors.Is(err, fsutil.ErrUntrusted) {
				t.Errorf("error %v is not ErrUntrusted", err)
			}
			if v != nil {
				v.checkUntouched(t)
			}
			t.Log(err)
		})
	}
}

// The layouts excd makes and the packaged one (StateDirectory= 0700 owned
// by root, the data directory inside it, a symlinked catalog the operator
// moved to another disk) all pass the checks.
func TestTrustedDataDirAccepted(t *testing.T) {
	dir := initDataDir(t)
	// The operator moves the catalog elsewhere and links it: their link,
	// their directory.
	moved := filepath.Join(t.TempDir(), "catalog")
	if err := os.Rename(filepath.Join(dir, "catalog"), moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(moved, filepath.Join(dir, "catalog")); err != nil {
		t.Fatal(err)
	}
	d := startWith(t, daemon.Config{DataDir: dir, MinFree: 4 << 20})
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(filepath.Join(dir, "reserve"))
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != 1<<20 {
		t.Fatalf("reserve file: %v, %v", fi, err)
	}
}

// The packaged unit's layout passes: StateDirectory= (0700) holding the data
// directory, RuntimeDirectory= (0700) holding the admin socket, and the
// master key as a systemd credential (0400; its directory's modes are
// systemd's).
func TestPackagedLayoutAccepted(t *testing.T) {
	state, run, creds := filepath.Join(t.TempDir(), "lib-excd"), filepath.Join(t.TempDir(), "run-excd"), filepath.Join(t.TempDir(), "creds")
	for _, d := range []string{state, run, creds} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	key := filepath.Join(creds, "master.key")
	if err := os.WriteFile(key, []byte(hex.EncodeToString(bytes.Repeat([]byte{9}, 32))+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(creds, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RUNTIME_DIRECTORY", run)
	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	d := startWith(t, daemon.Config{DataDir: filepath.Join(state, "excd-data"), MinFree: 4 << 20})
	if got := d.AdminSocket(); got != filepath.Join(run, "admin.sock") {
		t.Fatalf("admin socket %s", got)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(state, "excd-data", "master.key")); err == nil {
		t.Fatal("a master key was created in the data directory beside the credential")
	}
	d = startWith(t, daemon.Config{DataDir: filepath.Join(state, "excd-data"), MinFree: 4 << 20})
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}
