package crashtest

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/internal/excdtest"
	"excloud.dev/buckets/internal/seeded"
)

func init() { os.Unsetenv("AWS_CA_BUNDLE") }

var (
	flagCycles  = flag.Int("cycles", 0, "kill cycles (default 5; 2 under -race)")
	flagSeed    = flag.Uint64("seed", 0, "seed of the plan (default: from the clock; printed)")
	flagGCEvery = flag.Int("gcevery", 10, "collect garbage and check for leaks every N cycles (and after the last)")
)

const (
	s3Bucket = "crash"   // written over S3
	fsBucket = "crashfs" // written through the mount
	mib      = 1 << 20
)

// config sizes one run. The short version keeps the data per cycle to tens
// of MiB: CI has two cores and other tests.
type config struct {
	cycles                  int
	s3Workers, keys         int
	floodWorkers, floodKeys int // small PUTs only: they fill the catalog
	fsWorkers, fsKeys       int
	maxPut                  int64 // largest single PUT
	maxParts                int   // largest multipart upload, in parts
	maxFile                 int64 // largest file written through the mount
	killMin, killMax        time.Duration
	startupKillMax          time.Duration // kills while starting: uniform in [0, this)
}

func pickConfig() config {
	c := config{cycles: 5, s3Workers: 3, keys: 6, floodWorkers: 2, floodKeys: 32, fsWorkers: 2, fsKeys: 4,
		maxPut: 10 * mib, maxParts: 3, maxFile: 6 * mib,
		killMin: 150 * time.Millisecond, killMax: 1500 * time.Millisecond, startupKillMax: 120 * time.Millisecond}
	if excdtest.RaceEnabled {
		// The race-built daemon is several times slower: fewer cycles,
		// less data, later kills so that writes get acknowledged at all.
		c = config{cycles: 2, s3Workers: 2, keys: 4, floodWorkers: 1, floodKeys: 16, fsWorkers: 1, fsKeys: 3,
			maxPut: 5 * mib, maxParts: 2, maxFile: mib,
			killMin: 500 * time.Millisecond, killMax: 2500 * time.Millisecond, startupKillMax: 500 * time.Millisecond}
	}
	if *flagCycles > 0 {
		c.cycles = *flagCycles
	}
	return c
}

// harness is one run: the daemon, the record and the figures.
type harness struct {
	t         *testing.T
	cfg       config
	seed      uint64
	data, mnt string
	p         *excdtest.Proc
	c         *s3.Client

	killed atomic.Bool // set before SIGKILL: errors after it are the kill's
	ops    atomic.Uint64

	byOpMu sync.Mutex
	byOp   map[uint64]*State // every S3 write's state, by operation number

	keys []*keyRec
	s3w  []*s3Worker
	fsw  []*fsWorker

	log     daemonLog
	acked   counters // "op/<kind>" and "bytes/<kind>" of acknowledged operations
	figures counters // everything else reported at the end
}

// TestCrash is the crash-safety harness: cycles of load, SIGKILL at a
// random moment, restart, and a check of every key, listing and upload
// against the record; a garbage collection and space-leak check every
// -gcevery cycles and at the end.
func TestCrash(t *testing.T) {
	cfg := pickConfig()
	seed := *flagSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("crashtest: seed %d (replay with -args -seed=%d), %d cycles, race=%v", seed, seed, cfg.cycles, excdtest.RaceEnabled)
	h := &harness{t: t, cfg: cfg, seed: seed, data: t.TempDir(), mnt: t.TempDir()}
	begin := time.Now()
	h.setup()
	for cycle := 1; cycle <= cfg.cycles; cycle++ {
		h.cycle(cycle)
		if t.Failed() {
			t.Fatalf("cycle %d failed (seed %d)", cycle, seed)
		}
		if cycle < cfg.cycles && *flagGCEvery > 0 && cycle%*flagGCEvery == 0 {
			h.collect(cycle, false)
		}
	}
	h.collect(cfg.cycles, true)
	h.report(time.Since(begin))
}

