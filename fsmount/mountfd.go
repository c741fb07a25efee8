package fsmount

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// newServer mounts dir and starts serving it. With serveOnly and the
// privilege to call mount(2), it mounts the FUSE device itself and hands
// go-fuse the connection as /dev/fd/N: go-fuse then skips its poll probe,
// the open of a file in the mount from this process that WaitMount does
// (see Options.ServeOnly for why that open is dangerous). Otherwise it is
// go-fuse's own mount, probe included. byFD tells Unmount which way to go.
func newServer(raw fuse.RawFileSystem, dir string, o *fuse.MountOptions, serveOnly bool) (srv *fuse.Server, byFD bool, err error) {
	if serveOnly {
		fd, err := mountFD(dir, o)
		switch {
		case err == nil:
			fo := *o
			// The connection exists: go-fuse must not mount again.
			fo.DirectMount, fo.DirectMountStrict = false, false
			srv, err := fuse.NewServer(raw, fmt.Sprintf("/dev/fd/%d", fd), &fo)
			if err != nil {
				syscall.Close(fd)
				_ = syscall.Unmount(dir, syscall.MNT_DETACH)
				return nil, false, err
			}
			// NewServer answered INIT; the magic mount point makes
			// WaitMount return without the probe.
			go srv.Serve()
			if err := srv.WaitMount(); err != nil {
				return nil, false, err
			}
			return srv, true, nil
		case !errors.Is(err, syscall.EPERM):
			return nil, false, err
		}
		// Not privileged: fusermount's mount, with the probe.
	}
	srv, err = fuse.NewServer(raw, dir, o)
	if err != nil {
		return nil, false, err
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		return nil, false, err
	}
	return srv, false, nil
}

// mountFD opens /dev/fuse and mounts it at dir with the options go-fuse's
// direct mount would pass, returning the connection's descriptor.
func mountFD(dir string, o *fuse.MountOptions) (int, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return -1, err
	}
	fd, err := syscall.Open("/dev/fuse", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open /dev/fuse: %w", err)
	}
	data := []string{
		fmt.Sprintf("fd=%d", fd),
		fmt.Sprintf("rootmode=%o", st.Mode&syscall.S_IFMT),
		fmt.Sprintf("user_id=%d", os.Geteuid()),
		fmt.Sprintf("group_id=%d", os.Getegid()),
		fmt.Sprintf("max_read=%d", o.MaxWrite),
	}
	data = append(data, o.Options...)
	if o.AllowOther {
		data = append(data, "allow_other")
	}
	source := o.FsName
	if source == "" {
		source = o.Name
	}
	err = syscall.Mount(source, dir, "fuse."+o.Name, syscall.MS_NOSUID|syscall.MS_NODEV, strings.Join(data, ","))
	if err != nil {
		syscall.Close(fd)
		return -1, fmt.Errorf("mount(2): %w", err)
	}
	return fd, nil
}

// unmountFD unmounts what mountFD mounted, retrying a busy mount a few
// times as go-fuse does (the kernel may not have seen the last release
// yet); the caller falls back to a lazy unmount.
func unmountFD(dir string) error {
	var err error
	delay := time.Duration(0)
	for try := 0; try < 5; try++ {
		if err = syscall.Unmount(dir, 0); err == nil || !errors.Is(err, syscall.EBUSY) {
			return err
		}
		delay = 2*delay + 5*time.Millisecond
		time.Sleep(delay)
	}
	return err
}
