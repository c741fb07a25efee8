package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/admin"
	"excloud.dev/buckets/internal/daemon"
	"excloud.dev/buckets/internal/logging"
	"excloud.dev/buckets/internal/testutil"
)

// jsonRecords parses a JSON log, one object per line.
func jsonRecords(t *testing.T, log *testutil.LogBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// findRecords returns the records with msg whose attributes include want.
func findRecords(t *testing.T, log *testutil.LogBuffer, msg string, want map[string]any) []map[string]any {
	t.Helper()
	var out []map[string]any
next:
	for _, m := range jsonRecords(t, log) {
		if m["msg"] != msg {
			continue
		}
		for k, v := range want {
			if m[k] != v {
				continue next
			}
		}
		out = append(out, m)
	}
	return out
}

// An operator's view of one daemon at --log-level debug, through excd's
// JSON handler: a bucket made by mkdir in the mount is logged as one made
// with exc is; the access log believes X-Forwarded-For from a configured
// proxy; the mount says which changes it invalidated and which it skipped;
// the collector says what it freed.
func TestOperatorLog(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and /dev/fuse")
	}
	ctx := context.Background()
	mnt := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(mnt, 0o755)
	log := &testutil.LogBuffer{}
	d := startWith(t, daemon.Config{
		DataDir:        t.TempDir(),
		Mounts:         []string{mnt},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Logger:         slog.New(logging.NewJSONHandler(log, slog.LevelDebug)),
	})
	ac := admin.Dial(d.AdminSocket())
	defer ac.Close()
	orgs, err := ac.Orgs(ctx)
	if err != nil || len(orgs) != 1 {
		t.Fatalf("orgs %v, %v", orgs, err)
	}
	org := orgs[0].ID

	// Bucket creation: exc (the admin API), then mkdir at the mount's root.
	if _, err := ac.CreateBucket(ctx, org, "viaexc"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(mnt, "viamount"), 0o755); err != nil {
		t.Fatal(err)
	}
	byExc := findRecords(t, log, "bucket created", map[string]any{"bucket": "viaexc"})
	byMount := findRecords(t, log, "bucket created", map[string]any{"bucket": "viamount"})
	if len(byExc) != 1 || len(byMount) != 1 {
		t.Fatalf("bucket created: %d records for exc, %d for the mount, want 1 each:\n%s", len(byExc), len(byMount), log.String())
	}
	if byExc[0]["level"] != "INFO" || byMount[0]["level"] != "INFO" || byMount[0]["org_id"] != org || byExc[0]["org_id"] != org {
		t.Errorf("records differ in level or org: %v / %v", byExc[0], byMount[0])
	}
	for k := range byExc[0] {
		if _, ok := byMount[0][k]; !ok {
			t.Errorf("the mount's record lacks %q: %v (exc's: %v)", k, byMount[0], byExc[0])
		}
	}
	if byExc[0]["via"] != "admin" || byMount[0]["via"] != "mount" {
		t.Errorf("via: %v / %v", byExc[0]["via"], byMount[0]["via"])
	}

	// The access log behind a trusted proxy (the test is the proxy).
	c := testutil.S3("http://"+d.Addr(), testAK, testSK, testutil.WithHeader("X-Forwarded-For", "198.51.100.1, 203.0.113.9"))
	if _, err := os.Stat(filepath.Join(mnt, "viaexc")); err != nil { // the kernel now knows the directory
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("excd"), 256<<10/4) // past objects.BodyMax: it has a chunk
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("viaexc"), Key: aws.String("obj"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	// The access line is written once the response is complete, which the
	// client may see first.
	var puts []map[string]any
	for deadline := time.Now().Add(30 * time.Second); len(puts) == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		puts = findRecords(t, log, "s3 request", map[string]any{"op": "PutObject", "bucket": "viaexc", "key": "obj"})
	}
	if len(puts) != 1 {
		t.Fatalf("%d access lines for the put:\n%s", len(puts), log.String())
	}
	if puts[0]["remote_addr"] != "203.0.113.9" || puts[0]["forwarded_by"] != "127.0.0.1" || puts[0]["access_key_id"] != testAK || puts[0]["org"] != org {
		t.Errorf("access line: %v", puts[0])
	}
	if _, ok := puts[0]["duration"].(float64); !ok {
		t.Errorf("duration %#v is not a number of seconds", puts[0]["duration"])
	}

	// Mount invalidations: the S3 put reached the mount through the change
	// feed; a write through the mount itself needs none.
	if len(findRecords(t, log, "fsmount: invalidate", map[string]any{"bucket": "viaexc", "key": "obj", "event": "object_put", "level": "DEBUG"})) == 0 {
		t.Errorf("no invalidation logged for the S3 put:\n%s", log.String())
	}
	if err := os.WriteFile(filepath.Join(mnt, "viamount", "f"), []byte("through the mount"), 0o644); err != nil {
		t.Fatal(err)
	}
	if len(findRecords(t, log, "fsmount: no invalidation: the change came through this mount", map[string]any{"bucket": "viamount", "key": "f"})) == 0 {
		t.Errorf("no skipped invalidation logged for the mount's own write:\n%s", log.String())
	}

	// GC: the deleted object's chunk is freed, and said so.
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("viaexc"), Key: aws.String("obj")}); err != nil {
		t.Fatal(err)
	}
	st, err := d.RunGC(ctx)
	if err != nil || st.Deleted == 0 {
		t.Fatalf("gc: %+v, %v", st, err)
	}
	if n := len(findRecords(t, log, "gc: chunk freed: no manifest or part refers to it", map[string]any{"level": "DEBUG"})); n != st.Deleted {
		t.Errorf("%d chunk freed records, gc deleted %d:\n%s", n, st.Deleted, log.String())
	}
	runs := findRecords(t, log, "gc run", map[string]any{"deleted": float64(st.Deleted)})
	if len(runs) != 1 {
		t.Fatalf("%d gc run records:\n%s", len(runs), log.String())
	}
	if _, ok := runs[0]["duration"].(float64); !ok {
		t.Errorf("gc run duration %#v", runs[0]["duration"])
	}

	// Bucket removal through the mount is logged like removal through exc.
	if err := os.Remove(filepath.Join(mnt, "viamount", "f")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(mnt, "viamount")); err != nil {
		t.Fatal(err)
	}
	if err := ac.DeleteBucket(ctx, org, "viaexc"); err != nil {
		t.Fatal(err)
	}
	var vias []string
	for _, m := range findRecords(t, log, "bucket deleted", map[string]any{"org_id": org}) {
		vias = append(vias, m["via"].(string))
	}
	slices.Sort(vias)
	if !slices.Equal(vias, []string{"admin", "mount"}) {
		t.Errorf("bucket deleted records via %v:\n%s", vias, log.String())
	}
}
