package catalog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReopen(t *testing.T) {
	dir, key := t.TempDir(), testKey()
	db := openTest(t, dir, key)
	org, err := db.CreateOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	ak, err := db.CreateAccessKey(ctx, AccessKey{OrgID: org.ID})
	if err != nil {
		t.Fatal(err)
	}
	b, err := db.CreateBucket(ctx, org.ID, "photos")
	if err != nil {
		t.Fatal(err)
	}
	m := fullManifest()
	mustPut(t, db, b, "2024/x.jpg", m)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Bucket(ctx, org.ID, "photos"); !errors.Is(err, ErrClosed) {
		t.Fatalf("use after close: %v", err)
	}

	db = openTest(t, dir, key)
	defer db.Close()
	if got, err := db.AccessKey(ctx, ak.ID); err != nil || !reflect.DeepEqual(got, ak) {
		t.Fatalf("access key after reopen: %+v %v", got, err)
	}
	if got, err := db.Bucket(ctx, org.ID, "photos"); err != nil || !reflect.DeepEqual(got, b) {
		t.Fatalf("bucket after reopen: %+v %v", got, err)
	}
	if got, err := db.Object(ctx, b.ID, "2024/x.jpg"); err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("object after reopen: %+v %v", got, err)
	}
	if refCount(t, db, 1) != 1 {
		t.Fatal("reference count lost")
	}
	// The bucket counter survives too: ids are never reused.
	b2, err := db.CreateBucket(ctx, org.ID, "more")
	if err != nil || b2.ID <= b.ID {
		t.Fatalf("bucket id after reopen: %d (first %d), %v", b2.ID, b.ID, err)
	}
}

func TestWrongKey(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir, testKey())
	db.Close()
	_, err := Open(Options{Dir: dir, EncryptionKey: testKey()})
	if !errors.Is(err, ErrEncryptionKey) {
		t.Fatalf("open with another key: %v", err)
	}
	if !strings.Contains(err.Error(), "wrong catalog encryption key") {
		t.Fatalf("unclear error: %v", err)
	}
	if _, err := Open(Options{Dir: dir, EncryptionKey: []byte("short")}); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestFormatVersion(t *testing.T) {
	dir, key := t.TempDir(), testKey()
	db := openTest(t, dir, key)
	if err := db.bdb().Update(func(txn *badgerTxn) error {
		return txn.Set(keyFormat, binary.BigEndian.AppendUint32(nil, FormatVersion+1))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err := Open(Options{Dir: dir, EncryptionKey: key})
	if !errors.Is(err, ErrFormat) {
		t.Fatalf("open of a newer format: %v", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("format version %d", FormatVersion+1)) {
		t.Fatalf("unclear error: %v", err)
	}
}

// TestEncryptedAtRest: no name, key id or secret appears in any file of the
// Badger directory.
func TestEncryptedAtRest(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir, testKey())
	org, _ := db.CreateOrg(ctx, "plaintextorgname")
	ak, err := db.CreateAccessKey(ctx, AccessKey{OrgID: org.ID})
	if err != nil {
		t.Fatal(err)
	}
	b, err := db.CreateBucket(ctx, org.ID, "plaintextbucketname")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 { // enough to flush a table or two, not just the WAL
		m := manifest("etag", 1)
		m.ContentType = "plaintext/contenttype"
		mustPut(t, db, b, "plaintextobjectkey/"+strings.Repeat("x", i%50)+string(rune('a'+i%26)), m)
	}
	needles := []string{"plaintextorgname", "plaintextbucketname", "plaintextobjectkey", "plaintext/contenttype", ak.ID, ak.Secret}
	// While open, the write-ahead log (.mem) holds the recent writes; after
	// Close they are in a table (.sst). Both must be encrypted.
	scanForPlaintext(t, dir, needles)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	scanForPlaintext(t, dir, needles)
}

func scanForPlaintext(t *testing.T, dir string, needles []string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, n := range needles {
			if bytes.Contains(data, []byte(n)) {
				t.Errorf("%s contains %q in plaintext", filepath.Base(path), n)
			}
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("walk: %d files, %v", files, err)
	}
}
