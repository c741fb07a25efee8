package fsmount

import (
	"context"
	"strings"
	"syscall"
)

// notUserXattr answers for extended attributes outside the user namespace
// (security.selinux, security.capability, system.posix_acl_access, …),
// which the mount does not store: EOPNOTSUPP, at once, without a catalog
// read. ls -l asks for security.selinux and system.posix_acl_access of
// every entry; on EOPNOTSUPP (not ENODATA) it stops asking for the rest of
// the file system, which saves two FUSE round trips per entry. The kernel
// reads "not supported" as "no capabilities, no ACL", as it reads ENODATA.
// Answering ENOSYS would stop the kernel asking too, but for every getxattr
// of the mount, user.* included.
func notUserXattr(attr string) bool {
	return !strings.HasPrefix(attr, "user.")
}

// Getxattr of a directory: directories hold no user metadata (ENODATA), and
// other namespaces are not supported.
func (d *dirNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if notUserXattr(attr) {
		return 0, syscall.EOPNOTSUPP
	}
	return 0, syscall.ENODATA
}

// Getxattr of the mount root, as of a directory.
func (r *rootNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if notUserXattr(attr) {
		return 0, syscall.EOPNOTSUPP
	}
	return 0, syscall.ENODATA
}
