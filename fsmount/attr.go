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
	"excloud.dev/buckets/objects"
)

// Metadata keys (stored as x-amz-meta-<key>) that carry POSIX attributes, as
// s3fs and rclone read and write them.
const (
	metaMode  = "mode"  // decimal st_mode, type bits included (s3fs); octal with a leading 0 (rclone) is read too
	metaUID   = "uid"   // decimal
	metaGID   = "gid"   // decimal
	metaMtime = "mtime" // seconds since the epoch, "1700000000.123456789" (rclone); s3fs reads the integer part
	metaAtime = "atime" // as mtime; stored only when set (utimensat), s3fs's key
	metaCtime = "ctime" // as mtime; the last metadata change the mount made (s3fs's key)
)

// reserved metadata keys are attributes, not xattrs.
var reserved = map[string]bool{metaMode: true, metaUID: true, metaGID: true, metaMtime: true, metaAtime: true, metaCtime: true, metaSeal: true}

const blockSize = 4096

// attrs are a node's POSIX attributes, derived from a manifest.
type attrs struct {
	mode                uint32 // type and permission bits
	uid, gid            uint32
	size                int64
	atime, mtime, ctime time.Time
	nlink               uint32
}

// attrsOf derives attributes from m (nil: a directory without marker, whose
// times the caller sets); typ is the node's type bits (S_IFREG, S_IFDIR,
// S_IFLNK). The link count is 1, and 2 for a directory: directory nodes
// set their own.
//
// mtime is x-amz-meta-mtime, else the object's modification time (the last
// write of its content). ctime is the later of x-amz-meta-ctime, which the
// mount sets on every change that keeps the content (chmod, chown, utimes,
// xattrs, rename), and the modification time, which every content change
// moves. atime is x-amz-meta-atime, else mtime: reads do not update it.
func (f *fsys) attrsOf(m *catalog.Manifest, typ uint32) attrs {
	a := attrs{uid: f.opts.UID, gid: f.opts.GID, nlink: 1}
	perm := f.defaultPerm(typ)
	if typ == syscall.S_IFDIR {
		a.nlink = 2
	}
	if m == nil {
		a.mode = typ | perm
		return a
	}
	a.size = m.Size
	a.mtime = m.ModTime
	a.ctime = m.ModTime
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
	a.atime = a.mtime
	if t, ok := parseMtime(m.Meta[metaAtime]); ok {
		a.atime = t
	}
	if t, ok := parseMtime(m.Meta[metaCtime]); ok && t.After(a.ctime) {
		a.ctime = t
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
	out.Nlink = a.nlink
	out.SetTimes(&a.atime, &a.mtime, &a.ctime)
}

// times sets all three times (a directory without marker, the root).
func (a *attrs) times(t time.Time) { a.atime, a.mtime, a.ctime = t, t, t }

// applySetattr returns meta with the attribute changes of in applied, and
// whether any applied. A change of mode or owner stores all three, sealed,
// starting from what the mount showed: the kernel checked the change
// against those, so values an S3 client wrote are never sealed. Any change
// sets ctime to now, whatever time in asks for (a size change moves ctime
// through the object's modification time). atime is the one reported now:
// a change of mtime alone stores it, since an atime never set follows mtime.
func (f *fsys) applySetattr(meta map[string]string, typ uint32, in *fuse.SetAttrIn, atime time.Time) (map[string]string, bool) {
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
	if t, ok := in.GetATime(); ok {
		out[metaAtime] = formatMtime(t)
		changed = true
	} else if _, ok := in.GetMTime(); ok && out[metaAtime] == "" && !atime.IsZero() {
		setIfRoom(out, metaAtime, formatMtime(atime))
	}
	if in.Valid&(fuse.FATTR_MODE|fuse.FATTR_UID|fuse.FATTR_GID|fuse.FATTR_SIZE|fuse.FATTR_ATIME|fuse.FATTR_MTIME) == 0 {
		// chown(f, -1, -1): nothing to set, but Linux still moves ctime.
		changed = true
	}
	if changed {
		setIfRoom(out, metaCtime, formatMtime(time.Now()))
	}
	return out, changed
}

// setIfRoom sets meta[k] = v unless that would take the user metadata
// past S3's limit (objects.MaxUserMeta): a time the mount keeps on its own
// account (ctime, a pinned atime) must not make a chmod or setxattr fail on
// a file whose xattrs fill the metadata. It then keeps its last value.
func setIfRoom(meta map[string]string, k, v string) {
	old, had := meta[k]
	meta[k] = v
	if objects.UserMetaSize(meta) > objects.MaxUserMeta {
		if had {
			meta[k] = old
		} else {
			delete(meta, k)
		}
	}
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
