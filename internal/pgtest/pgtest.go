// Package pgtest runs a real PostgreSQL server, from Debian's postgresql
// package, for tests: initdb into a fresh directory, the unix socket only,
// durability settings off for speed (a test's database dies with the test),
// and a database per test. Every server it starts is stopped (fast
// shutdown) by t.Cleanup even when the test fails, or by Main at the end
// of a package's tests when they share one server.
//
// PostgreSQL refuses to run as root, and tests here run as root (CI is a
// fresh Debian machine): as root, initdb and postgres run as the postgres
// user that the package creates; as anyone else, as that user.
//
// The binaries are looked for under /usr/lib/postgresql/*/bin (the newest
// version wins) unless EXC_TEST_PGBIN names their directory. When they are
// missing the test fails, never skips: .ci/run installs postgresql.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Bounds on waiting for the server. Generous: the machine is shared with
// other builds, and a slow start is not a failure.
const (
	startBound = 2 * time.Minute
	stopBound  = 2 * time.Minute
)

// Server is one running PostgreSQL server owned by a test (Start) or by a
// package's tests (Main).
type Server struct {
	base string // 0711, ours: holds data/, sock/ and the log
	sock string
	log  string
	cmd  *exec.Cmd
	done chan struct{} // closed once the postmaster has exited and been reaped

	waitErr  error // the postmaster's exit; read after done is closed
	stopOnce sync.Once
	stopErr  error
	dbs      atomic.Int64
	opts     Options // options.go
}

// Start starts a server for tb and stops it when tb ends, passed or failed.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartWith(tb, Options{})
}

// StartServer starts a server that the caller must Stop.
func StartServer() (*Server, error) { return StartServerWith(Options{}) }

// StartServerWith starts a server with o that the caller must Stop.
func StartServerWith(o Options) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	base, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("server directory: %w", err)
	}
	s := &Server{
		base: base,
		sock: filepath.Join(base, "sock"),
		log:  filepath.Join(base, "postgres.log"),
		done: make(chan struct{}),
		opts: o,
	}
	if err := s.start(bin, cred); err != nil {
		if s.cmd != nil {
			s.Stop()
		}
		os.RemoveAll(base)
		return nil, err
	}
	return s, nil
}

// start lays out the directories, runs initdb and starts the postmaster.
// The socket path is kept short (a unix socket path has ~107 bytes), which
// is why the directory is not a t.TempDir named after the test.
func (s *Server) start(bin string, cred *syscall.Credential) error {
	data := filepath.Join(s.base, "data")
	if cred != nil {
		// The server's user must get through every directory above its own.
		if err := traversable(s.base); err != nil {
			return err
		}
		if err := os.Chmod(s.base, 0o711); err != nil {
			return fmt.Errorf("server directory: %w", err)
		}
	}
	for _, d := range []string{data, s.sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return fmt.Errorf("server directory: %w", err)
		}
		if cred != nil {
			if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
				return fmt.Errorf("server directory: %w", err)
			}
		}
	}
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("server log: %w", err)
	}
	defer logf.Close() // the children hold their own copies

	ctx, cancel := context.WithTimeout(context.Background(), startBound)
	defer cancel()
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", data, "-U", "postgres", "--auth=trust", "--no-locale",
		"--encoding=UTF8", "--no-sync", "--no-instructions")
	initdb.Env = env()
	initdb.Stdout, initdb.Stderr = logf, logf
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if err := initdb.Run(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, s.logTail())
	}

	s.cmd = exec.Command(filepath.Join(bin, "postgres"), append([]string{"-D", data,
		"-c", "listen_addresses=",
		"-c", "unix_socket_directories=" + s.sock,
		"-c", "logging_collector=off"}, s.opts.settings()...)...)
	s.cmd.Env = env()
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		// Its own process group keeps a terminal's ^C to the test from
		// reaching the server directly; Stop decides how it ends.
		Setpgid: true,
		// If the test binary dies (a panic, go test's timeout) the server
		// must not outlive it: immediate shutdown. The signal is tied to
		// the thread that started the server, so that thread is locked
		// to the goroutine below until the server has exited.
		Pdeathsig: syscall.SIGQUIT,
	}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the server
		if err := s.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	if err := <-started; err != nil {
		s.cmd = nil
		return fmt.Errorf("start postgres: %w", err)
	}
	return s.waitReady(ctx)
}

