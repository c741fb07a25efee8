package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/fsmount"
	"excloud.dev/buckets/internal/config"
)

// mounts holds each daemon's FUSE mounts. It lives here rather than in
// Daemon so that the mount lifecycle stays in this file.
var mounts struct {
	mu sync.Mutex
	by map[*Daemon][]*fsmount.Server
}

// startMounts mounts an org's buckets at each of dirs. An entry is "DIR"
// (the default org, the one first start created) or "ORG=DIR" (an org by name
// or id), optionally followed by options overriding d.cfg.MountOptions
// (config.ParseMount). A missing directory is created; a stale mount left
// at it by a crashed daemon (stat fails with ENOTCONN) is lazily unmounted
// first. On error, mounts made so far are unmounted.
func (d *Daemon) startMounts(dirs []string) (err error) {
	if len(dirs) == 0 {
		return nil
	}
	defer func() {
		if err != nil {
			d.stopMounts()
		}
	}()
	ctx := context.Background()
	def := config.DefaultMountOptions()
	if d.cfg.MountOptions != nil {
		def = *d.cfg.MountOptions
	}
	for _, spec := range dirs {
		mnt, err := config.ParseMount(spec, def)
		if err != nil {
			return err
		}
		org, dir := mnt.Org, mnt.Dir
		orgID, err := d.mountOrg(ctx, org)
		if err != nil {
			return fmt.Errorf("mount %s: %w", spec, err)
		}
		if err := clearStaleMount(dir); err != nil {
			return fmt.Errorf("mount %s: %w", dir, err)
		}
		srv, err := fsmount.Mount(ctx, dir, d.layer, d.db, orgID, d.mountOptions(mnt.Options, dir))
		if err != nil {
			return err
		}
		mounts.mu.Lock()
		if mounts.by == nil {
			mounts.by = make(map[*Daemon][]*fsmount.Server)
		}
		mounts.by[d] = append(mounts.by[d], srv)
		mounts.mu.Unlock()
		d.log.Info("mounted", "dir", dir, "org", orgID)
	}
	return nil
}

// mountOptions maps the owner model of one mount to fsmount's options:
// an owner of -1 is the daemon's user.
func (d *Daemon) mountOptions(o config.MountOptions, dir string) fsmount.Options {
	uid, gid := uint32(os.Geteuid()), uint32(os.Getegid())
	if o.UID >= 0 {
		uid = uint32(o.UID)
	}
	if o.GID >= 0 {
		gid = uint32(o.GID)
	}
	umask := o.Umask
	return fsmount.Options{
		AllowOther:   o.AllowOther,
		UID:          uid,
		GID:          gid,
		Umask:        &umask,
		TrustS3Attrs: o.TrustS3Attrs,
		AttrKey:      d.attrKey,
		DataDir:      d.cfg.DataDir,
		Logger:       d.log.With("component", "fsmount", "mount", dir),
		Observer:     d.metrics,
		ServeOnly:    d.cfg.ServeOnlyMounts,
	}
}

// mountOrg resolves an org name or id; "" is the default org
// (catalog.DB.DefaultOrg), never merely the first org by name: that would
// hand another tenant's buckets to whoever uses the mount as soon as an org
// sorting before "default" exists.
func (d *Daemon) mountOrg(ctx context.Context, org string) (string, error) {
	if org != "" {
		o, err := d.db.Org(ctx, org)
		if err != nil {
			return "", err
		}
		return o.ID, nil
	}
	o, err := d.db.DefaultOrg(ctx)
	if errors.Is(err, catalog.ErrNoDefaultOrg) {
		return "", errors.New("the catalog has no default org to mount; name the org: ORG=DIR")
	}
	if err != nil {
		return "", err
	}
	return o.ID, nil
}

// maxStaleMounts bounds how many dead mounts stacked at one directory (by
// daemons before the fix below) a start detaches.
const maxStaleMounts = 16

// clearStaleMount creates dir if missing, and detaches every dead FUSE
// mount at it (its server is gone: every access fails with ENOTCONN). The
// check bypasses the kernel's attribute cache: for up to the attribute
// timeout after a crash, a plain stat of the dead mount's root is answered
// from that cache and succeeds, and a restart in that window (systemd's
// default RestartSec is 100 ms) would mount on top of the dead mount. The
// next crash would then leave two dead mounts, and detaching only the top
// one would leave the start failing with ENOTCONN.
func clearStaleMount(dir string) error {
	for range maxStaleMounts {
		err := statNoCache(dir)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, os.ErrNotExist):
			return os.MkdirAll(dir, 0o755)
		case errors.Is(err, syscall.ENOTCONN):
			if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
				return fmt.Errorf("detach stale mount: %w", err)
			}
		default:
			return err
		}
	}
	return fmt.Errorf("more than %d dead mounts stacked at %s", maxStaleMounts, dir)
}

// statNoCache stats dir asking the file system itself (AT_STATX_FORCE_SYNC),
// so that a FUSE mount whose server died answers ENOTCONN.
func statNoCache(dir string) error {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, dir, unix.AT_STATX_FORCE_SYNC, unix.STATX_BASIC_STATS, &st); err != nil {
		return &fs.PathError{Op: "statx", Path: dir, Err: err}
	}
	return nil
}

// stopMounts commits every file with pending writes and unmounts; a busy
// mount is detached lazily. Call it before the catalog closes.
func (d *Daemon) stopMounts() error {
	mounts.mu.Lock()
	ms := mounts.by[d]
	delete(mounts.by, d)
	mounts.mu.Unlock()
	var errs []error
	for _, m := range ms {
		if err := m.Unmount(); err != nil {
			errs = append(errs, err)
		} else {
			d.log.Info("unmounted", "dir", m.Dir())
		}
	}
	return errors.Join(errs...)
}
