// Package faulttest holds the fault-injection tests of issue 7: a real excd
// (internal/excdtest) on a data directory that fills up (a size-limited
// tmpfs, or a loop-mounted ext4 image where losetup works), whose chunk
// files are corrupted, truncated or deleted behind its back, and whose
// directories it may not read or write. Each test asserts what an operator
// or an S3 client would notice: the status and code of a refused request,
// the bytes of objects stored before, the daemon's log and exit message,
// and what `exc scrub` reports. They need root (mounts, running the daemon
// as another user) and /dev/fuse for the mount cases, and skip without.
//
// The package has no non-test code besides this comment.
package faulttest
