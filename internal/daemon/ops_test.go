package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/admin"
	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/internal/daemon"
	"excloud.dev/buckets/internal/excdtest"
	"excloud.dev/buckets/internal/metrics"
	"excloud.dev/buckets/internal/testutil"
)

func startWith(t *testing.T, cfg daemon.Config) *daemon.Daemon {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	cfg.RootAccessKey, cfg.RootSecretKey = testAK, testSK
	cfg.GCInterval = -1
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	d, err := daemon.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// plainClient sends bodies without aws-chunked framing or trailing
// checksums, so bytes on the wire equal object bytes.
func plainClient(d *daemon.Daemon) *s3.Client {
	return testutil.S3("http://"+d.Addr(), testAK, testSK, func(o *s3.Options) {
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
}

// scrape fetches /metrics and returns every sample keyed as printed,
// e.g. `excd_s3_requests_total{op="PutObject",status="200"}`.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// After a known sequence of S3 requests, the counters say exactly that.
func TestMetricsCountRequests(t *testing.T) {
	m := metrics.New()
	m.StatsTTL = 0 // scan on every scrape, so gauges are exact at once
	d := startWith(t, daemon.Config{DataDir: t.TempDir(), MetricsListen: "127.0.0.1:0", Metrics: m})
	ma := d.MetricsAddr()
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
		resp, err := http.Get("http://" + ma + path)
		if err != nil || resp.StatusCode != want {
			t.Fatalf("%s: %v %v", path, resp.StatusCode, err)
		}
		resp.Body.Close()
	}

	ctx := context.Background()
	c := plainClient(d)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("met")}); err != nil {
		t.Fatal(err)
	}
	sizes := []int{100, 200000, 5 << 20} // inline, one chunk (past objects.BodyMax), two chunks
	var total int64
	for i, n := range sizes {
		body := randBytes(n, uint64(i))
		total += int64(n)
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("met"), Key: aws.String("k" + strconv.Itoa(i)), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("met"), Key: aws.String("k1")})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, out.Body)
		out.Body.Close()
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("met"), Key: aws.String("missing")}); err == nil {
		t.Fatal("HEAD of a missing key succeeded")
	}
	if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("met")}); err != nil {
		t.Fatal(err)
	}

	got := scrape(t, ma)
	want := map[string]float64{
		`excd_s3_requests_total{op="CreateBucket",status="200"}`:            1,
		`excd_s3_requests_total{op="PutObject",status="200"}`:               3,
		`excd_s3_requests_total{op="GetObject",status="200"}`:               2,
		`excd_s3_requests_total{op="HeadObject",status="404"}`:              1,
		`excd_s3_requests_total{op="ListObjectsV2",status="200"}`:           1,
		`excd_s3_received_bytes_total{op="PutObject"}`:                      float64(total),
		`excd_s3_sent_bytes_total{op="GetObject"}`:                          2 * 200000,
		`excd_s3_request_duration_seconds_count{op="PutObject"}`:            3,
		`excd_s3_request_duration_seconds_count{op="GetObject"}`:            2,
		`excd_s3_requests_in_flight`:                                        0,
		`excd_objects`:                                                      3,
		`excd_stored_bytes`:                                                 float64(total),
		`excd_chunks`:                                                       3,
		`excd_store_stats_up`:                                               1,
		`excd_chunk_writes_total`:                                           3,
		`excd_gc_runs_total`:                                                0,
		`excd_s3_requests_total{op="DeleteObject",status="204"}`:            0, // absent: never happened
		`excd_s3_request_duration_seconds_bucket{op="GetObject",le="+Inf"}`: 2,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	var reqs float64
	for k, v := range got {
		if strings.HasPrefix(k, "excd_s3_requests_total{") {
			reqs += v
		}
	}
	if reqs != 8 {
		t.Errorf("%v requests counted in all, want 8", reqs)
	}
	if got["excd_chunk_store_bytes"] <= float64(total-100) || got["excd_catalog_bytes"] <= 0 || got["excd_dedup_ratio"] <= 0 {
		t.Errorf("store gauges: chunk bytes %v, catalog bytes %v, dedup %v", got["excd_chunk_store_bytes"], got["excd_catalog_bytes"], got["excd_dedup_ratio"])
	}

	d.Close()
	if resp, err := http.Get("http://" + ma + "/readyz"); err == nil {
		resp.Body.Close()
		t.Fatal("metrics listener still up after Close")
	}
}

