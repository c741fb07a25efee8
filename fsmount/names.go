package fsmount

import (
	"errors"
	"net/netip"
	"strings"
)

// validName reports whether a key component can be a POSIX file name. Keys
// with components that cannot (empty from "//" or a leading "/", "." and
// "..", longer than 255 bytes, or holding NUL) are hidden from the mount;
// they stay reachable over S3.
func validName(c string) bool {
	return c != "" && c != "." && c != ".." && len(c) <= 255 && !strings.ContainsRune(c, 0)
}

// validBucketName is the S3 bucket naming rule (as the gateway applies it):
// 3–63 characters of lowercase letters, digits, '.' and '-', starting and
// ending with a letter or digit, no "..", not an IP address.
func validBucketName(name string) error {
	bad := errors.New("invalid bucket name")
	if len(name) < 3 || len(name) > 63 {
		return bad
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return bad
		}
	}
	first, last := name[0], name[len(name)-1]
	if first == '.' || first == '-' || last == '.' || last == '-' || strings.Contains(name, "..") {
		return bad
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return bad
	}
	return nil
}
