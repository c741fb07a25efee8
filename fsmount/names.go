package fsmount

import (
	"strings"
)

// validName reports whether a key component can be a POSIX file name. Keys
// with components that cannot (empty from "//" or a leading "/", "." and
// "..", longer than 255 bytes, or holding NUL) are hidden from the mount;
// they stay reachable over S3.
func validName(c string) bool {
	return c != "" && c != "." && c != ".." && len(c) <= 255 && !strings.ContainsRune(c, 0)
}
