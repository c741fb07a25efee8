package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// Pause stops the postmaster (fast shutdown: connected sessions are ended)
// and keeps its data directory and socket directory, so Resume can start
// it again on the same data: a database outage as clients see it. Stop
// after Pause only removes the directory.
func (s *Server) Pause() error {
	if s.cmd == nil {
		return fmt.Errorf("pause: server not running")
	}
	select {
	case <-s.done:
		return fmt.Errorf("pause: postgres (pid %d) had already exited: %v\n%s", s.Pid(), s.waitErr, s.logTail())
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		return fmt.Errorf("pause postgres (pid %d): %w", s.Pid(), err)
	}
	select {
	case <-s.done:
	case <-time.After(stopBound):
		return fmt.Errorf("pause: postgres (pid %d) ignored a fast shutdown for %v\n%s", s.Pid(), stopBound, s.logTail())
	}
	if s.waitErr != nil {
		return fmt.Errorf("pause: postgres (pid %d) shut down with %v\n%s", s.Pid(), s.waitErr, s.logTail())
	}
	s.cmd = nil
	return nil
}

// Resume starts the postmaster again after Pause, on the same data
// directory and socket, and returns once it accepts connections.
func (s *Server) Resume() error {
	if s.cmd != nil {
		return fmt.Errorf("resume: server already running (pid %d)", s.Pid())
	}
	bin, err := binDir()
	if err != nil {
		return err
	}
	cred, err := credential()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("server log: %w", err)
	}
	defer logf.Close()
	s.done = make(chan struct{})
	s.waitErr = nil
	cmd := postmaster(bin, filepath.Join(s.base, "data"), s.sock, cred)
	cmd.Stdout, cmd.Stderr = logf, logf
	started := make(chan error, 1)
	done := s.done
	go func() {
		runtime.LockOSThread() // never unlocked: Pdeathsig is tied to this thread
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.waitErr = cmd.Wait()
		close(done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("restart postgres: %w", err)
	}
	s.cmd = cmd
	ctx, cancel := context.WithTimeout(context.Background(), startBound)
	defer cancel()
	return s.waitReady(ctx)
}

// postmaster is the server's command line, as start runs it.
func postmaster(bin, data, sock string, cred *syscall.Credential) *exec.Cmd {
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses=",
		"-c", "unix_socket_directories="+sock,
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "logging_collector=off")
	cmd.Env = env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGQUIT}
	return cmd
}
