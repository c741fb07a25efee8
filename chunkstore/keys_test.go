package chunkstore_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"excloud.dev/buckets/chunkstore"
)

func TestMasterKeyCreatedAndReused(t *testing.T) {
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	dir := filepath.Join(t.TempDir(), "data")
	key, path, created, err := chunkstore.LoadMasterKey(dir, "")
	if err != nil || !created || path != filepath.Join(dir, "master.key") || len(key) != 32 {
		t.Fatalf("first start: %d-byte key at %s, created %v, %v", len(key), path, created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	data, _ := os.ReadFile(path)
	if string(data) != hex.EncodeToString(key)+"\n" {
		t.Fatalf("key file is not 64 lowercase hex digits and a newline")
	}
	key2, path2, created, err := chunkstore.LoadMasterKey(dir, "")
	if err != nil || created || path2 != path || !bytes.Equal(key, key2) {
		t.Fatalf("second start: created %v, same key %v, %v", created, bytes.Equal(key, key2), err)
	}
}

func writeKey(t *testing.T, dir string, data []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, "master.key")
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, mode) // WriteFile's mode is filtered by the umask
	return p
}

func TestMasterKeyFormats(t *testing.T) {
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	raw := bytes.Repeat([]byte{0xa5}, 32)
	hx := hex.EncodeToString(raw)
	for name, data := range map[string]string{
		"raw":       string(raw),
		"hex":       hx,
		"hex-lf":    hx + "\n",
		"hex-crlf":  hx + "\r\n",
		"hex-upper": strings.ToUpper(hx) + "\n",
	} {
		dir := t.TempDir()
		writeKey(t, dir, []byte(data), 0o600)
		key, _, created, err := chunkstore.LoadMasterKey(dir, "")
		if err != nil || created || !bytes.Equal(key, raw) {
			t.Errorf("%s: %x, created %v, %v", name, key, created, err)
		}
	}
}

func TestMasterKeyRefused(t *testing.T) {
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	secret := strings.Repeat("5a", 32)
	for _, tt := range []struct {
		name string
		data string
		mode os.FileMode
		want string // with %s for the path
	}{
		{"group-readable", secret, 0o640, "master key %s has mode 0640; it must be 0600 (chmod 600 %s)"},
		{"world-readable", secret, 0o644, "master key %s has mode 0644; it must be 0600 (chmod 600 %s)"},
		{"short", strings.Repeat("x", 31), 0o600, "master key %s: want 32 bytes (or 64 hex digits), got 31"},
		{"short-hex", secret[:62] + "\n", 0o600, "master key %s: want 32 bytes (or 64 hex digits), got 63"},
		{"long", secret + "00\n", 0o600, "master key %s: want 32 bytes (or 64 hex digits), got 67"},
		{"not-hex", strings.Repeat("zq", 32), 0o600, "master key %s: 64 characters but not hex digits"},
		{"empty", "", 0o600, "master key %s: want 32 bytes (or 64 hex digits), got 0"},
	} {
		dir := t.TempDir()
		p := writeKey(t, dir, []byte(tt.data), tt.mode)
		_, _, _, err := chunkstore.LoadMasterKey(dir, "")
		want := strings.ReplaceAll(tt.want, "%s", p)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, want)
		}
		if err != nil && (strings.Contains(err.Error(), secret[:16]) || strings.Contains(err.Error(), "zqzq")) {
			t.Errorf("%s: error shows key material: %v", tt.name, err)
		}
	}
}

