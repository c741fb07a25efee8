package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/internal/excdtest"
)

func init() { os.Unsetenv("AWS_CA_BUNDLE") }

// Flags of the long version:
//
//	go test ./internal/loadtest -run TestLoad -count=1 -v -args -duration=60s
//
// Zero values take the CI defaults (see loadConfig).
var (
	flagDuration = flag.Duration("duration", 0, "length of the measured load phase (default 10s; 6s under -race)")
	flagClients  = flag.Int("clients", 0, "concurrent S3 client goroutines (default 200; 40 under -race)")
	flagFUSE     = flag.Int("fuse", 0, "FUSE writer goroutines, and as many readers (default 3; 2 under -race)")
	flagMaxSize  = flag.Int64("max-size", 0, "largest object in bytes (default 64 MiB; 8 MiB under -race)")
	flagMount    = flag.Bool("mount", true, "mount FUSE and run the FUSE workers (false: S3 only, to compare)")
	flagRSS      = flag.Int64("rss-limit-mib", 512, "fail when the daemon's peak RSS (VmHWM) exceeds this, without -race")
)

type loadConfig struct {
	duration, warmup time.Duration
	clients, fuse    int
	maxSize          int64
	bigInFlight      int // operations of >= bigSize at once, over all clients
}

// bigSize is where an object counts as big: its PUTs and full GETs take
// one of loadConfig.bigInFlight tokens, so that with 2 cores and a shared
// disk the bytes in flight stay bounded however many clients draw a big one.
const bigSize = 16 << 20

func configFromFlags() loadConfig {
	c := loadConfig{duration: 10 * time.Second, clients: 200, fuse: 3, maxSize: 64 << 20, bigInFlight: 4}
	if excdtest.RaceEnabled {
		// The race detector slows excd ~10x and multiplies its memory:
		// fewer clients and smaller objects keep the run near a minute.
		c.clients, c.fuse, c.maxSize, c.bigInFlight = 40, 2, 8<<20, 2
		c.duration = 6 * time.Second
	}
	if *flagDuration > 0 {
		c.duration = *flagDuration
	}
	if *flagClients > 0 {
		c.clients = *flagClients
	}
	if *flagFUSE > 0 {
		c.fuse = *flagFUSE
	}
	if *flagMaxSize > 0 {
		c.maxSize = *flagMaxSize
	}
	c.warmup = min(3*time.Second, c.duration/3)
	return c
}

// harness is what every worker shares.
type harness struct {
	cfg    loadConfig
	stats  *Stats
	bucket string
	mnt    string // the bucket's directory in the mount
	s3     [2]*s3.Client
	big    chan struct{}
	shared *history
	stop   atomic.Bool
}

const opTimeout = 2 * time.Minute

