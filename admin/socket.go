package admin

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"excloud.dev/buckets/internal/fsutil"
)

// DefaultSocket is the admin socket path when none is configured:
// $RUNTIME_DIRECTORY/admin.sock when systemd gave the unit a runtime
// directory (RuntimeDirectory=), else <dataDir>/admin.sock. systemd may
// list several runtime directories separated by ':'; the first is ours.
func DefaultSocket(dataDir string) string {
	if rd := os.Getenv("RUNTIME_DIRECTORY"); rd != "" {
		if i := strings.IndexByte(rd, ':'); i >= 0 {
			rd = rd[:i]
		}
		return filepath.Join(rd, "admin.sock")
	}
	return filepath.Join(dataDir, "admin.sock")
}

// maxSocketPath is the room in sockaddr_un.sun_path on Linux, less the
// terminating NUL.
const maxSocketPath = 107

// Listen creates the admin socket at path and returns a listener whose
// Accept hands out only connections from root or the daemon's own uid.
//
// The parent directory is created 0700 if missing. A leftover socket that
// nobody answers on (a crashed daemon's) is replaced; a socket that answers
// means another excd owns it, and Listen fails rather than steal it. Any
// other kind of file at path is left alone and is an error.
//
// The socket never exists with a mode wider than 0600, whatever the umask:
// it is bound in a fresh 0700 directory next to path, chmod'ed, and renamed
// into place. (Changing the process umask instead would race every other
// goroutine that creates files.) Closing the listener removes the socket.
func Listen(path string) (net.Listener, error) {
	path = filepath.Clean(path)
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("admin: listen %s: path longer than %d bytes, the limit for unix sockets", path, maxSocketPath)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("admin: listen %s: %w", path, err)
	}
	if err := checkSocketDir(dir); err != nil {
		return nil, fmt.Errorf("admin: listen %s: %w", path, err)
	}
	if err := removeStale(path); err != nil {
		return nil, fmt.Errorf("admin: listen %s: %w", path, err)
	}

	tmpDir, err := os.MkdirTemp(dir, ".s")
	if err != nil {
		return nil, fmt.Errorf("admin: listen %s: %w", path, err)
	}
	defer os.RemoveAll(tmpDir)
	tmp := filepath.Join(tmpDir, "s")
	if len(tmp) > maxSocketPath {
		return nil, fmt.Errorf("admin: listen %s: path too long to create the socket beside it; use a shorter path", path)
	}
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("admin: listen %s: %w", path, err)
	}
	// The listener would unlink the temporary name on Close; we remove the
	// final name ourselves.
	ul.SetUnlinkOnClose(false)
	fail := func(err error) (net.Listener, error) {
		ul.Close()
		return nil, fmt.Errorf("admin: listen %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	return &peerListener{UnixListener: ul, path: path, file: fi, uid: os.Getuid(), log: slog.Default()}, nil
}

// checkSocketDir refuses a directory in which another user could replace
// the socket, or plant one of theirs for exc to find: it must belong to the
// daemon's user or root and, if others may write it, be sticky (like /tmp,
// where only a file's owner may remove or rename it; Listen then also
// refuses a socket there that is not ours).
func checkSocketDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return &fsutil.UntrustedError{What: "admin socket directory", Path: dir, Reason: "cannot read its owner"}
	}
	if !fsutil.TrustedOwner(st.Uid) {
		return &fsutil.UntrustedError{What: "admin socket directory", Path: dir,
			Reason: fmt.Sprintf("it belongs to uid %d, not to the user excd runs as (uid %d) or root", st.Uid, os.Geteuid())}
	}
	if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
		return &fsutil.UntrustedError{What: "admin socket directory", Path: dir,
			Reason: fmt.Sprintf("its mode %04o lets other users replace the socket; chmod go-w %s (or choose another --admin-socket)", fi.Mode().Perm(), dir)}
	}
	return nil
}

// checkSocketOwner refuses a socket that neither root nor the user this
// process runs as made: another user's listener, which must be neither
// replaced (Listen) nor talked to (exc).
func checkSocketOwner(path string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return &fsutil.UntrustedError{What: "admin socket", Path: path, Reason: "cannot read its owner"}
	}
	if !fsutil.TrustedOwner(st.Uid) {
		return &fsutil.UntrustedError{What: "admin socket", Path: path,
			Reason: fmt.Sprintf("it belongs to uid %d, neither root nor this user (uid %d): it is not excd's", st.Uid, os.Geteuid())}
	}
	return nil
}

// removeStale removes a socket at path that nobody answers on. Only
// ECONNREFUSED proves a socket dead: EACCES, for one, means it belongs to
// someone we must not displace.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket; refusing to replace it", path)
	}
	if err := checkSocketOwner(path, fi); err != nil {
		return err
	}
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("another excd is running: its admin socket %s answers", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("cannot tell whether the socket %s is stale: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing stale socket: %w", err)
	}
	return nil
}

// peerListener refuses connections from users other than root and the
// daemon's uid, even if the socket's mode has been loosened.
type peerListener struct {
	*net.UnixListener
	path string
	file fs.FileInfo // the socket as created, to remove only our own on Close
	uid  int
	log  *slog.Logger

	closeOnce sync.Once
	closeErr  error
}

// Accept returns the next connection from an allowed peer. Refused peers are
// closed and logged here and never reach the caller, because http.Server
// treats any error from Accept other than a timeout as fatal.
func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.UnixListener.AcceptUnix()
		if err != nil {
			return nil, err
		}
		uid, pid, err := peerCred(c)
		if err != nil {
			l.log.Warn("admin socket: cannot read peer credentials; connection refused", "err", err)
			c.Close()
			continue
		}
		if uid != 0 && uid != l.uid {
			l.log.Warn("admin socket: connection refused: peer is neither root nor the daemon's user",
				"peer_uid", uid, "peer_pid", pid, "daemon_uid", l.uid)
			c.Close()
			continue
		}
		return c, nil
	}
}

func peerCred(c *net.UnixConn) (uid, pid int, err error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := rc.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, 0, err
	}
	if credErr != nil {
		return 0, 0, fmt.Errorf("SO_PEERCRED: %w", credErr)
	}
	return int(cred.Uid), int(cred.Pid), nil
}

// Close stops listening and removes the socket, unless it has been replaced
// by another file since (a second daemon's socket must survive our exit).
func (l *peerListener) Close() error {
	l.closeOnce.Do(func() {
		l.closeErr = l.UnixListener.Close()
		if fi, err := os.Lstat(l.path); err == nil && os.SameFile(fi, l.file) {
			os.Remove(l.path)
		}
	})
	return l.closeErr
}

// Addr reports the socket's final path rather than the temporary name it
// was bound under.
func (l *peerListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }
