package pgtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

// Two databases on one server are separate, each reached by its URL, and
// the server runs with the settings the package promises.
func TestTwoDatabases(t *testing.T) {
	ctx := context.Background()
	srv := Start(t)
	a, b := connect(t, srv.NewDB(t)), connect(t, srv.NewDB(t))

	var nameA, nameB string
	if err := a.QueryRow(ctx, "SELECT current_database()").Scan(&nameA); err != nil {
		t.Fatal(err)
	}
	if err := b.QueryRow(ctx, "SELECT current_database()").Scan(&nameB); err != nil {
		t.Fatal(err)
	}
	if nameA == nameB {
		t.Fatalf("both URLs reach database %q", nameA)
	}

	if _, err := a.Exec(ctx, "CREATE TABLE kv (k bytea PRIMARY KEY, v bytea)"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Exec(ctx, "INSERT INTO kv VALUES ($1, $2)", []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	var v []byte
	if err := a.QueryRow(ctx, "SELECT v FROM kv WHERE k = $1", []byte("k")).Scan(&v); err != nil || string(v) != "v" {
		t.Fatalf("read back = %q, %v", v, err)
	}
	if _, err := b.Exec(ctx, "SELECT 1 FROM kv"); err == nil {
		t.Fatalf("database %s sees the table made in %s", nameB, nameA)
	}

	for setting, want := range map[string]string{
		"listen_addresses": "", "unix_socket_directories": srv.SocketDir(),
		"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
	} {
		var got string
		if err := a.QueryRow(ctx, "SELECT current_setting($1)", setting).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %q, want %q", setting, got, want)
		}
	}
	var superuser string
	if err := a.QueryRow(ctx, "SHOW is_superuser").Scan(&superuser); err != nil || superuser != "on" {
		t.Errorf("is_superuser = %q, %v", superuser, err)
	}
}

// gone reports whether no process has pid (a zombie still counts as there).
func gone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// When a test that started a server passes, its cleanup leaves no server
// process (postmaster or session) and no directory.
func TestCleanupStopsServer(t *testing.T) {
	var pid, backend int
	var dir string
	t.Run("server", func(t *testing.T) {
		srv := Start(t)
		pid, dir = srv.Pid(), srv.Dir()
		conn := connect(t, srv.NewDB(t))
		if err := conn.QueryRow(context.Background(), "SELECT pg_backend_pid()").Scan(&backend); err != nil {
			t.Fatal(err)
		}
		if gone(pid) || gone(backend) {
			t.Fatalf("postmaster %d or session %d not running while the test runs", pid, backend)
		}
	})
	if !gone(pid) || !gone(backend) {
		t.Errorf("after the test: postmaster %d gone = %v, session %d gone = %v", pid, gone(pid), backend, gone(backend))
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("server directory %s still there: %v", dir, err)
	}
}

// When a test that started a server fails (t.Fatal with a session still
// open), the server is stopped all the same. The failing test is a subtest
// in a child test binary, whose parent test checks the pids while the
// binary still runs (once it exits, Pdeathsig would stop the server anyway)
// and prints what it saw.
func TestCleanupStopsServerWhenTestFails(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperFailingTest$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "PGTEST_HELPER=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("the failing helper test did not fail: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "failing on purpose") {
		t.Fatalf("the helper failed for another reason:\n%s", out)
	}
	var report string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if i := strings.Index(sc.Text(), "PGTEST "); i >= 0 {
			report = sc.Text()[i:]
		}
	}
	var pid, backend int
	var pidGone, backendGone, dirGone bool
	if _, err := fmt.Sscanf(report, "PGTEST pid=%d gone=%t backend=%d gone=%t dirgone=%t",
		&pid, &pidGone, &backend, &backendGone, &dirGone); err != nil {
		t.Fatalf("the helper test printed no report (%v):\n%s", err, out)
	}
	if !pidGone || !backendGone || !dirGone {
		t.Errorf("after the failed test, in its process: %s\n%s", report, out)
	}
	if !gone(pid) || !gone(backend) {
		t.Errorf("after the helper exited: postmaster %d gone = %v, session %d gone = %v", pid, gone(pid), backend, gone(backend))
	}
}

// TestHelperFailingTest is the child of TestCleanupStopsServerWhenTestFails.
func TestHelperFailingTest(t *testing.T) {
	if os.Getenv("PGTEST_HELPER") != "1" {
		return // only as the child above
	}
	var pid, backend int
	var dir string
	t.Run("fails", func(t *testing.T) {
		srv := Start(t)
		pid, dir = srv.Pid(), srv.Dir()
		conn := connect(t, srv.NewDB(t))
		if err := conn.QueryRow(context.Background(), "SELECT pg_backend_pid()").Scan(&backend); err != nil {
			t.Fatal(err)
		}
		t.Fatal("failing on purpose")
	})
	_, err := os.Stat(dir)
	fmt.Printf("PGTEST pid=%d gone=%t backend=%d gone=%t dirgone=%t\n",
		pid, gone(pid), backend, gone(backend), os.IsNotExist(err))
}

// DB without Main gives each call a server of the test's own.
func TestDBWithoutMain(t *testing.T) {
	conn := connect(t, DB(t))
	var one int
	if err := conn.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
}
