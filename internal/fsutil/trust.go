package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// ErrUntrusted is wrapped by every refusal of CheckTrusted and CheckDir:
// a file or directory another user could have prepared or could change.
var ErrUntrusted = errors.New("not trusted")

// UntrustedError says which path was refused and why, in words an operator
// can act on.
type UntrustedError struct {
	What   string // "data directory", "master key", …
	Path   string
	Reason string
}

func (e *UntrustedError) Error() string {
	return fmt.Sprintf("refusing %s %s: %s", e.What, e.Path, e.Reason)
}

func (e *UntrustedError) Unwrap() error { return ErrUntrusted }

// TrustedOwner reports whether uid may own the files excd relies on: the
// user excd runs as, or root (who can change anything anyway).
func TrustedOwner(uid uint32) bool {
	return uid == 0 || uid == uint32(os.Geteuid())
}

// CheckTrusted refuses fi (of path, named what in the message) unless it is
// owned by TrustedOwner and no user but its owner can write it. Group write
// counts as others': excd cannot tell who is in the group. For directories
// this is what keeps anyone else from planting a file or symlink in them,
// or replacing one.
func CheckTrusted(what, path string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return &UntrustedError{what, path, "cannot read its owner"}
	}
	if !TrustedOwner(st.Uid) {
		return &UntrustedError{what, path, fmt.Sprintf(
			"it belongs to uid %d, not to the user excd runs as (uid %d) or root; another user may have prepared it",
			st.Uid, os.Geteuid())}
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return &UntrustedError{what, path, fmt.Sprintf(
			"its mode %04o lets other users write it; chmod go-w %s", fi.Mode().Perm(), path)}
	}
	return nil
}

// CheckDir checks the directory at path with CheckTrusted, if it exists. A
// symlink is followed only if the link itself belongs to TrustedOwner (an
// operator may move a directory elsewhere and link it; a link another user
// planted is refused), and the directory it leads to is checked in turn.
func CheckDir(what, path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, path, err)
	}
	if fi.Mode().Type() == fs.ModeSymlink {
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || !TrustedOwner(st.Uid) {
			return &UntrustedError{what, path, "it is a symlink made by another user"}
		}
		if fi, err = os.Stat(path); err != nil {
			return fmt.Errorf("%s %s: %w", what, path, err)
		}
	}
	if !fi.IsDir() {
		return &UntrustedError{what, path, "it is not a directory"}
	}
	return CheckTrusted(what, path, fi)
}
