package fsmount_test

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"excloud.dev/buckets/fsmount"
	"excloud.dev/buckets/objects"
)

// gatedOpen holds the mount's Open of one key until released, or until the
// operation's context is cancelled: as the catalog on PostgreSQL does, the
// layer below gives up when the mount cancels.
type gatedOpen struct {
	fsmount.Objects
	key     string
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (g *gatedOpen) Open(ctx context.Context, org, bucket, key string) (*objects.Object, error) {
	if key == g.key {
		g.once.Do(func() { close(g.entered) })
		select {
		case <-g.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.Objects.Open(ctx, org, bucket, key)
}

// signalled is a log handler that closes c on the mount's record of an
// interrupted request.
type signalled struct {
	c    chan struct{}
	once sync.Once
}

func (s *signalled) Enabled(context.Context, slog.Level) bool { return true }
func (s *signalled) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "fsmount: request interrupted; it goes on" {
		s.once.Do(func() { close(s.c) })
	}
	return nil
}
func (s *signalled) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *signalled) WithGroup(string) slog.Handler      { return s }

// TestSignalDoesNotFailOpen: a process that gets a signal while its open(2)
// is in the daemon (any signal it does not ignore: here SIGURG, which the
// Go runtime sends its threads to preempt them, all the time under load)
// makes the kernel interrupt the request. The open must still succeed, as
// on a local file system: programs do not retry EINTR from open. The mount
// used to cancel the operation, and on PostgreSQL the catalog read in
// flight then failed: "open: input/output error" for concurrent appenders
// (docs/scale-out.md, "Under contention").
func TestSignalDoesNotFailOpen(t *testing.T) {
	gate := &gatedOpen{key: "f", entered: make(chan struct{}), release: make(chan struct{})}
	noted := &signalled{c: make(chan struct{})}
	e := newEnvOpts(t, func(objs fsmount.Objects) fsmount.Objects { gate.Objects = objs; return gate },
		// An hour: the operation must not be cancelled while the test
		// holds it, however slow the machine.
		fsmount.Options{Logger: slog.New(noted), InterruptGrace: time.Hour})
	want := []byte("the file's bytes")
	path := e.bdir + "/f"
	// Stored through the object layer, not the mount: a file the mount wrote keeps its
	// write session until the kernel's asynchronous release, and an open
	// before that joins the session without asking the layer (the gate
	// would never be reached).
	e.put(t, "f", string(want))
	defer func() {
		select {
		case <-gate.release:
		default:
			close(gate.release)
		}
	}()

	type result struct {
		got []byte
		err error
	}
	tids := make(chan int, 1)
	done := make(chan result, 1)
	go func() {
		// One thread, whose id the test signals: a signal to the process
		// may go to any of its threads.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tids <- syscall.Gettid()
		fd, err := syscall.Open(path, syscall.O_RDONLY, 0)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer syscall.Close(fd)
		buf := make([]byte, 64)
		n, err := syscall.Read(fd, buf)
		if err != nil {
			done <- result{err: err}
			return
		}
		done <- result{got: buf[:n]}
	}()
	tid := <-tids
	<-gate.entered
	if err := syscall.Tgkill(os.Getpid(), tid, syscall.SIGURG); err != nil {
		t.Fatal(err)
	}
	// Either the mount notes the interrupt and goes on (then the open is
	// let through), or the open ends at once: with EINTR from a mount that
	// cancels, or EIO from one whose catalog failed on the cancellation.
	select {
	case <-noted.c:
		close(gate.release)
	case r := <-done:
		t.Fatalf("open ended on the signal, before it was let through: %v", r.err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("open or read of a file whose open got a signal: %v", r.err)
	}
	if string(r.got) != string(want) {
		t.Fatalf("read %q, want %q", r.got, want)
	}
}
