package fsmount_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/fsmount"
	"excloud.dev/buckets/internal/daemon"
	"excloud.dev/buckets/internal/pgtest"
	"excloud.dev/buckets/internal/testutil"
)

const (
	testAK = "EXCTESTKEY0000000001"
	testSK = "testsecret0000000000000000000000000000ab"
)

func init() {
	// The machines set AWS_CA_BUNDLE; SDK config loading would try to use it.
	os.Unsetenv("AWS_CA_BUNDLE")
}

// env is a daemon in-process with one org mounted at mnt and a bucket "b".
type env struct {
	d     *daemon.Daemon
	org   string
	mnt   string
	srv   *fsmount.Server
	s3    *s3.Client
	bdir  string // mnt/b
	dataD string
	cat   string // the daemon's Catalog (EXC_TEST_CATALOG), for a restart
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newEnv(t testing.TB) *env { return newEnvWith(t, nil) }

// newEnvWith is newEnv with the mount's object layer wrapped (nil: none),
// for tests that hold or count what the mount asks of it.
func newEnvWith(t testing.TB, wrap func(fsmount.Objects) fsmount.Objects) *env {
	t.Helper()
	return newEnvOpts(t, wrap, fsmount.Options{})
}

// newEnvLogged is newEnvWith with the mount logging to mountLog, for tests
// that count what the mount reports.
func newEnvLogged(t testing.TB, wrap func(fsmount.Objects) fsmount.Objects, mountLog *slog.Logger) *env {
	t.Helper()
	return newEnvOpts(t, wrap, fsmount.Options{Logger: mountLog})
}

// newEnvOpts is newEnvWith mounting with opts (DataDir and Debug are set
// here, and Logger when it is nil).
func newEnvOpts(t testing.TB, wrap func(fsmount.Objects) fsmount.Objects, opts fsmount.Options) *env {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	data := t.TempDir()
	cat := pgtest.CatalogURL(t) // EXC_TEST_CATALOG=postgres: on PostgreSQL
	d, err := daemon.Start(daemon.Config{
		DataDir: data, Listen: "127.0.0.1:0", RootAccessKey: testAK, RootSecretKey: testSK,
		GCInterval: -1, AdminSocket: "-", Logger: quiet(), Catalog: cat,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx := context.Background()
	orgs, err := d.Catalog().ListOrgs(ctx)
	if err != nil || len(orgs) == 0 {
		t.Fatalf("orgs: %v %v", orgs, err)
	}
	e := &env{d: d, org: orgs[0].ID, mnt: t.TempDir(), dataD: data, cat: cat}
	if _, err := d.Layer().CreateBucket(ctx, e.org, "b"); err != nil {
		t.Fatal(err)
	}
	var objs fsmount.Objects = d.Layer()
	if wrap != nil {
		objs = wrap(objs)
	}
	opts.DataDir, opts.Debug = data, os.Getenv("FSMOUNT_DEBUG") != ""
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	e.srv, err = fsmount.Mount(ctx, e.mnt, objs, d.Catalog(), e.org, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.srv.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	e.bdir = e.mnt + "/b"
	e.s3 = testutil.S3("http://"+d.Addr(), testAK, testSK)
	return e
}

// waitFor polls cond until it holds. The bound is for a hang, not a
// measure of speed: a loaded machine (and a -race build) can take seconds
// for what usually takes milliseconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after a minute", what)
		}
	}
}