// TestLoad is the bounded load test: see the package doc. It runs a
// warm-up, takes the daemon's goroutine and fd baseline at rest, runs the
// measured load, and checks that everything returns to the baseline.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test skipped in -short")
	}
	cfg := configFromFlags()
	data, mnt := t.TempDir(), t.TempDir()
	if !*flagMount {
		cfg.fuse = 0
	}
	dlog := &daemonLog{}
	opts := excdtest.Options{DataDir: data, Mount: mnt, Metrics: true,
		// Per-request info lines would cost the daemon more than some
		// requests; warnings and errors are what the test checks.
		Args: []string{"--log-level", "warn"}, Stderr: dlog}
	if !*flagMount {
		opts.Mount = ""
	}
	p := excdtest.Start(t, opts)
	ctx := context.Background()

	tr := &http.Transport{
		DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		// The default of 2 idle connections per host would make 200
		// clients open and close a connection per request.
		MaxIdleConns:        4 * cfg.clients,
		MaxIdleConnsPerHost: 4 * cfg.clients,
		IdleConnTimeout:     90 * time.Second,
	}
	h := &harness{cfg: cfg, stats: &Stats{}, bucket: "load", mnt: filepath.Join(mnt, "load"),
		big: make(chan struct{}, cfg.bigInFlight), shared: newHistory()}
	// Half the clients send the SDK's default CRC32 checksums, half only
	// what S3 requires, so both upload paths of the gateway are loaded.
	for i, calc := range []aws.RequestChecksumCalculation{aws.RequestChecksumCalculationWhenSupported, aws.RequestChecksumCalculationWhenRequired} {
		h.s3[i] = p.S3(func(o *s3.Options) {
			o.HTTPClient = &http.Client{Transport: tr}
			o.Retryer = aws.NopRetryer{} // every error must be seen, none retried away
			o.RequestChecksumCalculation = calc
		})
	}
	if _, err := h.s3[0].CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(h.bucket)}); err != nil {
		t.Fatal(err)
	}
	s3w := make([]*s3worker, cfg.clients)
	for i := range s3w {
		s3w[i] = newS3Worker(h, i)
	}
	fw := make([]*fuseWorker, 2*cfg.fuse)
	for i := range fw {
		fw[i] = newFUSEWorker(h, i, i < cfg.fuse)
	}
	t.Logf("config: %d S3 clients, %d FUSE writers + %d readers, objects up to %d MiB, %d big ops in flight, warm-up %s, load %s, race %v",
		cfg.clients, cfg.fuse, cfg.fuse, cfg.maxSize>>20, cfg.bigInFlight, cfg.warmup, cfg.duration, excdtest.RaceEnabled)

	// Warm-up: every path runs once, so pools that grow on first use
	// (Badger, the put workers, go-fuse readers) are in the baseline.
	warm := &Stats{}
	h.stats = warm
	h.run(t, p, s3w, fw, cfg.warmup, nil)
	if n := warm.Unexpected(); n > 0 {
		t.Fatalf("%d unexpected errors during warm-up:\n%s\n%s", n, strings.Join(warm.Errors(), "\n"), warm.Report(cfg.warmup))
	}
	tr.CloseIdleConnections()
	t.Logf("warm-up: %d invalidation-pending warnings", dlog.pendingCount())
	base := settle(ctx, t, p, data)
	t.Logf("baseline at rest after warm-up (%d ops): %s", warm.Total(), base)

	// The measured load, with a monitor sampling the daemon.
	h.stats = &Stats{}
	mon := startMonitor(ctx, p)
	start := time.Now()
	h.run(t, p, s3w, fw, cfg.duration, dlog)
	elapsed := time.Since(start)
	peak := mon.finish()
	t.Logf("load results:\n%s", h.stats.Report(elapsed))

	// After the load: nothing may stay behind.
	tr.CloseIdleConnections()
	after, ok := waitBaseline(ctx, t, p, data, base, 2*cfg.fuse, 30*time.Second)
	hwm := p.Status("VmHWM")
	t.Logf("daemon goroutines: baseline %d, peak %d, after %d", base.goroutines, peak.goroutines, after.goroutines)
	t.Logf("daemon fds: baseline %s, peak %d, after %s", base.fds, peak.fds, after.fds)
	if after.fds.others != base.fds.others {
		t.Logf("other fds: baseline [%s], after [%s]", base.fds.others, after.fds.others)
	}
	t.Logf("daemon RSS: peak (VmHWM) %.1f MiB, sampled peak VmRSS %.1f MiB, after %.1f MiB",
		mib(hwm), mib(peak.rss), mib(p.Status("VmRSS")))
	t.Logf("load: %d invalidation-pending warnings (each held one feed delivery 200 ms)", dlog.pendingCount())
	if errs := dlog.errors(); len(errs) > 0 {
		t.Errorf("daemon logged %d warnings/errors, first:\n%s", dlog.count(), strings.Join(errs, "\n"))
	}
	if n := h.stats.Unexpected(); n > 0 {
		t.Errorf("%d unexpected errors, first:\n%s", n, strings.Join(h.stats.Errors(), "\n"))
	}
	if !ok {
		t.Errorf("daemon did not return to its baseline within 30 s: %s (baseline %s; tolerance %d goroutines, %d fds, %d pipes)",
			after, base, goroutineSlack, fdSlack, pipeSlack(2*cfg.fuse))
	}
	if !excdtest.RaceEnabled && hwm > *flagRSS<<20 {
		t.Errorf("daemon peak RSS %.1f MiB exceeds %d MiB", mib(hwm), *flagRSS)
	}
	checkStore(ctx, t, p)
}

