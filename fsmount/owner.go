package fsmount

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// sealer hands out HMACs keyed with the mount's attribute key: a lookup
// or getattr of a sealed object checks its seal, and ls -l of a large
// directory does that for every entry.
type sealer struct {
	once sync.Once
	pool sync.Pool
	// checked maps seals found valid to the values they cover. Files
	// mostly share a few modes and owners, so a few seals cover a whole
	// tree; only valid seals enter, so S3 clients cannot fill it.
	checked  sync.Map // string → [3]string
	nchecked atomic.Int32
}

// maxChecked bounds sealer.checked.
const maxChecked = 4096

// sealLen is how many bytes of the HMAC a seal keeps (192 bits).
const sealLen = 24

// mac computes the seal's HMAC of the org and the mode, uid and gid values
// of meta exactly as stored (missing ones as empty) into out. The org is in
// it so that a seal means nothing in another org's mount. Keys and renames
// are not: a rename keeps a file's attributes, and an S3 copy, which copies
// metadata, keeps them too.
func (f *fsys) mac(meta map[string]string, out *[sha256.Size]byte) {
	f.seals.once.Do(func() {
		key := f.attrKey()
		f.seals.pool.New = func() any { return hmac.New(sha256.New, key) }
	})
	h := f.seals.pool.Get().(hash.Hash)
	h.Reset()
	for _, v := range [...]string{f.orgID, meta[metaMode], meta[metaUID], meta[metaGID]} {
		// Length-prefixed, so no two value lists hash alike.
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(v)))
		h.Write(n[:])
		io.WriteString(h, v)
	}
	h.Sum(out[:0])
	f.seals.pool.Put(h)
}

// seal is the value of metaSeal for meta's mode, uid and gid.
func (f *fsys) seal(meta map[string]string) string {
	var sum [sha256.Size]byte
	f.mac(meta, &sum)
	return sealVersion + base64.RawURLEncoding.EncodeToString(sum[:sealLen])
}

// trusted reports whether meta's mode, uid and gid are to be honoured.
func (f *fsys) trusted(meta map[string]string) bool {
	if f.opts.TrustS3Attrs {
		return true
	}
	stored := meta[metaSeal]
	s, ok := strings.CutPrefix(stored, sealVersion)
	if !ok || base64.RawURLEncoding.DecodedLen(len(s)) != sealLen {
		return false
	}
	vals := [3]string{meta[metaMode], meta[metaUID], meta[metaGID]}
	if v, ok := f.seals.checked.Load(stored); ok && v.([3]string) == vals {
		return true
	}
	var got [sealLen]byte
	if n, err := base64.RawURLEncoding.Decode(got[:], []byte(s)); err != nil || n != sealLen {
		return false
	}
	var sum [sha256.Size]byte
	f.mac(meta, &sum)
	if !hmac.Equal(got[:], sum[:sealLen]) {
		return false
	}
	if f.seals.nchecked.Load() < maxChecked {
		if _, loaded := f.seals.checked.LoadOrStore(stored, vals); !loaded {
			f.seals.nchecked.Add(1)
		}
	}
	return true
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
