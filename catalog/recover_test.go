package catalog

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// Badger creates a value-log and a memtable-log file at every open and
// sizes each right after; a crash in between (the crash harness kills excd
// while it starts) leaves an empty .vlog or .mem, which Badger v4 then
// refuses to open ("... err: Create a new file"). The catalog must open
// anyway, with its data.
func TestOpenAfterCrashLeftEmptyLogs(t *testing.T) {
	for _, ext := range []string{".vlog", ".mem"} {
		t.Run(ext, func(t *testing.T) { testOpenAfterCrashLeftEmpty(t, ext) })
	}
}

func testOpenAfterCrashLeftEmpty(t *testing.T, ext string) {
	dir, key := t.TempDir(), testKey()
	db := openTest(t, dir, key)
	org, err := db.CreateOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	b, err := db.CreateBucket(ctx, org.ID, "photos")
	if err != nil {
		t.Fatal(err)
	}
	m := fullManifest()
	mustPut(t, db, b, "x", m)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "*"+ext))
	last := 0
	for _, v := range logs {
		n, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(v), ext))
		if err == nil && n > last {
			last = n
		}
	}
	empty := filepath.Join(dir, fmt.Sprintf("%05d%s", last+1, ext))
	if ext == ".vlog" {
		empty = filepath.Join(dir, fmt.Sprintf("%06d%s", last+1, ext))
	}
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	for range 2 { // and the open after that one
		db, err = Open(Options{Dir: dir, EncryptionKey: key, memTableSize: 8 << 20})
		if err != nil {
			t.Fatalf("open after a crash left %s empty: %v", filepath.Base(empty), err)
		}
		if got, err := db.Object(ctx, b.ID, "x"); err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("object after reopen: %+v %v", got, err)
		}
		mustPut(t, db, b, "y", m)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
