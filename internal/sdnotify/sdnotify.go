// Package sdnotify speaks the two small systemd protocols excd needs, without
// linking libsystemd: readiness notification (sd_notify: datagrams such as
// "READY=1" to the unix socket named by $NOTIFY_SOCKET, where a leading '@'
// means the abstract namespace) and socket activation (sd_listen_fds:
// inherited listeners starting at fd 3, announced by $LISTEN_FDS and
// $LISTEN_PID).
//
// Outside systemd the environment variables are absent and every function
// here is a no-op, so the daemon calls them unconditionally.
package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Messages excd sends.
const (
	Ready     = "READY=1"
	Stopping  = "STOPPING=1"
	Reloading = "RELOADING=1"
	Watchdog  = "WATCHDOG=1"
)

// Notify sends state to the service manager. It returns (false, nil) when
// $NOTIFY_SOCKET is unset, i.e. excd is not run by systemd with Type=notify.
func Notify(state string) (bool, error) {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return false, nil
	}
	if name[0] != '/' && name[0] != '@' {
		return false, fmt.Errorf("sdnotify: NOTIFY_SOCKET %q is neither a path nor an abstract name", name)
	}
	addr := &net.UnixAddr{Name: name, Net: "unixgram"}
	if name[0] == '@' {
		// Go maps a leading '@' to the abstract namespace's leading NUL.
		addr.Name = "@" + name[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return false, fmt.Errorf("sdnotify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return false, fmt.Errorf("sdnotify: send %q: %w", firstLine(state), err)
	}
	return true, nil
}

// ReloadingNow returns the RELOADING=1 message with the MONOTONIC_USEC that
// systemd 253+ wants with it (Type=notify-reload); older managers ignore
// the extra field.
func ReloadingNow() string {
	var ts unix.Timespec
	// CLOCK_MONOTONIC is systemd's clock here; time.Now does not expose its
	// monotonic reading as an absolute value. It cannot fail for this id.
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	usec := ts.Sec*1e6 + ts.Nsec/1e3
	return Reloading + "\nMONOTONIC_USEC=" + strconv.FormatInt(usec, 10)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// WatchdogInterval returns how often to send WATCHDOG=1: half of
// $WATCHDOG_USEC, as sd_watchdog_enabled(3) advises, or 0 when the watchdog
// is off or meant for another process ($WATCHDOG_PID).
func WatchdogInterval() (time.Duration, error) {
	us := os.Getenv("WATCHDOG_USEC")
	if us == "" {
		return 0, nil
	}
	if p := os.Getenv("WATCHDOG_PID"); p != "" && p != strconv.Itoa(os.Getpid()) {
		return 0, nil
	}
	n, err := strconv.ParseInt(us, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("sdnotify: invalid WATCHDOG_USEC %q", us)
	}
	return time.Duration(n) * time.Microsecond / 2, nil
}

// listenFDsStart is SD_LISTEN_FDS_START.
const listenFDsStart = 3

// Listeners returns the stream listeners systemd passed (socket activation),
// in the order of the .socket unit's Listen* lines, or nil when there are
// none for this process. It unsets LISTEN_PID, LISTEN_FDS and
// LISTEN_FDNAMES so child processes do not take the fds for theirs.
func Listeners() ([]net.Listener, error) {
	pid, fds := os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS")
	if fds == "" {
		return nil, nil
	}
	defer func() {
		os.Unsetenv("LISTEN_PID")
		os.Unsetenv("LISTEN_FDS")
		os.Unsetenv("LISTEN_FDNAMES")
	}()
	if pid != strconv.Itoa(os.Getpid()) {
		return nil, nil // meant for another process (we were exec'ed by it)
	}
	n, err := strconv.Atoi(fds)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("sdnotify: invalid LISTEN_FDS %q", fds)
	}
	var lns []net.Listener
	for fd := listenFDsStart; fd < listenFDsStart+n; fd++ {
		syscall.CloseOnExec(fd)
		f := os.NewFile(uintptr(fd), "LISTEN_FD_"+strconv.Itoa(fd))
		ln, err := net.FileListener(f)
		f.Close() // FileListener dup'ed it
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("sdnotify: inherited fd %d is not a listening socket: %w", fd, err)
		}
		lns = append(lns, ln)
	}
	if len(lns) == 0 {
		return nil, errors.New("sdnotify: LISTEN_FDS=0")
	}
	return lns, nil
}