// waitReady polls until the server accepts a connection, failing at once
// when the postmaster exits instead.
func (s *Server) waitReady(ctx context.Context) error {
	url := s.URL("postgres")
	var last error
	for {
		select {
		case <-s.done:
			return fmt.Errorf("postgres exited before accepting connections: %v\n%s", s.waitErr, s.logTail())
		case <-ctx.Done():
			return fmt.Errorf("postgres did not accept connections within %v: %v\n%s", startBound, last, s.logTail())
		default:
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		conn, err := pgx.Connect(cctx, url)
		if err == nil {
			err = conn.Ping(cctx)
			conn.Close(cctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-s.done:
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond): // poll interval, not a wait for an event
		}
	}
}

// Stop shuts the server down (SIGINT: fast shutdown, which ends the
// sessions still connected), waits for the postmaster to exit and removes
// its directory. It is safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Server) stop() error {
	defer os.RemoveAll(s.base)
	if s.cmd == nil {
		return nil
	}
	select {
	case <-s.done:
		return fmt.Errorf("postgres (pid %d) had already exited: %v\n%s", s.Pid(), s.waitErr, s.logTail())
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		return fmt.Errorf("stop postgres (pid %d): %w", s.Pid(), err)
	}
	select {
	case <-s.done:
	case <-time.After(stopBound):
		// Immediate shutdown, then no shutdown at all.
		s.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-s.done:
		case <-time.After(stopBound):
			s.cmd.Process.Kill()
			<-s.done
		}
		return fmt.Errorf("postgres (pid %d) ignored a fast shutdown for %v\n%s", s.Pid(), stopBound, s.logTail())
	}
	if s.waitErr != nil {
		return fmt.Errorf("postgres (pid %d) shut down with %v\n%s", s.Pid(), s.waitErr, s.logTail())
	}
	return nil
}

// Pid is the postmaster's process id.
func (s *Server) Pid() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Dir is the directory holding the server's data, socket and log; Stop
// removes it.
func (s *Server) Dir() string { return s.base }

// SocketDir is the directory of the server's unix socket.
func (s *Server) SocketDir() string { return s.sock }

// URL is a libpq URL for database db on this server, as user postgres over
// the unix socket (trust authentication: only this user can reach it).
func (s *Server) URL(db string) string {
	q := url.Values{"host": {s.sock}, "user": {"postgres"}}
	return (&url.URL{Scheme: "postgres", Path: "/" + db, RawQuery: q.Encode()}).String()
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_]+`)

// NewDB creates an empty database for tb, named after the test, and drops
// it when tb ends (ending any session still connected). It returns the
// database's URL.
func (s *Server) NewDB(tb testing.TB) string {
	tb.Helper()
	name := unsafeName.ReplaceAllString(strings.ToLower(tb.Name()), "_")
	name = fmt.Sprintf("t%d_%s", s.dbs.Add(1), name)
	if len(name) > 63 { // NAMEDATALEN-1
		name = name[:63]
	}
	ident := pgx.Identifier{name}.Sanitize()
	if err := s.exec("CREATE DATABASE " + ident); err != nil {
		tb.Fatalf("pgtest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		select {
		case <-s.done:
			return // the server is gone, and the database with it
		default:
		}
		if err := s.exec("DROP DATABASE IF EXISTS " + ident + " WITH (FORCE)"); err != nil {
			tb.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return s.URL(name)
}

// exec runs one statement in the postgres database.
func (s *Server) exec(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), startBound)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// logTail is the end of the server's log, for failure messages.
func (s *Server) logTail() string {
	f, err := os.Open(s.log)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	const max = 8 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		f.Seek(fi.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

var (
	mainActive bool
	shared     struct {
		once sync.Once
		srv  *Server
		err  error
	}
)

// Main runs a package's tests with one shared server, started by the first
// DB call and stopped after the last test. Call it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	mainActive = true
	code := m.Run()
	if shared.srv != nil {
		if err := shared.srv.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// DB returns the URL of a fresh, empty database for tb: on the package's
// shared server when TestMain calls Main, else on a server of tb's own.
func DB(tb testing.TB) string {
	tb.Helper()
	if !mainActive {
		return Start(tb).NewDB(tb)
	}
	shared.once.Do(func() { shared.srv, shared.err = StartServer() })
	if shared.err != nil {
		tb.Fatalf("pgtest: %v", shared.err)
	}
	return shared.srv.NewDB(tb)
}

// binDir finds the server's binaries.
func binDir() (string, error) {
	if d := os.Getenv("EXC_TEST_PGBIN"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err != nil {
			return "", fmt.Errorf("EXC_TEST_PGBIN=%s: %w", d, err)
		}
		return d, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	var dirs []string
	for _, f := range found {
		if _, err := os.Stat(filepath.Join(filepath.Dir(f), "initdb")); err == nil {
			dirs = append(dirs, filepath.Dir(f))
		}
	}
	if len(dirs) == 0 {
		return "", errors.New("no PostgreSQL server under /usr/lib/postgresql/*/bin: " +
			"install Debian's postgresql package (apt-get install postgresql; .ci/run does), " +
			"or set EXC_TEST_PGBIN to the directory holding initdb and postgres")
	}
	version := func(d string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	return dirs[0], nil
}

// credential is the postgres user's when we are root, nil otherwise.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL will not run as root and there is no postgres user (%v): "+
			"install Debian's postgresql package (apt-get install postgresql; .ci/run does)", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("postgres user: uid %q gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// traversable checks that another user can reach dir: every directory
// above it must be searchable by others.
func traversable(dir string) error {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("the postgres user cannot reach %s: %s is mode %v; set TMPDIR to a directory others can traverse",
				dir, d, fi.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// env is the servers' environment: the C locale whatever the test's is.
func env() []string {
	return []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "LANG=C"}
}
