package daemon_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/internal/daemon"
	"excloud.dev/buckets/internal/excdtest"
	"excloud.dev/buckets/internal/testutil"
)

// The org that a mount without ORG=, a newly seeded root key and exc
// without --org act on is the one first start made, not whichever org sorts
// first: after orgs named "acme" and "zeta" are created and the daemon
// restarts, all three still reach "default" and nothing of acme's.
func TestDefaultOrgAfterOrgsThatSortFirst(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and /dev/fuse")
	}
	ctx := context.Background()
	excBin := excdtest.Build(t, "exc")
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := daemon.Config{DataDir: dir, Listen: "127.0.0.1:0", GCInterval: -1, Logger: quiet,
		RootAccessKey: testAK, RootSecretKey: testSK}

	d, err := daemon.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	exc := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(excBin, append([]string{"--socket", d.AdminSocket()}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("exc %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	db := d.Catalog()
	def, err := db.Org(ctx, daemon.DefaultOrg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateBucket(ctx, def.ID, "in-default"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"acme", "zeta"} {
		exc("orgs", "create", name)
		if _, err := db.CreateBucket(ctx, mustOrg(t, d, name), "in-"+name); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart with a mount of "the" org and another seeded root key.
	mnt := filepath.Join(t.TempDir(), "mnt")
	const ak2, sk2 = "EXCTESTKEY0000000002", "testsecret0000000000000000000000000000cd"
	cfg.Mounts = []string{mnt}
	cfg.RootAccessKey, cfg.RootSecretKey = ak2, sk2
	d, err = daemon.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	db = d.Catalog()

	ents, err := os.ReadDir(mnt)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"in-default"}) {
		t.Errorf("the mount without ORG= shows %v, want [in-default] (the default org's buckets)", names)
	}

	k, err := db.AccessKey(ctx, ak2)
	if err != nil {
		t.Fatal(err)
	}
	if k.OrgID != def.ID {
		t.Errorf("the newly seeded root key is in org %s, want the default org %s", k.OrgID, def.ID)
	}
	c := testutil.S3("http://"+d.Addr(), ak2, sk2)
	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(lb.Buckets) != 1 || aws.ToString(lb.Buckets[0].Name) != "in-default" {
		t.Errorf("the seeded key lists %d buckets (%v), want only in-default", len(lb.Buckets), lb.Buckets)
	}

	if out := exc("buckets", "list"); !strings.Contains(out, "in-default") || strings.Contains(out, "in-acme") {
		t.Errorf("exc buckets list without --org:\n%s", out)
	}
	exc("buckets", "create", "made-by-exc")
	if _, err := db.Bucket(ctx, def.ID, "made-by-exc"); err != nil {
		t.Errorf("exc buckets create without --org did not create in the default org: %v", err)
	}
	if out := exc("orgs", "list"); !regexp.MustCompile(`(?m)^o[a-z2-7]{12}\s+default\s+\S+\s+yes\s*$`).MatchString(out) {
		t.Errorf("exc orgs list does not mark the default org:\n%s", out)
	}
}

func mustOrg(t *testing.T, d *daemon.Daemon, name string) string {
	t.Helper()
	o, err := d.Catalog().Org(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return o.ID
}

// With the default org deleted there is none: another org never inherits
// the role. A restart that would need it (a new seeded key, a mount without
// ORG=) is refused with a message, and acme's keys and buckets are not
// handed out.
func TestNoDefaultOrgAfterItIsDeleted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := daemon.Config{DataDir: dir, Listen: "127.0.0.1:0", GCInterval: -1, Logger: quiet,
		RootAccessKey: testAK, RootSecretKey: testSK}
	d, err := daemon.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := d.Catalog()
	acme, err := db.CreateOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteOrg(ctx, mustOrg(t, d, daemon.DefaultOrg)); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	const ak2, sk2 = "EXCTESTKEY0000000002", "testsecret0000000000000000000000000000cd"
	cfg.RootAccessKey, cfg.RootSecretKey = ak2, sk2
	if d, err := daemon.Start(cfg); err == nil {
		d.Close()
		t.Fatal("started with a new seeded key and no default org to put it in")
	} else if !strings.Contains(err.Error(), "no default org") {
		t.Fatalf("start with a new seeded key: %v", err)
	}

	cfg.RootAccessKey, cfg.RootSecretKey = "", ""
	if _, err := os.Stat("/dev/fuse"); err == nil && os.Geteuid() == 0 {
		cfg.Mounts = []string{filepath.Join(t.TempDir(), "mnt")}
		if d, err := daemon.Start(cfg); err == nil {
			d.Close()
			t.Fatal("mounted without ORG= and no default org")
		} else if !strings.Contains(err.Error(), "no default org") {
			t.Fatalf("mount without ORG=: %v", err)
		}
		cfg.Mounts = nil
	}
	d, err = daemon.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if keys, err := d.Catalog().ListAccessKeys(ctx, acme.ID); err != nil || len(keys) != 0 {
		t.Fatalf("acme's keys: %v %v; want none", keys, err)
	}
}
