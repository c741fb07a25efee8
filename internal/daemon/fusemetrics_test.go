package daemon_test

import (
	"os"
	"path/filepath"
	"testing"

	"excloud.dev/buckets/internal/daemon"
	"excloud.dev/buckets/internal/metrics"
)

// Operations through a mount are counted and timed on /metrics, failures
// apart; looking up a name that does not exist is not a failure.
func TestFUSEMetrics(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and /dev/fuse")
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(mnt, 0o755)
	d := startWith(t, daemon.Config{DataDir: t.TempDir(), MetricsListen: "127.0.0.1:0", Metrics: metrics.New(), Mounts: []string{mnt}})
	if err := os.Mkdir(filepath.Join(mnt, "fusemetrics"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "fusemetrics", "f"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "fusemetrics", "absent")); !os.IsNotExist(err) {
		t.Fatalf("stat of an absent file: %v", err)
	}
	if err := os.Mkdir(filepath.Join(mnt, "Invalid_Bucket"), 0o755); err == nil {
		t.Fatal("mkdir of an invalid bucket name succeeded")
	}
	m := scrape(t, d.MetricsAddr())
	for _, op := range []string{"mkdir", "create", "write", "flush", "lookup"} {
		n := m[`excd_fuse_operations_total{op="`+op+`"}`]
		if n < 1 {
			t.Errorf("no %s counted: %v", op, fuseSamples(m))
		}
		// Every operation counted is timed, and took some time.
		if c := m[`excd_fuse_operation_duration_seconds_count{op="`+op+`"}`]; c != n {
			t.Errorf("%s: %v timed, %v counted", op, c, n)
		}
		if m[`excd_fuse_operation_duration_seconds_sum{op="`+op+`"}`] <= 0 {
			t.Errorf("%s: no time recorded: %v", op, fuseSamples(m))
		}
	}
	if m[`excd_fuse_errors_total{op="mkdir"}`] != 1 {
		t.Errorf("failed mkdir not counted once: %v", fuseSamples(m))
	}
	if m[`excd_fuse_errors_total{op="lookup"}`] != 0 {
		t.Errorf("a negative lookup counted as an error: %v", fuseSamples(m))
	}
}

func fuseSamples(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if len(k) > 10 && k[:10] == "excd_fuse_" {
			out[k] = v
		}
	}
	return out
}
