package admin

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"syscall"

	"excloud.dev/buckets/internal/fsutil"
)

// ServiceUser is the system account the packaged excd.service runs as
// (created by the .deb's postinst). exc, run as root, must reach the admin
// socket of that service: the socket and the listening process then belong
// to this account, not to root. Only root can create an account, so a
// socket of this user's is the service's, not a planted one.
//
// A variable so tests can name an account that exists on every machine.
var ServiceUser = "excd"

// serviceUID returns the uid of ServiceUser, if that account exists. It is
// looked up at each dial (a read of /etc/passwd in the static build) so an
// account created after exc started counts, and a deleted one stops
// counting.
func serviceUID() (uint32, bool) {
	u, err := user.Lookup(ServiceUser)
	if err != nil {
		return 0, false
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(uid), true
}

// trustedServer reports whether a socket owned by uid, or a listener
// running as uid, may be excd for this client: root, this user, or the
// packaged service account.
func trustedServer(uid uint32) bool {
	if fsutil.TrustedOwner(uid) {
		return true
	}
	su, ok := serviceUID()
	return ok && uid == su
}

// checkServerSocketOwner is checkSocketOwner for a client: it also accepts
// a socket of the service account.
func checkServerSocketOwner(path string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return &fsutil.UntrustedError{What: "admin socket", Path: path, Reason: "cannot read its owner"}
	}
	if !trustedServer(st.Uid) {
		return &fsutil.UntrustedError{What: "admin socket", Path: path,
			Reason: fmt.Sprintf("it belongs to uid %d, neither root, this user (uid %d) nor the service user %s: it is not excd's", st.Uid, os.Geteuid(), ServiceUser)}
	}
	return nil
}