func (h *harness) start() {
	h.t.Helper()
	h.checkLog()
	p, err := excdtest.TryStart(h.t, excdtest.Options{DataDir: h.data, Mount: h.mnt, Stderr: &h.log})
	if err != nil {
		// The catalog must open without manual repair every time.
		h.t.Fatalf("excd did not start on its data directory (seed %d): %v", h.seed, err)
	}
	h.p = p
	h.killed.Store(false)
	// No retries: an error is the kill's (or a bug), never something to
	// resend and count twice.
	h.c = p.S3(func(o *s3.Options) { o.Retryer = aws.NopRetryer{} })
}

func (h *harness) setup() {
	ctx := context.Background()
	h.start()
	for _, b := range []string{s3Bucket, fsBucket} {
		if _, err := h.c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			h.t.Fatal(err)
		}
	}
	for i := range h.cfg.s3Workers + h.cfg.floodWorkers {
		w := &s3Worker{h: h, id: i, prefix: fmt.Sprintf("s%d/", i)}
		n := h.cfg.keys
		if i >= h.cfg.s3Workers {
			w.flood, w.prefix, n = true, fmt.Sprintf("f%d/", i), h.cfg.floodKeys
		}
		for j := range n {
			k := &keyRec{bucket: s3Bucket, key: fmt.Sprintf("%sk%d", w.prefix, j), cur: absent}
			w.keys = append(w.keys, k)
			h.keys = append(h.keys, k)
		}
		h.s3w = append(h.s3w, w)
	}
	for i := range h.cfg.fsWorkers {
		w := &fsWorker{h: h, id: i}
		for j := range h.cfg.fsKeys {
			name := fmt.Sprintf("w%d-f%d", i, j)
			f := &keyRec{bucket: fsBucket, key: name, mount: filepath.Join(h.mnt, fsBucket, name), cur: absent}
			tmp := &keyRec{bucket: fsBucket, key: name + ".tmp", mount: filepath.Join(h.mnt, fsBucket, name+".tmp"), cur: absent}
			w.files = append(w.files, f)
			w.tmps = append(w.tmps, tmp)
			h.keys = append(h.keys, f, tmp)
		}
		h.keys = append(h.keys, w.addDirs(h.mnt)...)
		h.fsw = append(h.fsw, w)
	}
}

// nextOp numbers operations; the number seeds the content, so every write
// in a run has bytes of its own.
func (h *harness) nextOp() (op, seed uint64) {
	op = h.ops.Add(1)
	return op, seeded.Word(h.seed, op) | 1
}

