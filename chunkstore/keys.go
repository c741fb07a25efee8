package chunkstore

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"excloud.dev/buckets/internal/fsutil"
)

// Master key file and key derivation (docs/format.md, "Keys").
const (
	// MasterKeySize is the length of the master key in bytes.
	MasterKeySize = 32
	// MasterKeyFile is the name of the master key file in the data directory
	// and of the systemd credential (LoadCredential=master.key:…).
	MasterKeyFile = "master.key"

	// HKDF info labels. Each derived key has its own label so that no two
	// uses ever share a key; changing a label is a format change.
	labelID      = "excloud-buckets v1 chunk-id"
	labelSeal    = "excloud-buckets v1 chunk-seal"
	labelCatalog = "excloud-buckets v1 catalog"
	labelAttrs   = "excloud-buckets v1 mount-attrs"
	// labelCatalogPG derives the key that seals catalog values stored in
	// PostgreSQL: every node given one master key derives the same.
	labelCatalogPG = "excloud-buckets v1 catalog postgres"
	// labelOrgID, followed by the org id, derives an org's chunk-id key
	// from the id key (docs/format.md, "Chunk ids", version 2).
	labelOrgID = "excloud-buckets v2 chunk-id org "
)

// Keys are the keys derived from the master key. They are secrets: never log
// or print them.
type Keys struct {
	// ID is the id key (docs/format.md, "Chunk ids"): each org's chunk-id
	// key is derived from it; version 1 ids were HMAC-SHA-256 under it.
	ID [32]byte
	// Seal is the input from which each chunk's AES-256-GCM key is derived
	// with that chunk's salt (docs/format.md, "Chunk files").
	Seal [32]byte
	// Catalog is Badger's encryption key for the catalog directory.
	Catalog [32]byte
	// Attrs keys the seal FUSE mounts put on the attributes they write
	// (docs/format.md, "Mount attributes").
	Attrs [32]byte
	// CatalogPG seals the catalog's values when the catalog is on
	// PostgreSQL (docs/format.md, "PostgreSQL catalog").
	CatalogPG [32]byte
}

// String hides the keys, so that logging a value that holds Keys cannot leak
// them.
func (Keys) String() string { return "chunkstore.Keys{redacted}" }

// GoString hides the keys from %#v.
func (k Keys) GoString() string { return k.String() }

// DeriveKeys derives the working keys from a 32-byte master key with
// HKDF-SHA-256 (no salt; one info label per key).
func DeriveKeys(master []byte) (Keys, error) {
	var k Keys
	if len(master) != MasterKeySize {
		return k, fmt.Errorf("chunkstore: derive keys: master key is %d bytes, want %d", len(master), MasterKeySize)
	}
	for _, d := range []struct {
		dst   *[32]byte
		label string
	}{{&k.ID, labelID}, {&k.Seal, labelSeal}, {&k.Catalog, labelCatalog}, {&k.Attrs, labelAttrs}, {&k.CatalogPG, labelCatalogPG}} {
		b, err := hkdf.Key(sha256.New, master, nil, d.label, 32)
		if err != nil {
			return Keys{}, fmt.Errorf("chunkstore: derive keys: %w", err)
		}
		copy(d.dst[:], b)
	}
	return k, nil
}

// LoadMasterKey finds, and at first start creates, the master key. The
// search order is: keyFile if non-empty; else $CREDENTIALS_DIRECTORY/master.key
// if it exists (a systemd credential); else <dataDir>/master.key, created
// with 32 random bytes if missing. It returns the key, the path it came from
// and whether it was created now. Errors name the path, never the key.
//
// Key files other than systemd credentials (whose mode systemd controls) must
// not be readable or writable by group or others: a key that others could
// read protects nothing, so LoadMasterKey refuses to start rather than warn.
// They must also belong to the user excd runs as (or root), and the one in
// the data directory is never read through a symlink: a key another user
// supplied is a key that user knows.
func LoadMasterKey(dataDir, keyFile string) (key []byte, path string, created bool, err error) {
	return findMasterKey(dataDir, keyFile, true)
}

// ReadMasterKey is LoadMasterKey that never creates a key: where none
// exists it fails with an error wrapping fs.ErrNotExist. A restore needs the
// key of the store the backup came from; a new one could read nothing.
func ReadMasterKey(dataDir, keyFile string) (key []byte, path string, err error) {
	key, path, _, err = findMasterKey(dataDir, keyFile, false)
	return key, path, err
}

