package fsmount

import (
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"excloud.dev/buckets/catalog"
)

// Metadata keys (stored as x-amz-meta-<key>) that carry POSIX attributes, as
// s3fs and rclone read and write them.
const (
	metaMode  = "mode"  // decimal st_mode, type bits included (s3fs); octal with a leading 0 (rclone) is read too
	metaUID   = "uid"   // decimal
	metaGID   = "gid"   // decimal
	metaMtime = "mtime" // seconds since the epoch, "1700000000.123456789" (rclone); s3fs reads the integer part
)

// reserved metadata keys are attributes, not xattrs.
var reserved = map[string]bool{metaMode: true, metaUID: true, metaGID: true, metaMtime: true, "atime": true, "ctime": true, metaSeal: true}

const blockSize = 4096

// attrs are a node's POSIX attributes, derived from a manifest.
type attrs struct {
	mode     uint32 // type and permission bits
	uid, gid uint32
	size     int64
	mtime    time.Time
}

// attrsOf derives attributes from m (nil: a directory without marker);
// typ is the node's type bits (S_IFREG, S_IFDIR, S_IFLNK).
func (f *fsys) attrsOf(m *catalog.Manifest, typ uint32) attrs {
	a := attrs{uid: f.opts.UID, gid: f.opts.GID}
	perm := f.defaultPerm(typ)
	if m == nil {
		a.mode = typ | perm
		a.mtime = time.Now()
		return a
	}
	a.size = m.Size
	a.mtime = m.ModTime
	// Mode and owner only when a mount wrote them, or the operator trusts
	// S3 clients with them (owner.go).
	if f.trusted(m.Meta) {
		if v, ok := parseMode(m.Meta[metaMode]); ok && typ != syscall.S_IFLNK {
			perm = v & 0o7777
		}
		if v, err := strconv.ParseUint(m.Meta[metaUID], 10, 32); err == nil {
			a.uid = uint32(v)
		}
		if v, err := strconv.ParseUint(m.Meta[metaGID], 10, 32); err == nil {
			a.gid = uint32(v)
		}
	}
	if t, ok := parseMtime(m.Meta[metaMtime]); ok {
		a.mtime = t
	}
	if typ == syscall.S_IFDIR {
		a.size = 0
	}
	a.mode = typ | perm
	return a
}

// typeOf tells a symlink from a regular file by its mode metadata.
func typeOf(m *catalog.Manifest) uint32 {
	if v, ok := parseMode(m.Meta[metaMode]); ok && v&syscall.S_IFMT == syscall.S_IFLNK {
		return syscall.S_IFLNK
	}
	return syscall.S_IFREG
}

func parseMode(s string) (uint32, bool) {
	if s == "" {
		return 0, false
	}
	base := 10
	if len(s) > 1 && s[0] == '0' {
		base = 8
	}
	v, err := strconv.ParseUint(s, base, 32)
	return uint32(v), err == nil
}

func parseMtime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		sec, frac, _ := strings.Cut(s, ".")
		n, err := strconv.ParseInt(sec, 10, 64)
		if err != nil {
			return time.Unix(int64(f), 0), true
		}
		var ns int64
		if frac != "" {
			frac = (frac + "000000000")[:9]
			ns, _ = strconv.ParseInt(frac, 10, 64)
		}
		return time.Unix(n, ns), true
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

func formatMtime(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

// fill writes a into a FUSE attribute reply.
func (a attrs) fill(out *fuse.Attr) {
	out.Mode = a.mode
	out.Size = uint64(a.size)
	out.Blocks = (uint64(a.size) + 511) / 512
	out.Blksize = blockSize
	out.Uid, out.Gid = a.uid, a.gid
	out.Nlink = 1
	if a.mode&syscall.S_IFMT == syscall.S_IFDIR {
		out.Nlink = 2
	}
	out.SetTimes(nil, &a.mtime, &a.mtime)
}

// applySetattr returns meta with the attribute changes of in applied, and
// whether any applied. A change of mode or owner stores all three, sealed,
// starting from what the mount showed: the kernel checked the change
// against those, so values an S3 client wrote are never sealed.
func (f *fsys) applySetattr(meta map[string]string, typ uint32, in *fuse.SetAttrIn) (map[string]string, bool) {
	out := maps.Clone(meta)
	if out == nil {
		out = map[string]string{}
	}
	changed := false
	mode, modeSet := in.GetMode()
	uid, uidSet := in.GetUID()
	gid, gidSet := in.GetGID()
	if modeSet || uidSet || gidSet {
		cur := f.attrsOf(&catalog.Manifest{Meta: meta}, typ)
		if !modeSet {
			mode = cur.mode
		}
		if !uidSet {
			uid = cur.uid
		}
		if !gidSet {
			gid = cur.gid
		}
		f.setOwner(out, typ|mode&0o7777, uid, gid)
		changed = true
	}
	if t, ok := in.GetMTime(); ok {
		out[metaMtime] = formatMtime(t)
		changed = true
	}
	return out, changed
}

// newMeta is the metadata of an object created through the mount: mode and
// owner of the creating process, as s3fs records them, sealed.
func (f *fsys) newMeta(typ, mode uint32, caller *fuse.Caller) map[string]string {
	m := map[string]string{}
	uid, gid := f.opts.UID, f.opts.GID
	if caller != nil {
		uid, gid = caller.Uid, caller.Gid
	}
	f.setOwner(m, typ|mode&0o7777, uid, gid)
	return m
}
