package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"excloud.dev/buckets/internal/excdtest"
)

// Invalid configuration stops the start with the key named, before
// anything is opened.
func TestBadConfigStopsStart(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "excd.toml")
	os.WriteFile(cfg, []byte("listen = \"127.0.0.1:0\"\nbogus = \"1\"\n"), 0o600)
	out, err := runExcd(t, nil, "--config", cfg, "--data-dir", filepath.Join(dir, "d"))
	if err == nil || !strings.Contains(fatalRecord(t, string(out))["err"], `unknown key "bogus"`) {
		t.Fatalf("err %v, output %q", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "d")); err == nil {
		t.Fatal("data directory created despite a bad config")
	}
	out, err = runExcd(t, nil, "--config", cfg, "--print-config")
	if err == nil {
		t.Fatalf("--print-config with a bad file succeeded: %s", out)
	}
	os.WriteFile(cfg, []byte("region = \"eu\"\n"), 0o600)
	out, err = runExcd(t, []string{"EXC_ROOT_ACCESS_KEY=" + testAK, "EXC_ROOT_SECRET_KEY=" + testSK, "EXC_LOG_LEVEL=debug"},
		"--config", cfg, "--print-config", "--listen", "127.0.0.1:7")
	if err != nil {
		t.Fatal(err, string(out))
	}
	for _, want := range []string{`region = "eu"`, `listen = "127.0.0.1:7"`, `log_level = "debug"`, `root_secret_key = "(set)"`,
		// The shipped slow-client timeouts (the -long hostile tests' premise).
		`read_header_timeout = "20s"`, `io_idle_timeout = "2m"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--print-config lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), testSK) {
		t.Fatal("--print-config printed the secret")
	}
}

// loggedURL waits for excd's log record msg and returns its url: stderr
// is copied by exec's goroutine, so the line may land a moment after
// READY=1.
func loggedURL(t *testing.T, p *proc, msg string) string {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		for _, line := range strings.Split(p.stderr.String(), "\n") {
			if u, ok := excdtest.LogValue(line, msg, "url"); ok {
				return u
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("excd logged no %q record", msg)
		}
	}
}

func metricValue(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return 0
}

// SIGHUP applies log_level and gc_interval from the edited file at once.
func TestReloadLiveSettings(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "excd.toml")
	// Port 0: excd binds a free port and prints it; a port found free
	// here and closed could be taken by another process before excd binds.
	const maddr = "127.0.0.1:0"
	write := func(level, gc string) {
		body := fmt.Sprintf("log_level = %q\ngc_interval = %q\nmetrics_listen = %q\n", level, gc, maddr)
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("warn", "0")
	n := listenNotify(t, true)
	env := baseEnv(t, n)
	env = append(env[:0:0], env...)
	for i, e := range env {
		if strings.HasPrefix(e, "EXC_GC_INTERVAL=") {
			env[i] = "EXC_LOG_FORMAT=text" // let the file decide the interval
		}
	}
	p := startExcd(t, env, nil, "--config", cfg)
	// At log_level warn the only INFO records are the two announcements
	// of where excd listens, which a port-0 supervisor needs at any level.
	metrics := metricsFrom(t, n.await(t, "READY=1"))
	for _, l := range strings.Split(strings.TrimSpace(p.stderr.String()), "\n") {
		if strings.Contains(l, "level=INFO") && !strings.Contains(l, "endpoint") {
			t.Fatalf("info line logged at log_level warn: %s", l)
		}
	}
	if !strings.Contains(p.stderr.String(), `msg="metrics endpoint"`) {
		t.Fatalf("no metrics endpoint record at log_level warn:\n%s", p.stderr.String())
	}
	if v := metricValue(t, metrics, "excd_gc_runs_total"); v != 0 {
		t.Fatalf("gc ran %v times with gc_interval 0", v)
	}
	write("info", "100ms")
	p.signal(t, syscall.SIGHUP)
	n.await(t, "RELOADING=1")
	n.await(t, "READY=1")
	deadline := time.Now().Add(time.Minute)
	for metricValue(t, metrics, "excd_gc_runs_total") < 2 {
		if time.Now().After(deadline) {
			t.Fatal("gc_interval change not applied by SIGHUP: no two collections within a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(p.stderr.String(), "msg=reloaded log_level=info gc_interval=0.1\n") {
		t.Fatalf("log_level change not applied:\n%s", p.stderr.String())
	}
	p.signal(t, syscall.SIGTERM)
	if err := p.wait(t); err != nil {
		t.Fatal(err)
	}
}

// excd --print-config shows the catalog's connection string with its
// password masked, whichever form carries it.
func TestPrintConfigMasksCatalogPassword(t *testing.T) {
	for _, v := range []string{
		"postgres://excd:Pw0rdSecret@db.example.com/excd?sslmode=verify-full",
		"postgres://excd@db.example.com/excd?password=Pw0rdSecret",
		"host=db.example.com user=excd password=Pw0rdSecret dbname=excd",
	} {
		out, err := runExcd(t, []string{"EXC_CATALOG=" + v}, "--print-config")
		if err != nil {
			t.Fatal(err, string(out))
		}
		if strings.Contains(string(out), "Pw0rdSecret") || !strings.Contains(string(out), "db.example.com") {
			t.Errorf("--print-config with catalog %q:\n%s", v, out)
		}
	}
}