func findMasterKey(dataDir, keyFile string, create bool) (key []byte, path string, created bool, err error) {
	if keyFile != "" {
		check := keyCheckNamed
		if underCredentials(keyFile) {
			check = keyCheckSystemd
		}
		key, err = readMasterKey(keyFile, check)
		return key, keyFile, false, err
	}
	if dir := os.Getenv("CREDENTIALS_DIRECTORY"); dir != "" {
		p := filepath.Join(dir, MasterKeyFile)
		if _, err := os.Stat(p); err == nil {
			key, err = readMasterKey(p, keyCheckSystemd)
			return key, p, false, err
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, p, false, fmt.Errorf("chunkstore: master key %s: %w", p, err)
		}
	}
	if dataDir == "" {
		return nil, "", false, errors.New("chunkstore: master key: no data directory and no key file given")
	}
	path = filepath.Join(dataDir, MasterKeyFile)
	key, err = readMasterKey(path, keyCheckDataDir)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !create {
		return key, path, false, err
	}
	key, err = createMasterKey(dataDir, path)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it between our read and our create.
		key, err = readMasterKey(path, keyCheckDataDir)
		return key, path, false, err
	}
	return key, path, err == nil, err
}

func underCredentials(p string) bool {
	dir := os.Getenv("CREDENTIALS_DIRECTORY")
	if dir == "" {
		return false
	}
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// keyCheck says how far a key file is trusted before it is read.
type keyCheck int

const (
	// keyCheckSystemd: a systemd credential, whose owner and mode systemd
	// controls.
	keyCheckSystemd keyCheck = iota
	// keyCheckNamed: a file the operator named: it must be theirs (owned by
	// the user excd runs as, or root) and private; a symlink is followed,
	// since the operator chose the path.
	keyCheckNamed
	// keyCheckDataDir: <dataDir>/master.key: as keyCheckNamed, and never
	// through a symlink, which anyone who could once write the directory
	// might have left there.
	keyCheckDataDir
)

func readMasterKey(path string, check keyCheck) ([]byte, error) {
	flags := os.O_RDONLY | syscall.O_NONBLOCK // a FIFO must not hang the start
	if check == keyCheckDataDir {
		flags |= syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(path, flags, 0)
	if errors.Is(err, syscall.ELOOP) && check == keyCheckDataDir {
		return nil, fmt.Errorf("chunkstore: %w", &fsutil.UntrustedError{What: "master key", Path: path,
			Reason: "it is a symlink; excd never follows one in its data directory (name a key file elsewhere with --master-key)"})
	}
	if err != nil {
		return nil, fmt.Errorf("chunkstore: master key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("chunkstore: master key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("chunkstore: master key %s is not a regular file", path)
	}
	if check != keyCheckSystemd {
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			return nil, fmt.Errorf("chunkstore: master key %s has mode %04o; it must be 0600 (chmod 600 %s)", path, perm, path)
		}
		// Another user's key file would encrypt everything under a key
		// that user knows.
		if err := fsutil.CheckTrusted("master key", path, fi); err != nil {
			return nil, fmt.Errorf("chunkstore: %w", err)
		}
	}
	// Anything longer than a hex key plus CRLF is not a key file; do not read
	// an arbitrary file into memory to find that out.
	buf := make([]byte, 2*MasterKeySize+3)
	n, err := io.ReadFull(f, buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("chunkstore: master key %s: %w", path, err)
	}
	return parseMasterKey(path, buf[:n])
}

func parseMasterKey(path string, data []byte) ([]byte, error) {
	if len(data) == MasterKeySize {
		return append([]byte(nil), data...), nil
	}
	t := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if len(t) == 2*MasterKeySize {
		key, err := hex.DecodeString(t)
		if err != nil {
			// hex's error quotes the offending byte, which is part of the key.
			return nil, fmt.Errorf("chunkstore: master key %s: 64 characters but not hex digits", path)
		}
		return key, nil
	}
	return nil, fmt.Errorf("chunkstore: master key %s: want %d bytes (or %d hex digits), got %d", path, MasterKeySize, 2*MasterKeySize, len(data))
}

func createMasterKey(dataDir, path string) ([]byte, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("chunkstore: create master key: %w", err)
	}
	key := make([]byte, MasterKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("chunkstore: create master key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("chunkstore: create master key: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsutil.SyncDir(dataDir)
	}
	if err != nil {
		// A half-written key file would stop every later start; remove it so
		// the next start creates a fresh one.
		os.Remove(path)
		return nil, fmt.Errorf("chunkstore: create master key %s: %w", path, err)
	}
	return key, nil
}

// orgIDKey derives an org's chunk-id key: HKDF-SHA-256 with input keying
// material = the id key, no salt, info = labelOrgID || org.
func orgIDKey(idKey *[32]byte, org string) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, idKey[:], nil, labelOrgID+org, 32)
	if err != nil {
		return nil, fmt.Errorf("chunkstore: derive chunk-id key: %w", err)
	}
	return k, nil
}
