package daemon_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/admin"
	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/catalog/kv"
	"excloud.dev/buckets/catalog/kv/pgkv"
	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/internal/daemon"
	"excloud.dev/buckets/internal/pgtest"
)

func startPG(dir, url string) (*daemon.Daemon, error) {
	return daemon.Start(daemon.Config{
		DataDir:       dir,
		Catalog:       url,
		Listen:        "127.0.0.1:0",
		RootAccessKey: testAK,
		RootSecretKey: testSK,
		GCInterval:    -1,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

// copyKey gives dst the master key of src's data directory, as an operator
// gives every node of a fleet the same key.
func copyKey(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(src, chunkstore.MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, chunkstore.MasterKeyFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// With --catalog the catalog is in PostgreSQL, not in the data directory;
// a second node given the same master key reads it; a node given another
// master key, or a database of another format version, is refused at start
// with a message that says why; exc backup streams it, and the stream
// restores into a single host's data directory.
func TestCatalogOnPostgreSQL(t *testing.T) {
	url := pgtest.DB(t)
	ctx := context.Background()
	dirA := t.TempDir()
	a, err := startPG(dirA, url)
	if err != nil {
		t.Fatal(err)
	}
	ca := awsClient(a, testSK)
	if _, err := ca.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("shared")}); err != nil {
		t.Fatal(err)
	}
	body := randBytes(10_000, 1)
	if _, err := ca.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("shared"), Key: aws.String("k"), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dirA, "catalog")); !os.IsNotExist(err) {
		t.Fatalf("a catalog directory in the data directory with --catalog set: %v", err)
	}

	// Node B: its own data directory, the fleet's master key.
	dirB := filepath.Join(t.TempDir(), "b")
	copyKey(t, dirA, dirB)
	b, err := startPG(dirB, url)
	if err != nil {
		t.Fatalf("second node with the same master key: %v", err)
	}
	head, err := awsClient(b, testSK).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("shared"), Key: aws.String("k")})
	if err != nil || aws.ToInt64(head.ContentLength) != int64(len(body)) {
		t.Fatalf("node B's HEAD of node A's object: %v, %v", head, err)
	}

	// exc backup streams the shared catalog; the stream restores into an
	// empty data directory, whose single host then serves the object.
	var backup bytes.Buffer
	if _, err := admin.Dial(filepath.Join(dirA, "admin.sock")).Backup(ctx, &backup); err != nil {
		t.Fatalf("exc backup on PostgreSQL: %v", err)
	}
	single := filepath.Join(t.TempDir(), "single")
	copyKey(t, dirA, single)
	if err := daemon.Restore(single, "", bytes.NewReader(backup.Bytes()), nil); err != nil {
		t.Fatalf("restore of a PostgreSQL backup into a data directory: %v", err)
	}
	if err := os.CopyFS(filepath.Join(single, "chunks"), os.DirFS(filepath.Join(dirA, "chunks"))); err != nil {
		t.Fatal(err)
	}
	s, err := daemon.Start(daemon.Config{
		DataDir: single, Listen: "127.0.0.1:0", RootAccessKey: testAK, RootSecretKey: testSK, GCInterval: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("start on the restored catalog: %v", err)
	}
	got, err := awsClient(s, testSK).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("shared"), Key: aws.String("k")})
	if err != nil {
		t.Fatalf("GET on the restored single host: %v", err)
	}
	gotBody, err := io.ReadAll(got.Body)
	got.Body.Close()
	if err != nil || !bytes.Equal(gotBody, body) {
		t.Fatalf("GET on the restored single host: %d bytes, %v", len(gotBody), err)
	}
	s.Close()

	// The database holds a catalog: a restore into it is refused.
	if err := daemon.RestoreShared(dirA, "", url, bytes.NewReader(backup.Bytes()), nil); !errors.Is(err, catalog.ErrNotEmpty) {
		t.Fatalf("restore into the fleet's database: %v; want ErrNotEmpty", err)
	}

	// Another master key: refused at start, naming the cause.
	dirC := t.TempDir()
	if c, err := startPG(dirC, url); err == nil {
		c.Close()
		t.Fatal("a node with another master key started on the fleet's catalog")
	} else if !strings.Contains(err.Error(), "does not open with this key") || !strings.Contains(err.Error(), "master key") {
		t.Fatalf("another master key: %v; want the unseal error", err)
	} else {
		t.Logf("another master key: %v", err)
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	// Another format version in the database: refused, naming both.
	master, _, err := chunkstore.ReadMasterKey(dirA, "")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := chunkstore.DeriveKeys(master)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	eng, err := pgkv.Open(cctx, url, pgkv.Options{Key: keys.CatalogPG[:], PruneEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	other := catalog.FormatVersion + 41
	err = eng.Update(cctx, kv.WriteOptions{}, func(txn kv.Txn) error {
		return txn.Set([]byte("\x00format"), binary.BigEndian.AppendUint32(nil, other))
	})
	eng.Close()
	if err != nil {
		t.Fatal(err)
	}
	if d, err := startPG(dirA, url); err == nil {
		d.Close()
		t.Fatalf("started on a catalog of format version %d", other)
	} else if !strings.Contains(err.Error(), fmt.Sprintf("format version %d", other)) ||
		!strings.Contains(err.Error(), fmt.Sprintf("version %d", catalog.FormatVersion)) {
		t.Fatalf("another format version: %v; want both versions named", err)
	} else {
		t.Logf("another format version: %v", err)
	}
}

// An empty database is given the format version at the first start.
func TestCatalogOnPostgreSQLInitialisesFormat(t *testing.T) {
	url := pgtest.DB(t)
	dir := t.TempDir()
	d, err := startPG(dir, url)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	master, _, err := chunkstore.ReadMasterKey(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := chunkstore.DeriveKeys(master)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	eng, err := pgkv.Open(ctx, url, pgkv.Options{Key: keys.CatalogPG[:], PruneEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	err = eng.View(ctx, func(r kv.Reader) error {
		v, err := r.Get([]byte("\x00format"))
		if err != nil {
			return err
		}
		if len(v) != 4 || binary.BigEndian.Uint32(v) != catalog.FormatVersion {
			return fmt.Errorf("format key %x, want version %d", v, catalog.FormatVersion)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The watchdog's liveness check does not fail while the catalog's database
// is away: systemd restarting the node would not bring the database back,
// and the daemon recovers by itself when it returns.
func TestWatchdogCheckDuringDatabaseOutage(t *testing.T) {
	srv := pgtest.Start(t)
	d, err := startPG(t.TempDir(), srv.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx := context.Background()
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Catalog().ListOrgs(ctx); !errors.Is(err, catalog.ErrUnavailable) {
		t.Fatalf("catalog read during the outage: %v; want ErrUnavailable", err)
	}
	if err := d.Check(ctx); err != nil {
		t.Fatalf("watchdog check during the outage: %v; want healthy", err)
	}
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := d.Catalog().ListOrgs(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("catalog still failing a minute after the database returned: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling recovery, not waiting for an event
	}
}

// A single host's backup restores into an empty PostgreSQL database (the
// move to a fleet); a stream cut short fails and leaves the database
// empty, so the full stream then restores, and a node on the database
// serves the objects.
func TestRestoreIntoPostgreSQL(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	d := startWith(t, daemon.Config{DataDir: src})
	c := plainClient(d)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("move")}); err != nil {
		t.Fatal(err)
	}
	objs := map[string][]byte{"small": []byte("hello"), "big": randBytes(3<<20, 4)}
	for k, v := range objs {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("move"), Key: aws.String(k), Body: bytes.NewReader(v)}); err != nil {
			t.Fatal(err)
		}
	}
	var backup bytes.Buffer
	if _, err := admin.Dial(d.AdminSocket()).Backup(ctx, &backup); err != nil {
		t.Fatal(err)
	}
	d.Close()

	url := pgtest.DB(t)
	node := filepath.Join(t.TempDir(), "node")
	copyKey(t, src, node)
	cut := backup.Bytes()[:backup.Len()/2]
	if err := daemon.RestoreShared(node, "", url, bytes.NewReader(cut), nil); err == nil {
		t.Fatal("restore of a truncated stream succeeded")
	} else {
		t.Logf("truncated stream: %v", err)
	}
	master, _, err := chunkstore.ReadMasterKey(node, "")
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := chunkstore.DeriveKeys(master)
	eng, err := pgkv.Open(ctx, url, pgkv.Options{Key: keys.CatalogPG[:], PruneEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	err = eng.View(ctx, func(r kv.Reader) error {
		it := r.Iterate(kv.IterOptions{KeysOnly: true})
		it.Seek(nil)
		if it.Valid() {
			t.Errorf("a failed restore left key %q in the database", it.Key())
		}
		return it.Close()
	})
	eng.Close()
	if err != nil {
		t.Fatal(err)
	}

	if err := daemon.RestoreShared(node, "", url, bytes.NewReader(backup.Bytes()), nil); err != nil {
		t.Fatalf("restore into PostgreSQL: %v", err)
	}
	if err := os.CopyFS(filepath.Join(node, "chunks"), os.DirFS(filepath.Join(src, "chunks"))); err != nil {
		t.Fatal(err)
	}
	p, err := startPG(node, url)
	if err != nil {
		t.Fatalf("start on the restored database: %v", err)
	}
	defer p.Close()
	pc := awsClient(p, testSK)
	for k, v := range objs {
		out, err := pc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("move"), Key: aws.String(k)})
		if err != nil {
			t.Fatalf("GET %s after the move: %v", k, err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(got, v) {
			t.Fatalf("GET %s after the move: %d bytes, %v", k, len(got), err)
		}
	}
}
