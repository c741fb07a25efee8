package excdtest_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/internal/excdtest"
)

func init() { os.Unsetenv("AWS_CA_BUNDLE") }

// A put acknowledged before SIGKILL is there after a restart, through S3
// and through a mount that the restart found dead and replaced.
func TestKillRestartWithMount(t *testing.T) {
	data, mnt := t.TempDir(), t.TempDir()
	p := excdtest.Start(t, excdtest.Options{DataDir: data, Mount: mnt, Metrics: true})
	ctx := context.Background()
	c := p.S3()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Body: strings.NewReader("hello")}); err != nil {
		t.Fatal(err)
	}
	if g, err := p.Metric(ctx, "go_goroutines"); err != nil || g <= 0 {
		t.Fatalf("go_goroutines = %v, %v", g, err)
	}
	if p.Status("VmRSS") <= 0 || p.FDs() <= 0 {
		t.Fatal("no RSS or fd count")
	}
	p.Kill()
	p = excdtest.Start(t, excdtest.Options{DataDir: data, Mount: mnt})
	got, err := os.ReadFile(filepath.Join(mnt, "bkt", "k"))
	if err != nil || string(got) != "hello" {
		t.Fatalf("read through mount after restart: %q, %v", got, err)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("SIGTERM exit: %v", err)
	}
}

// The race scanner keeps each race report whole, from the warning to the
// closing line, and nothing of the log around it.
func TestRaceScannerKeepsReports(t *testing.T) {
	var r excdtest.RaceScanner
	for _, l := range []string{"level=INFO msg=start", "==================", "WARNING: DATA RACE",
		"Read at 0x1 by goroutine 7:", "==================", "level=INFO msg=after"} {
		r.Line(l)
	}
	want := "WARNING: DATA RACE\nRead at 0x1 by goroutine 7:\n==================\n"
	if got := r.Report(); got != want {
		t.Fatalf("report %q, want %q", got, want)
	}
	var clean excdtest.RaceScanner
	clean.Line("level=WARN msg=\"not a race\"")
	if got := clean.Report(); got != "" {
		t.Fatalf("report from a clean log: %q", got)
	}
}
