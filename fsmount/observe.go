package fsmount

import (
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// Observer is told about FUSE operations as they finish: the operation's
// name, whether it failed and how long the daemon took to answer it (not
// the kernel round trip around it). The daemon's Prometheus metrics implement it.
// A lookup of a name that does not exist is not a failure: the kernel asks
// for names that do not exist all the time (negative lookups).
type Observer interface {
	ObserveFUSE(op string, failed bool, took time.Duration)
}

// observedFS reports the operations users see in their tools; the rest
// (locks, ioctl, forget, init) pass through unobserved.
type observedFS struct {
	fuse.RawFileSystem
	obs Observer
}

// done reports an operation that started at t0. Callers may pass
// time.Now() and the operation's call as arguments in that order: Go
// evaluates calls in an argument list left to right, so t0 is taken first.
func (o *observedFS) done(op string, t0 time.Time, st fuse.Status) fuse.Status {
	o.obs.ObserveFUSE(op, st != fuse.OK, time.Since(t0))
	return st
}

func (o *observedFS) Lookup(c <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	t0 := time.Now()
	st := o.RawFileSystem.Lookup(c, h, name, out)
	o.obs.ObserveFUSE("lookup", st != fuse.OK && st != fuse.ENOENT, time.Since(t0))
	return st
}

func (o *observedFS) GetAttr(c <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	return o.done("getattr", time.Now(), o.RawFileSystem.GetAttr(c, in, out))
}

func (o *observedFS) SetAttr(c <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	return o.done("setattr", time.Now(), o.RawFileSystem.SetAttr(c, in, out))
}

func (o *observedFS) Mkdir(c <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	return o.done("mkdir", time.Now(), o.RawFileSystem.Mkdir(c, in, name, out))
}

func (o *observedFS) Unlink(c <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	return o.done("unlink", time.Now(), o.RawFileSystem.Unlink(c, h, name))
}

func (o *observedFS) Rmdir(c <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	return o.done("rmdir", time.Now(), o.RawFileSystem.Rmdir(c, h, name))
}

func (o *observedFS) Rename(c <-chan struct{}, in *fuse.RenameIn, from, to string) fuse.Status {
	return o.done("rename", time.Now(), o.RawFileSystem.Rename(c, in, from, to))
}

func (o *observedFS) Symlink(c <-chan struct{}, h *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	return o.done("symlink", time.Now(), o.RawFileSystem.Symlink(c, h, target, name, out))
}

func (o *observedFS) Create(c <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	return o.done("create", time.Now(), o.RawFileSystem.Create(c, in, name, out))
}

func (o *observedFS) Open(c <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	return o.done("open", time.Now(), o.RawFileSystem.Open(c, in, out))
}

func (o *observedFS) Read(c <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	t0 := time.Now()
	r, st := o.RawFileSystem.Read(c, in, buf)
	return r, o.done("read", t0, st)
}

func (o *observedFS) Write(c <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	t0 := time.Now()
	n, st := o.RawFileSystem.Write(c, in, data)
	return n, o.done("write", t0, st)
}

// Writev is how go-fuse hands over writes that arrive in pieces; to a user
// it is the same write.
func (o *observedFS) Writev(c <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	t0 := time.Now()
	n, st := o.RawFileSystem.Writev(c, in, data)
	return n, o.done("write", t0, st)
}

func (o *observedFS) Flush(c <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	return o.done("flush", time.Now(), o.RawFileSystem.Flush(c, in))
}

func (o *observedFS) Fsync(c <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	return o.done("fsync", time.Now(), o.RawFileSystem.Fsync(c, in))
}

func (o *observedFS) ReadDir(c <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return o.done("readdir", time.Now(), o.RawFileSystem.ReadDir(c, in, out))
}

func (o *observedFS) ReadDirPlus(c <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return o.done("readdirplus", time.Now(), o.RawFileSystem.ReadDirPlus(c, in, out))
}

func (o *observedFS) StatFs(c <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	return o.done("statfs", time.Now(), o.RawFileSystem.StatFs(c, h, out))
}

// GetXAttr is asked for by ls -l (the SELinux label, the POSIX ACL) for
// every entry unless the mount answers it is not supported.
func (o *observedFS) GetXAttr(c <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	t0 := time.Now()
	n, st := o.RawFileSystem.GetXAttr(c, h, attr, dest)
	o.obs.ObserveFUSE("getxattr", st != fuse.OK && st != fuse.ENOATTR && st != fuse.ERANGE && st != fuse.Status(syscall.EOPNOTSUPP), time.Since(t0))
	return n, st
}
