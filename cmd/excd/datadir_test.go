package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A failed first start leaves the data directory as it found it: not there
// (nor the parents it made), or empty when it was empty (systemd's
// StateDirectory=); an existing store is never touched. The port taken
// stops the start before the directory is made; a bad admin socket path
// stops it after the catalog and master key were made, which are removed.
func TestFailedStartLeavesNoDataDir(t *testing.T) {
	excd := excdBin(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()
	// Longer than a unix socket path may be: fails in startAdmin.
	badSocket := "--admin-socket=" + filepath.Join(t.TempDir(), strings.Repeat("s", 120), "admin.sock")
	seeded := []string{"EXC_ROOT_ACCESS_KEY=" + testAK, "EXC_ROOT_SECRET_KEY=" + testSK}

	failStart := func(t *testing.T, env []string, args ...string) string {
		t.Helper()
		_, errOut, code := runCLI(t, excd, env, append([]string{"--listen", "127.0.0.1:0", "--gc-interval", "0"}, args...)...)
		if code != 1 {
			t.Fatalf("exit %d, want 1; stderr:\n%s", code, errOut)
		}
		return fatalRecord(t, errOut)["err"]
	}
	listing := func(dir string) []string {
		var names []string
		filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
			names = append(names, p)
			return nil
		})
		return names
	}

	t.Run("port taken, fresh path", func(t *testing.T) {
		top := filepath.Join(t.TempDir(), "a")
		data := filepath.Join(top, "b", "data")
		if err := failStart(t, nil, "--data-dir", data, "--listen", taken); !strings.Contains(err, "address already in use") {
			t.Errorf("err %q", err)
		}
		if _, err := os.Lstat(top); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a failed start left %s: %v", top, listing(top))
		}
	})
	t.Run("metrics port taken, fresh path", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "data")
		failStart(t, nil, "--data-dir", data, "--metrics-listen", taken)
		if _, err := os.Lstat(data); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a failed start left %v", listing(data))
		}
	})
	for _, generated := range []bool{false, true} {
		env := seeded
		name := "seeded key"
		if generated {
			env, name = nil, "generated key"
		}
		t.Run("fails after the catalog is made, fresh path, "+name, func(t *testing.T) {
			top := filepath.Join(t.TempDir(), "a")
			data := filepath.Join(top, "data")
			if err := failStart(t, env, "--data-dir", data, badSocket); !strings.Contains(err, "admin socket") {
				t.Errorf("err %q", err)
			}
			if _, err := os.Lstat(top); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a failed start left %v", listing(top))
			}
		})
		t.Run("fails after the catalog is made, empty directory, "+name, func(t *testing.T) {
			data := t.TempDir()
			os.Chmod(data, 0o700)
			failStart(t, env, "--data-dir", data, badSocket)
			if got := listing(data); len(got) != 1 {
				t.Fatalf("a failed start left %v in the empty data directory", got)
			}
		})
	}
	t.Run("existing store untouched", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "data")
		n := listenNotify(t, true)
		p := startExcd(t, append([]string{"NOTIFY_SOCKET=" + n.name, "EXC_DATA_DIR=" + data, "EXC_LISTEN=127.0.0.1:0"}, seeded...), nil)
		n.await(t, "READY=1")
		p.signal(t, syscall.SIGTERM)
		if err := p.wait(t); err != nil {
			t.Fatal(err)
		}
		// The catalog's own files change when Badger opens it (a new
		// value log); what must stay is the store: its entries, its key.
		top := func() string {
			ents, err := os.ReadDir(data)
			if err != nil {
				t.Fatal(err)
			}
			key, err := os.ReadFile(filepath.Join(data, "master.key"))
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, e := range ents {
				b.WriteString(e.Name() + " ")
			}
			return b.String() + string(key)
		}
		before := top()
		failStart(t, seeded, "--data-dir", data, badSocket)
		failStart(t, seeded, "--data-dir", data, "--listen", taken)
		if after := top(); after != before {
			t.Fatalf("a failed start changed an existing data directory:\nbefore %q\nafter  %q", before, after)
		}
		// And it still starts and serves.
		n2 := listenNotify(t, true)
		p = startExcd(t, append([]string{"NOTIFY_SOCKET=" + n2.name, "EXC_DATA_DIR=" + data, "EXC_LISTEN=127.0.0.1:0"}, seeded...), nil)
		n2.await(t, "READY=1")
		p.signal(t, syscall.SIGTERM)
		if err := p.wait(t); err != nil {
			t.Fatal(err)
		}
	})
}

// A second excd on a running one's data directory is refused before it
// opens anything, and its failure undoes nothing of the first's.
func TestSecondExcdOnSameDataDir(t *testing.T) {
	n := listenNotify(t, true)
	env := baseEnv(t, n)
	data := strings.TrimPrefix(env[1], "EXC_DATA_DIR=")
	p := startExcd(t, env, nil)
	addr := addrFrom(t, n.await(t, "READY=1"))
	_, errOut, code := runCLI(t, excdBin(t), []string{"EXC_ROOT_ACCESS_KEY=" + testAK, "EXC_ROOT_SECRET_KEY=" + testSK},
		"--data-dir", data, "--listen", "127.0.0.1:0", "--admin-socket", "-")
	if rec := fatalRecord(t, errOut); code != 1 || !strings.Contains(rec["err"], "in use by another excd") {
		t.Fatalf("second excd: exit %d, %v", code, rec)
	}
	if _, err := minioClient(t, addr).ListBuckets(t.Context()); err != nil {
		t.Fatalf("the first excd after the second's failed start: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "master.key")); err != nil {
		t.Fatal(err)
	}
	p.signal(t, syscall.SIGTERM)
	if err := p.wait(t); err != nil {
		t.Fatal(err)
	}
}