// exc gc deletes exactly the chunks no object references, and reports
// their stored size.
func TestGCFreesExactlyUnreferenced(t *testing.T) {
	m := metrics.New()
	dir := t.TempDir()
	d := startWith(t, daemon.Config{DataDir: dir, MetricsListen: "127.0.0.1:0", Metrics: m})
	ctx := context.Background()
	c := plainClient(d)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("gcb")}); err != nil {
		t.Fatal(err)
	}
	put := func(key string, data []byte) {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("gcb"), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
	}
	shared := randBytes(4<<20, 1)
	own := randBytes(1<<20, 2)
	put("keep", shared)                                      // chunk S
	put("drop", append(append([]byte{}, shared...), own...)) // chunks S (deduplicated) and O
	put("gone", randBytes(2<<20, 3))                         // chunk G
	chunkSizes := chunkFileSizes(t, dir)
	if len(chunkSizes) != 3 {
		t.Fatalf("%d chunk files, want 3", len(chunkSizes))
	}
	for _, k := range []string{"drop", "gone"} {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("gcb"), Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	ac := admin.Dial(d.AdminSocket())
	defer ac.Close()
	rep, err := ac.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after := chunkFileSizes(t, dir)
	var freed int64
	for name, size := range chunkSizes {
		if _, ok := after[name]; !ok {
			freed += size
		}
	}
	if rep.Scanned != 3 || rep.Deleted != 2 || len(after) != 1 || rep.BytesFreed != freed {
		t.Fatalf("gc report %+v; %d files left, %d bytes gone; want 3 scanned, 2 deleted, 1 left", rep, len(after), freed)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("gcb"), Key: aws.String("keep")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if !bytes.Equal(got, shared) {
		t.Fatal("the shared chunk was collected")
	}
	// A second run finds nothing.
	if rep, err := ac.GC(ctx); err != nil || rep.Deleted != 0 || rep.Scanned != 1 {
		t.Fatalf("second gc: %+v %v", rep, err)
	}
	s := scrape(t, d.MetricsAddr())
	if s["excd_gc_runs_total"] != 2 || s["excd_gc_chunks_deleted_total"] != 2 || s["excd_gc_freed_bytes_total"] != float64(freed) {
		t.Fatalf("gc metrics: runs %v deleted %v freed %v", s["excd_gc_runs_total"], s["excd_gc_chunks_deleted_total"], s["excd_gc_freed_bytes_total"])
	}
}

func chunkFileSizes(t *testing.T, dataDir string) map[string]int64 {
	t.Helper()
	files, err := excdtest.ChunkFiles(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for name, p := range files {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = fi.Size()
	}
	return out
}

// exc backup streams the catalog; restored into an empty data directory
// with the master key and a copy of the chunks, every object reads back.
// scrub through the admin API passes on the result.
func TestBackupRestore(t *testing.T) {
	src := t.TempDir()
	d := startWith(t, daemon.Config{DataDir: src})
	ctx := context.Background()
	c := plainClient(d)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bkp")}); err != nil {
		t.Fatal(err)
	}
	objs := map[string][]byte{"small": []byte("hello"), "medium": randBytes(64<<10, 8), "big": randBytes(5<<20, 9)}
	for k, v := range objs {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkp"), Key: aws.String(k), Body: bytes.NewReader(v)}); err != nil {
			t.Fatal(err)
		}
	}
	ac := admin.Dial(d.AdminSocket())
	defer ac.Close()
	var backup bytes.Buffer
	n, err := ac.Backup(ctx, &backup)
	if err != nil || n != int64(backup.Len()) || n == 0 {
		t.Fatalf("backup: %d bytes, %v", n, err)
	}
	// Procedure: catalog backup first, then the chunks and the key.
	dst := t.TempDir()
	copyTree(t, filepath.Join(src, "chunks"), filepath.Join(dst, "chunks"))
	copyTree(t, filepath.Join(src, "master.key"), filepath.Join(dst, "master.key"))
	d.Close()

	if err := daemon.Restore(dst, "", bytes.NewReader(backup.Bytes()), nil); err != nil {
		t.Fatal(err)
	}
	// Never into a catalog that exists.
	if err := daemon.Restore(dst, "", bytes.NewReader(backup.Bytes()), nil); !errors.Is(err, catalog.ErrNotEmpty) {
		t.Fatalf("second restore: %v", err)
	}
	// Never with a fresh master key: it could not read the chunks.
	if err := daemon.Restore(t.TempDir(), "", bytes.NewReader(backup.Bytes()), nil); err == nil || !strings.Contains(err.Error(), "master key") {
		t.Fatalf("restore without a key: %v", err)
	}
	// Nor when systemd passed no key credential.
	t.Setenv("CREDENTIALS_DIRECTORY", t.TempDir())
	empty := t.TempDir()
	if err := daemon.Restore(empty, "", bytes.NewReader(backup.Bytes()), nil); err == nil || !strings.Contains(err.Error(), "master key") {
		t.Fatalf("restore without a key credential: %v", err)
	}
	if _, err := os.Stat(filepath.Join(empty, "master.key")); err == nil {
		t.Fatal("a failed restore created a master key")
	}
	os.Unsetenv("CREDENTIALS_DIRECTORY")

	d2 := startWith(t, daemon.Config{DataDir: dst})
	c2 := plainClient(d2)
	for k, v := range objs {
		out, err := c2.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkp"), Key: aws.String(k)})
		if err != nil {
			t.Fatalf("%s after restore: %v", k, err)
		}
		got, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if !bytes.Equal(got, v) {
			t.Fatalf("%s after restore: wrong bytes", k)
		}
	}
	ac2 := admin.Dial(d2.AdminSocket())
	defer ac2.Close()
	rep, err := ac2.Scrub(ctx)
	// The 5 MiB object is two chunks; the 64 KiB one a catalog body.
	if err != nil || rep.Damaged || rep.Chunks != 2 || rep.Objects != 3 || rep.Bodies != 1 || rep.BodyBytes != 64<<10 {
		t.Fatalf("scrub after restore: %+v %v", rep, err)
	}
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if e.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A start that fails (here: the S3 port is taken) returns an error, not a
// panic, and releases everything: the next start on the directory works.
func TestFailedStartReleasesEverything(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, err = daemon.Start(daemon.Config{DataDir: dir, Listen: busy.Addr().String(), GCInterval: -1, Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("start on a busy port: %v", err)
	}
	d, err := daemon.Start(daemon.Config{DataDir: dir, Listen: "127.0.0.1:0", GCInterval: -1, Logger: quiet})
	if err != nil {
		t.Fatalf("start after a failed start: %v", err)
	}
	d.Close()
}

// A backup stream cut short fails the restore into a data directory, with
// a message that names the stream, and leaves no catalog behind: the full
// stream then restores into the same directory.
func TestRestoreTruncatedStream(t *testing.T) {
	src := t.TempDir()
	d := startWith(t, daemon.Config{DataDir: src})
	ctx := context.Background()
	if _, err := plainClient(d).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("cut")}); err != nil {
		t.Fatal(err)
	}
	var backup bytes.Buffer
	if _, err := admin.Dial(d.AdminSocket()).Backup(ctx, &backup); err != nil {
		t.Fatal(err)
	}
	d.Close()
	dst := t.TempDir()
	copyTree(t, filepath.Join(src, "master.key"), filepath.Join(dst, "master.key"))
	err := daemon.Restore(dst, "", bytes.NewReader(backup.Bytes()[:backup.Len()-10]), nil)
	if err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("restore of a truncated stream: %v; want a failure naming the stream", err)
	}
	t.Logf("truncated stream: %v", err)
	if ents, err := os.ReadDir(filepath.Join(dst, "catalog")); err == nil && len(ents) > 0 {
		t.Fatalf("a failed restore left %d files in the catalog directory", len(ents))
	}
	if err := daemon.Restore(dst, "", bytes.NewReader(backup.Bytes()), nil); err != nil {
		t.Fatalf("restore after a failed one: %v", err)
	}
	r, err := daemon.Start(daemon.Config{DataDir: dst, Listen: "127.0.0.1:0", RootAccessKey: testAK, RootSecretKey: testSK, GCInterval: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := plainClient(r).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("cut")}); err != nil {
		t.Fatalf("bucket after the restore: %v", err)
	}
}
