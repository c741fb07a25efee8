package fsmount

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"strconv"
	"sync"
	"syscall"
)

// The owner model (docs/service.md, "The mount's owner model"): objects
// whose mode and owner no mount wrote show as owned by Options.UID/GID with
// 0666/0777 less Options.Umask; mode, uid and gid metadata are honoured
// only when sealed by a mount (metaSeal), or from anyone with
// Options.TrustS3Attrs. An S3 client can write x-amz-meta-mode, -uid and
// -gid, but cannot compute the seal, so what it writes does not change what
// local users may do.

// metaSeal (x-amz-meta-exc-attrs) holds the mount's seal over the mode,
// uid and gid values stored next to it. Like the attributes it is reserved:
// not an xattr.
const metaSeal = "exc-attrs"

// DefaultUmask masks the permissions of objects without trusted attributes
// when Options.Umask is nil: 0600 files, 0700 directories.
const DefaultUmask = 0o077

// sealVersion prefixes the seal, so its form can change without old seals
// being misread.
const sealVersion = "v1."

// processAttrKey keys the seal of mounts given no Options.AttrKey: seals
// then hold only within this process (tests, embedding). excd passes a key
// derived from the master key, so seals hold across restarts.
var processAttrKey = sync.OnceValue(func() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
})

func (f *fsys) attrKey() []byte {
	if len(f.opts.AttrKey) > 0 {
		return f.opts.AttrKey
	}
	return processAttrKey()
}

// seal is the HMAC of the org and the mode, uid and gid values of meta
// exactly as stored (missing ones as empty). The org is in it so that a
// seal means nothing in another org's mount. Keys and renames are not: a
// rename keeps a file's attributes, and an S3 copy, which copies metadata,
// keeps them too.
func (f *fsys) seal(meta map[string]string) string {
	h := hmac.New(sha256.New, f.attrKey())
	for _, v := range []string{f.orgID, meta[metaMode], meta[metaUID], meta[metaGID]} {
		writeField(h, v)
	}
	return sealVersion + base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:24])
}

// writeField writes v length-prefixed, so no two value lists hash alike.
func writeField(h hash.Hash, v string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(v)))
	h.Write(n[:])
	h.Write([]byte(v))
}

// trusted reports whether meta's mode, uid and gid are to be honoured.
func (f *fsys) trusted(meta map[string]string) bool {
	if f.opts.TrustS3Attrs {
		return true
	}
	s, ok := meta[metaSeal]
	return ok && hmac.Equal([]byte(s), []byte(f.seal(meta)))
}

// defaultPerm is the permission of a node of type typ whose attributes are
// not trusted.
func (f *fsys) defaultPerm(typ uint32) uint32 {
	umask := uint32(DefaultUmask)
	if f.opts.Umask != nil {
		umask = *f.opts.Umask & 0o777
	}
	switch typ {
	case syscall.S_IFDIR:
		return 0o777 &^ umask
	case syscall.S_IFLNK:
		return 0o777 // Linux ignores a symlink's permissions
	}
	return 0o666 &^ umask
}

// setOwner stores mode, uid and gid in meta and seals them.
func (f *fsys) setOwner(meta map[string]string, mode, uid, gid uint32) {
	meta[metaMode] = strconv.FormatUint(uint64(mode), 10)
	meta[metaUID] = strconv.FormatUint(uint64(uid), 10)
	meta[metaGID] = strconv.FormatUint(uint64(gid), 10)
	meta[metaSeal] = f.seal(meta)
}
