package config

import (
	"errors"
	"fmt"
	"os/user"
	"slices"
	"strconv"
	"strings"
)

// MountOptions are a FUSE mount's owner model (docs/service.md, "The
// mount's owner model"). The mount_* keys set them for every mount; a
// mount's own options (ParseMount) override them for that mount.
type MountOptions struct {
	// UID and GID own objects whose attributes are not trusted; -1 means
	// the daemon's.
	UID, GID int64
	// Umask masks 0666 (files) and 0777 (directories) for those objects.
	Umask uint32
	// AllowOther lets other local users in; the kernel then checks the
	// mode and owner the mount shows.
	AllowOther bool
	// TrustS3Attrs honours mode, uid and gid metadata written by S3
	// clients, not only those written through a mount.
	TrustS3Attrs bool
}

// DefaultMountOptions: owned by the daemon's user, 0600 files and 0700
// directories, no one else let in, S3 clients' attributes ignored.
func DefaultMountOptions() MountOptions {
	return MountOptions{UID: -1, GID: -1, Umask: 0o077}
}

// Mount is one parsed mount point.
type Mount struct {
	Org     string // name or id; "" is the default org
	Dir     string
	Options MountOptions
}

// mountOptionNames are the options a mount entry may carry after its
// directory, ":"-separated.
var mountOptionNames = []string{"uid", "gid", "umask", "allow_other", "trust_s3_attrs"}

// ParseMount parses a mounts entry, "[ORG=]DIR[:OPTION]...", each OPTION
// one of uid=N, gid=N (a number or a name), umask=OCTAL, allow_other[=BOOL]
// and trust_s3_attrs[=BOOL], applied over def. Options are the trailing
// ":"-separated parts that all name an option, so a directory may hold
// ":" as long as what follows it is no option name.
func ParseMount(spec string, def MountOptions) (Mount, error) {
	parts := strings.Split(spec, ":")
	first := len(parts)
	for i := len(parts) - 1; i >= 1; i-- {
		name, _, _ := strings.Cut(parts[i], "=")
		if !slices.Contains(mountOptionNames, name) {
			break
		}
		first = i
	}
	m := Mount{Options: def}
	head := strings.Join(parts[:first], ":")
	org, dir, hasOrg := strings.Cut(head, "=")
	if !hasOrg {
		org, dir = "", head
	}
	if hasOrg && org == "" {
		return Mount{}, fmt.Errorf("mount %q: empty org before \"=\"", spec)
	}
	if dir == "" {
		return Mount{}, fmt.Errorf("mount %q: empty mount point", spec)
	}
	m.Org, m.Dir = org, dir
	for _, p := range parts[first:] {
		name, val, hasVal := strings.Cut(p, "=")
		var err error
		switch name {
		case "uid":
			err = parseID(&m.Options.UID, val, lookupUser)
		case "gid":
			err = parseID(&m.Options.GID, val, lookupGroup)
		case "umask":
			err = parseUmask(&m.Options.Umask, val)
		case "allow_other":
			err = parseFlag(&m.Options.AllowOther, val, hasVal)
		case "trust_s3_attrs":
			err = parseFlag(&m.Options.TrustS3Attrs, val, hasVal)
		}
		if err != nil {
			return Mount{}, fmt.Errorf("mount %q: option %s: %w", spec, name, err)
		}
	}
	return m, nil
}

func lookupUser(name string) (string, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return "", err
	}
	return u.Uid, nil
}

func lookupGroup(name string) (string, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		return "", err
	}
	return g.Gid, nil
}

// parseID reads a uid or gid: a number, a name looked up in the system's
// user database, or "" for the daemon's (-1).
func parseID(dst *int64, v string, lookup func(string) (string, error)) error {
	if v == "" {
		*dst = -1
		return nil
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		if n == 1<<32-1 {
			return fmt.Errorf("invalid id %q", v)
		}
		*dst = int64(n)
		return nil
	}
	id, err := lookup(v)
	if err != nil {
		return fmt.Errorf("invalid id %q: not a number, and %w", v, err)
	}
	n, err := strconv.ParseUint(id, 10, 32)
	if err != nil {
		return fmt.Errorf("invalid id %q: looked up as %q", v, id)
	}
	*dst = int64(n)
	return nil
}

func fmtID(id int64) string {
	if id < 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}

// parseUmask reads an octal umask ("077", "0022").
func parseUmask(dst *uint32, v string) error {
	n, err := strconv.ParseUint(v, 8, 32)
	if err != nil || n > 0o777 {
		return fmt.Errorf("invalid umask %q: want octal digits, e.g. \"077\" or \"022\"", v)
	}
	*dst = uint32(n)
	return nil
}

func fmtUmask(u uint32) string { return fmt.Sprintf("%03o", u) }

// parseFlag reads a boolean; a mount option given without "=" is true.
func parseFlag(dst *bool, v string, hasVal bool) error {
	if !hasVal {
		*dst = true
		return nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return errors.New("invalid value " + strconv.Quote(v) + ": want true or false")
	}
	*dst = b
	return nil
}