// run runs every worker for d (and its last operation), then waits for
// them. A worker stuck for two minutes past the end means a deadlock: the
// daemon is made to dump its goroutines (SIGQUIT) into the log and the
// test's own goroutines are printed.
func (h *harness) run(t *testing.T, p *excdtest.Proc, s3w []*s3worker, fw []*fuseWorker, d time.Duration, dlog *daemonLog) {
	h.stop.Store(false)
	var wg sync.WaitGroup
	for _, w := range s3w {
		wg.Go(w.run)
	}
	for _, w := range fw {
		wg.Go(w.run)
	}
	// The collector runs during the load, as its timer would in
	// production, so its leases and reader waits are under load too.
	gcDone, gcStop := make(chan struct{}), make(chan struct{})
	var gcRuns []string
	go func() {
		defer close(gcDone)
		ac := p.AdminClient()
		defer ac.Close()
		tick := time.NewTicker(max(d/4, time.Second))
		defer tick.Stop()
		for {
			select {
			case <-gcStop:
				return
			case <-tick.C:
			}
			r, err := ac.GC(context.Background())
			if err != nil {
				h.stats.Fail("gc", err)
				continue
			}
			gcRuns = append(gcRuns, fmt.Sprintf("%.1fs/%d chunks/%.1f MiB/%d deferred",
				r.DurationSeconds, r.Deleted, mib(r.BytesFreed), r.Deferred))
		}
	}()
	time.Sleep(d)
	h.stop.Store(true)
	close(gcStop)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(opTimeout + 30*time.Second):
		var b bytes.Buffer
		pprof.Lookup("goroutine").WriteTo(&b, 1)
		p.Quit() // its goroutine dump goes to the daemon log
		t.Fatalf("workers still running %s after the end: deadlock?\ntest goroutines:\n%s\ndaemon log tail:\n%s",
			opTimeout+30*time.Second, b.String(), dlog.tail())
	}
	<-gcDone
	t.Logf("collector runs during the phase (time/freed/deferred): %v", gcRuns)
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// daemonLog receives the daemon's stderr (at warn level: only warnings,
// errors and a SIGQUIT dump), one line per Write.
type daemonLog struct {
	mu      sync.Mutex
	first   []string
	last    []string
	n       int
	pending int // see pendingWarning
}

// pendingWarning is the one warning the load may cause by design: a feed
// delivery gave the kernel 200 ms to take an invalidation and went on
// (fsmount's package doc, "Invalidation"). It is counted and reported, not
// failed on.
const pendingWarning = "kernel invalidation still pending"

func (l *daemonLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, pendingWarning) {
			l.pending++
		} else if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			l.n++
			if len(l.first) < maxKeptErrors {
				l.first = append(l.first, line)
			}
		}
		l.last = append(l.last, line)
		if len(l.last) > 400 {
			l.last = l.last[100:]
		}
	}
	return len(p), nil
}

func (l *daemonLog) errors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.first...)
}

// pendingCount returns the count of pendingWarning lines and resets it.
func (l *daemonLog) pendingCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.pending
	l.pending = 0
	return n
}

func (l *daemonLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func (l *daemonLog) tail() string {
	if l == nil {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.last, "\n")
}

// randSeed is a non-zero seed; zero marks a deleted version in history.
func randSeed(rng *rand.Rand) uint64 { return rng.Uint64() | 1 }
