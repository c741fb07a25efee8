package fsmount

import (
	"strings"
	"syscall"
)

// validName reports whether a key component can be a POSIX file name. Keys
// with components that cannot (empty from "//" or a leading "/", "." and
// "..", longer than 255 bytes, or holding NUL) are hidden from the mount;
// they stay reachable over S3.
func validName(c string) bool {
	return c != "" && c != "." && c != ".." && len(c) <= nameMax && !strings.ContainsRune(c, 0)
}

const (
	nameMax = 255  // NAME_MAX: statfs reports it, and longer names are hidden
	keyMax  = 1024 // S3's key limit, in bytes
)

// checkName checks a name the kernel asks to create (or to look up) in the
// directory at prefix: ENAMETOOLONG for one longer than NAME_MAX, or one
// whose key (with the "/" of a directory's marker, for dir) S3 could not
// address. Creating either would store an object the mount then hides,
// which could be neither listed nor removed through it.
func checkName(prefix, name string, dir bool) syscall.Errno {
	n := len(prefix) + len(name)
	if dir {
		n++
	}
	if len(name) > nameMax || n > keyMax {
		return syscall.ENAMETOOLONG
	}
	return 0
}