func TestMasterKeySources(t *testing.T) {
	data, creds, other := t.TempDir(), t.TempDir(), t.TempDir()
	want := bytes.Repeat([]byte{7}, 32)
	// systemd controls a credential's mode (and makes it 0400 or 0440), so
	// LoadMasterKey does not judge it.
	cp := writeKey(t, creds, []byte(hex.EncodeToString(want)+"\n"), 0o640)
	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	key, path, created, err := chunkstore.LoadMasterKey(data, "")
	if err != nil || path != cp || created || !bytes.Equal(key, want) {
		t.Fatalf("credential: %s, created %v, %v", path, created, err)
	}
	if _, err := os.Stat(filepath.Join(data, "master.key")); !os.IsNotExist(err) {
		t.Fatalf("key created in the data directory despite the credential: %v", err)
	}

	// An explicit key file wins over the credential.
	fileKey := bytes.Repeat([]byte{8}, 32)
	fp := writeKey(t, other, fileKey, 0o600)
	key, path, _, err = chunkstore.LoadMasterKey(data, fp)
	if err != nil || path != fp || !bytes.Equal(key, fileKey) {
		t.Fatalf("key file: %s, %v", path, err)
	}
	os.Chmod(fp, 0o644)
	if _, _, _, err := chunkstore.LoadMasterKey(data, fp); err == nil {
		t.Fatal("world-readable key file accepted")
	}
	// A missing explicit file is an error, not a reason to create one.
	if _, _, _, err := chunkstore.LoadMasterKey(data, filepath.Join(other, "nope")); err == nil {
		t.Fatal("missing key file accepted")
	}

	// A credentials directory without master.key falls through to the data dir.
	t.Setenv("CREDENTIALS_DIRECTORY", t.TempDir())
	_, path, created, err = chunkstore.LoadMasterKey(data, "")
	if err != nil || !created || path != filepath.Join(data, "master.key") {
		t.Fatalf("fall-through: %s, created %v, %v", path, created, err)
	}
}

// TestDeriveKeysGolden pins the HKDF labels: changing one changes every id
// and makes every stored chunk unreadable, so it must be a format change.
func TestDeriveKeysGolden(t *testing.T) {
	k, err := chunkstore.DeriveKeys(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if k.ID == k.Seal || k.Seal == k.Catalog || k.ID == k.Catalog {
		t.Fatal("derived keys are not distinct")
	}
	for name, got := range map[string][32]byte{"id": k.ID, "seal": k.Seal, "catalog": k.Catalog} {
		if h := hex.EncodeToString(got[:]); h != goldenKeys[name] {
			t.Errorf("%s key = %s, want %s", name, h, goldenKeys[name])
		}
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%x", "%s"} {
		if out := fmt.Sprintf(f, k); strings.Contains(out, "27") || strings.Contains(out, "39") {
			t.Errorf("Sprintf(%q, keys) = %s shows key material", f, out)
		}
	}
	if _, err := chunkstore.DeriveKeys(make([]byte, 31)); err == nil {
		t.Error("31-byte master key accepted")
	}
}

// goldenKeys for master key 32×0x01, cross-checked against an independent
// RFC 5869 implementation (Python hmac/hashlib).
var goldenKeys = map[string]string{
	"id":      "2715948e4139461ab239841f94b13e206af620e391507fc3e5a016624b520aea",
	"seal":    "44cef5283f67ff2edd8d54b0932eed565c199463e5bfc068c6245843611b79a8",
	"catalog": "835a853e2f3f38e8aa93866ef01e1ea0e33900880bfc5372dc7bc7e652f17c7d",
}

// ReadMasterKey finds the key where LoadMasterKey would, and never makes
// one: a restore must not run with a fresh key.
func TestReadMasterKeyNeverCreates(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	if _, _, err := chunkstore.ReadMasterKey(dir, ""); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no key: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(dir, chunkstore.MasterKeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadMasterKey created a key file: %v", err)
	}
	created, _, _, err := chunkstore.LoadMasterKey(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	got, path, err := chunkstore.ReadMasterKey(dir, "")
	if err != nil || !bytes.Equal(got, created) || path != filepath.Join(dir, chunkstore.MasterKeyFile) {
		t.Fatalf("existing key: %v at %s", err, path)
	}
}