// failed reports an operation's error: after the kill it is expected and
// the operation stays in flight in the record; before the kill it is a
// failure of the daemon.
func (h *harness) failed(what string, err error) error {
	if !h.killed.Load() {
		h.t.Errorf("%s failed before the kill: %v", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (h *harness) cycle(cycle int) {
	t := h.t
	rng := rand.New(rand.NewPCG(h.seed, uint64(cycle)))
	delay := h.cfg.killMin + time.Duration(rng.Int64N(int64(h.cfg.killMax-h.cfg.killMin)))
	if rng.IntN(8) == 0 {
		// Now and then a kill right at the start of the load.
		delay = time.Duration(rng.Int64N(int64(h.cfg.killMin)))
	}
	h.killed.Store(false)
	var wg sync.WaitGroup
	for _, w := range h.s3w {
		w.rng = rand.New(rand.NewPCG(h.seed, uint64(cycle)<<16|uint64(w.id)))
		wg.Go(func() { w.run(context.Background()) })
	}
	for _, w := range h.fsw {
		w.rng = rand.New(rand.NewPCG(h.seed, uint64(cycle)<<16|1<<8|uint64(w.id)))
		wg.Go(func() { w.run() })
	}
	rrng := rand.New(rand.NewPCG(h.seed, uint64(cycle)<<16|2<<8))
	wg.Go(func() { h.reader(rrng) })
	if rng.IntN(2) == 0 {
		// Half the cycles collect garbage under the writers, and so are
		// killed mid-collection now and then.
		grng := rand.New(rand.NewPCG(h.seed, uint64(cycle)<<16|3<<8))
		wg.Go(func() { h.collector(grng) })
	}
	time.Sleep(delay)
	h.killed.Store(true)
	h.p.Kill()
	h.figures.add("kills", 1)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("cycle %d: writers still blocked 2 minutes after the kill", cycle)
	}

	h.countEmptyLogs()
	if rng.IntN(2) == 0 {
		h.startupKill(time.Duration(rng.Int64N(int64(h.cfg.startupKillMax))))
		h.countEmptyLogs()
	}
	leftovers := tmpFiles(t, h.data)
	h.figures.add("tmp-leftovers", int64(len(leftovers)))
	begin := time.Now()
	h.start()
	h.figures.add("restarts", 1)
	h.figures.add("restart-ms", time.Since(begin).Milliseconds())
	for _, name := range leftovers {
		if _, err := os.Stat(name); err == nil {
			t.Errorf("cycle %d: %s, left by the kill in chunks/tmp, is still there after the restart", cycle, name)
		}
	}
	inflight := h.verify(context.Background())
	t.Logf("cycle %d: kill after %v; %d operations in flight; restart and check %v; acknowledged so far: %s",
		cycle, delay.Round(time.Millisecond), inflight, time.Since(begin).Round(time.Millisecond), h.acked.format("op/"))
}

// collector runs the garbage collector over the admin socket while the
// writers run: their leases, not luck, must keep the chunks of writes in
// flight (and of the versions readers have open) from being deleted.
func (h *harness) collector(rng *rand.Rand) {
	ac := h.p.AdminClient()
	defer ac.Close()
	for !h.killed.Load() {
		time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond)
		r, err := ac.GC(context.Background())
		if err != nil {
			if !h.killed.Load() {
				h.t.Errorf("GC under load: %v", err)
			}
			return
		}
		h.figures.add("load-gc-runs", 1)
		h.figures.add("load-gc-deleted", int64(r.Deleted))
		h.figures.add("load-gc-deferred", int64(r.Deferred))
	}
}

// startupKill starts the daemon and SIGKILLs it after d, most often while
// it replays its catalog, clears the dead mount or mounts: the next start
// must cope with whatever that left.
func (h *harness) startupKill(d time.Duration) {
	h.checkLog()
	var timer *time.Timer
	p, err := excdtest.TryStart(h.t, excdtest.Options{DataDir: h.data, Mount: h.mnt, Stderr: &h.log,
		Spawned: func(pid int) {
			timer = time.AfterFunc(d, func() { syscall.Kill(pid, syscall.SIGKILL) })
		}})
	timer.Stop()
	switch {
	case err == nil:
		p.Kill()
		h.figures.add("startup-kills-after-ready", 1)
	case strings.Contains(err.Error(), "signal: killed"):
		h.figures.add("startup-kills", 1)
	default:
		h.t.Fatalf("excd did not start on its data directory (seed %d): %v", h.seed, err)
	}
	h.figures.add("kills", 1)
}

// checkLog fails the test on a race report, panic or clamped reference
// count in the log of the daemons so far.
func (h *harness) checkLog() {
	if fatal, tail := h.log.take(); len(fatal) > 0 {
		h.t.Errorf("the daemon logged:\n%s\nlast lines:\n%s", strings.Join(fatal, "\n"), tail)
	}
}

// catalogFiles counts Badger's files by kind: the memtable's log (.mem) is
// what each start after a kill replays; tables (.sst) are written when a
// memtable is flushed (at the latest on SIGTERM).
func catalogFiles(data string) string {
	ents, _ := os.ReadDir(filepath.Join(data, "catalog"))
	n := map[string]int{}
	for _, e := range ents {
		n[filepath.Ext(e.Name())]++
	}
	return fmt.Sprintf("%d .sst, %d .mem, %d .vlog", n[".sst"], n[".mem"], n[".vlog"])
}

// countEmptyLogs counts the empty Badger log files (.mem, .vlog) a kill
// left in the catalog, which the next start must remove
// (catalog.removeEmptyLogs) to open at all.
func (h *harness) countEmptyLogs() {
	ents, _ := os.ReadDir(filepath.Join(h.data, "catalog"))
	for _, e := range ents {
		if ext := filepath.Ext(e.Name()); ext == ".mem" || ext == ".vlog" {
			if fi, err := e.Info(); err == nil && fi.Size() == 0 {
				h.figures.add("empty-catalog-logs", 1)
			}
		}
	}
}

// tmpFiles lists chunks/tmp: writes the kill interrupted.
func tmpFiles(t *testing.T, data string) []string {
	ents, err := os.ReadDir(filepath.Join(data, "chunks", "tmp"))
	if err != nil {
		t.Fatalf("read chunks/tmp: %v", err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, filepath.Join(data, "chunks", "tmp", e.Name()))
	}
	return out
}

func (h *harness) report(d time.Duration) {
	h.checkLog()
	f := &h.figures
	h.log.mu.Lock()
	h.t.Logf("crashtest: daemon log: %d error lines %q", h.log.errors, h.log.samples)
	h.log.mu.Unlock()
	bytes := h.acked.sum("bytes/")
	h.t.Logf("crashtest: seed %d: %d cycles, %d kills (%d of them while starting, %d just after), %d restarts (all opened without repair), %v",
		h.seed, h.cfg.cycles, f.get("kills"), f.get("startup-kills"), f.get("startup-kills-after-ready"), f.get("restarts"), d.Round(time.Second))
	h.t.Logf("crashtest: acknowledged operations: %s", h.acked.format("op/"))
	h.t.Logf("crashtest: acknowledged bytes (copies are metadata only): %s; total %d", h.acked.format("bytes/"), bytes)
	h.t.Logf("crashtest: in flight at kills: %s", f.format("inflight/"))
	h.t.Logf("crashtest: verified %d keys, %d bytes over S3, %d bytes through the mount, %d uploads, %d parts",
		f.get("verified-keys"), f.get("verified-s3-bytes"), f.get("verified-mount-bytes"), f.get("verified-uploads"), f.get("verified-parts"))
	h.t.Logf("crashtest: reads racing the writers: %d GETs (whole or ranged), %d bytes checked", f.get("load-reads"), f.get("load-read-bytes"))
	h.t.Logf("crashtest: collections racing the writers: %d, %d chunks deleted, %d deferred for open readers",
		f.get("load-gc-runs"), f.get("load-gc-deleted"), f.get("load-gc-deferred"))
	h.t.Logf("crashtest: catalog files at the end: %s", catalogFiles(h.data))
	h.t.Logf("crashtest: empty catalog log files left by kills (removed at the next start): %d", f.get("empty-catalog-logs"))
	h.t.Logf("crashtest: chunks/tmp leftovers removed at restart: %d; mean restart %d ms",
		f.get("tmp-leftovers"), f.get("restart-ms")/max(1, f.get("restarts")))
	h.t.Logf("crashtest: checked collections: %d; orphan chunks before GC %d, deleted by GC %d, after GC %d",
		f.get("gc-runs"), f.get("orphans-before"), f.get("gc-deleted"), f.get("orphans-after"))
	h.t.Logf("crashtest: after SIGTERM, in process: %d chunk files, %d referenced, %d orphans, %d missing; scrub of %d objects and %d parts clean",
		f.get("final/chunk-files"), f.get("final/referenced"), f.get("final/orphans"), f.get("final/missing"), f.get("final/scrub-objects"), f.get("final/scrub-parts"))
}
