package fsmount

import (
	"log/slog"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// DefaultInterruptGrace is Options.InterruptGrace when it is 0.
const DefaultInterruptGrace = 5 * time.Second

// patientFS makes the kernel's interrupts wait. The kernel interrupts a
// request (FUSE_INTERRUPT; go-fuse then cancels the operation's context)
// whenever the calling process gets any signal it does not ignore: the Go
// runtime's preemption signal, SIGCHLD, SIGWINCH, a timer. Programs do not
// retry EINTR from open, stat, read or close of a regular file (no local
// file system returns it there), and an operation the catalog cancels in
// flight (PostgreSQL ends the statement) failed: a process appending to a
// file under load got "open: input/output error" (docs/scale-out.md,
// "Under contention"). So an operation interrupted goes on, as a local
// file system's would, and is cancelled (EINTR) only if it is still
// running grace later: a process killed while a stuck catalog holds its
// request then still gets out (the kernel waits for the answer to a
// request the daemon has, even for SIGKILL). Lock waits (F_SETLKW) are
// interrupted at once, as fcntl(2) is.
type patientFS struct {
	fuse.RawFileSystem
	grace time.Duration
	log   *slog.Logger

	// ops are the operations in flight. One goroutine (watch), running
	// while there are any, looks at their kernel cancel channels every
	// patientTick: a goroutine per operation to wait on its channel cost
	// more than a metadata operation's own work on a busy machine.
	mu       sync.Mutex
	ops      map[*patientOp]struct{}
	watching bool
}

type patientOp struct {
	c           <-chan struct{} // the kernel's: closed on FUSE_INTERRUPT
	out         chan struct{}   // the operation's: closed grace later
	interrupted time.Time       // when watch saw c closed; zero before
}

// patientTick is how often watch looks: how late an interrupt is noticed,
// and how much later than grace an operation is cancelled.
const patientTick = 100 * time.Millisecond

// patient returns the cancel channel an operation sees instead of c: it
// closes about grace after c does, unless end is called first.
func (p *patientFS) patient(c <-chan struct{}) (cancel <-chan struct{}, end func()) {
	o := &patientOp{c: c, out: make(chan struct{})}
	p.mu.Lock()
	if p.ops == nil {
		p.ops = make(map[*patientOp]struct{})
	}
	p.ops[o] = struct{}{}
	if !p.watching {
		p.watching = true
		go p.watch()
	}
	p.mu.Unlock()
	return o.out, func() {
		p.mu.Lock()
		delete(p.ops, o)
		p.mu.Unlock()
	}
}

// watch notes the interrupts of the operations in flight and cancels those
// still running grace after theirs; it ends when none is in flight.
func (p *patientFS) watch() {
	t := time.NewTicker(patientTick)
	defer t.Stop()
	for now := range t.C {
		p.mu.Lock()
		if len(p.ops) == 0 {
			p.watching = false
			p.mu.Unlock()
			return
		}
		for o := range p.ops {
			if o.interrupted.IsZero() {
				select {
				case <-o.c:
					o.interrupted = now
					p.log.Debug("fsmount: request interrupted; it goes on", "grace", p.grace)
				default:
					continue
				}
			}
			if now.Sub(o.interrupted) >= p.grace {
				close(o.out)
				delete(p.ops, o) // its end is then a no-op
			}
		}
		p.mu.Unlock()
	}
}

func (p *patientFS) Lookup(c <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.Lookup(c, h, name, out)
}

func (p *patientFS) GetAttr(c <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.GetAttr(c, in, out)
}

func (p *patientFS) SetAttr(c <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.SetAttr(c, in, out)
}

func (p *patientFS) Mknod(c <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.Mknod(c, in, name, out)
}

func (p *patientFS) Mkdir(c <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.Mkdir(c, in, name, out)
}

func (p *patientFS) Unlink(c <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.Unlink(c, h, name)
}

func (p *patientFS) Rmdir(c <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.Rmdir(c, h, name)
}

func (p *patientFS) Rename(c <-chan struct{}, in *fuse.RenameIn, from, to string) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.Rename(c, in, from, to)
}

func (p *patientFS) Link(c <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.Link(c, in, name, out)
}

func (p *patientFS) Symlink(c <-chan struct{}, h *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.Symlink(c, h, target, name, out)
}

func (p *patientFS) Readlink(c <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.Readlink(c, h)
}

func (p *patientFS) Access(c <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.Access(c, in)
}

func (p *patientFS) GetXAttr(c <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.GetXAttr(c, h, attr, dest)
}

func (p *patientFS) ListXAttr(c <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.ListXAttr(c, h, dest)
}

func (p *patientFS) SetXAttr(c <-chan struct{}, in *fuse.SetXAttrIn, attr string, data []byte) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.SetXAttr(c, in, attr, data)
}

func (p *patientFS) RemoveXAttr(c <-chan struct{}, h *fuse.InHeader, attr string) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.RemoveXAttr(c, h, attr)
}

func (p *patientFS) Create(c <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.Create(c, in, name, out)
}

func (p *patientFS) Tmpfile(c <-chan struct{}, in *fuse.CreateIn, out *fuse.CreateOut) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.Tmpfile(c, in, out)
}

func (p *patientFS) Open(c <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.Open(c, in, out)
}

func (p *patientFS) Read(c <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.Read(c, in, buf)
}

func (p *patientFS) Lseek(c <-chan struct{}, in *fuse.LseekIn, out *fuse.LseekOut) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.Lseek(c, in, out)
}

func (p *patientFS) Release(c <-chan struct{}, in *fuse.ReleaseIn) {
	c, end := p.patient(c)
	defer end()
	p.RawFileSystem.Release(c, in)
}

func (p *patientFS) Write(c <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.Write(c, in, data)
}

func (p *patientFS) Writev(c <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.Writev(c, in, data)
}

func (p *patientFS) CopyFileRange(c <-chan struct{}, in *fuse.CopyFileRangeIn) (uint32, fuse.Status) {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.CopyFileRange(c, in)
}

func (p *patientFS) Flush(c <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.Flush(c, in)
}

func (p *patientFS) Fsync(c <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.Fsync(c, in)
}

func (p *patientFS) Fallocate(c <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.Fallocate(c, in)
}

func (p *patientFS) OpenDir(c <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.OpenDir(c, in, out)
}

func (p *patientFS) ReadDir(c <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.ReadDir(c, in, out)
}

func (p *patientFS) ReadDirPlus(c <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.ReadDirPlus(c, in, out)
}

func (p *patientFS) FsyncDir(c <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.FsyncDir(c, in)
}

func (p *patientFS) StatFs(c <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.StatFs(c, h, out)
}

func (p *patientFS) Statx(c <-chan struct{}, in *fuse.StatxIn, out *fuse.StatxOut) fuse.Status {
	c, end := p.patient(c)
	defer end()
	return p.RawFileSystem.Statx(c, in, out)
}
