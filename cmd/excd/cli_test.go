package main

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"excloud.dev/buckets/internal/excdtest"
)

// runCLI runs excd (or exc) with a clean environment and returns stdout,
// stderr and the exit code.
func runCLI(t *testing.T, bin string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "EXC_CONFIG=/dev/null"}, env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	noRace(t, e.String())
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// jsonLog checks that every line of stderr is a JSON log record and
// returns them.
func jsonLog(t *testing.T, stderr string) []map[string]string {
	t.Helper()
	var recs []map[string]string
	for _, line := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
		if line == "" && stderr == "" {
			break
		}
		if !strings.HasPrefix(line, "{") {
			t.Errorf("stderr line is not JSON: %q", line)
			continue
		}
		a, ok := excdtest.LogRecord(line)
		if !ok {
			t.Errorf("stderr line is not a log record: %q", line)
			continue
		}
		recs = append(recs, a)
	}
	return recs
}

// fatalRecord is the last record, which must be the ERROR that ended excd.
func fatalRecord(t *testing.T, stderr string) map[string]string {
	t.Helper()
	recs := jsonLog(t, stderr)
	if len(recs) == 0 {
		t.Fatalf("no log record on stderr")
	}
	last := recs[len(recs)-1]
	if last["level"] != "ERROR" || last["msg"] != "exiting on error" {
		t.Fatalf("last record is not the fatal error: %v", last)
	}
	return last
}

// --help shows pflag-style flags and examples on stdout; a bad command
// line is a usage error, exit 2, as in exc, logged as one JSON record.
func TestCommandLine(t *testing.T) {
	excd := excdBin(t)
	out, errOut, code := runCLI(t, excd, nil, "--help")
	if code != 0 || errOut != "" {
		t.Fatalf("--help: exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"Usage:\n  excd [flags]", "Examples:\n", "--data-dir string", "--gc-interval duration",
		"--config file", "--print-config", "--restore file", "-v, --version", "flag > environment > config file > default",
		"Exit codes: 0 ok, 1 error"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q:\n%s", want, out)
		}
	}
	if out, _, code := runCLI(t, excd, nil, "--version"); code != 0 || !strings.HasPrefix(out, "excd ") {
		t.Errorf("--version: exit %d, %q", code, out)
	}

	dataDir := filepath.Join(t.TempDir(), "data")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve"}, `unknown command "serve"`},
		{[]string{"print-config"}, `unknown command "print-config" for "excd" (excd takes flags only); did you mean --print-config?`},
		{[]string{"verison"}, "did you mean --version?"},
		{[]string{"--bogus"}, "unknown flag: --bogus"},
		{[]string{"-data-dir", dataDir}, "long flags take two dashes: --data-dir"},
		{[]string{"--gc-interval", "often"}, `invalid duration "often"`},
		{[]string{"--listen"}, "flag needs an argument"},
	} {
		args := append([]string{"--data-dir", dataDir}, tc.args...)
		out, errOut, code := runCLI(t, excd, nil, args...)
		if code != 2 || out != "" {
			t.Errorf("%q: exit %d (want 2), stdout %q", tc.args, code, out)
		}
		rec := fatalRecord(t, errOut)
		if !strings.Contains(rec["err"], tc.want) || rec["exit_code"] != "2" || rec["help"] != "excd --help" {
			t.Errorf("%q: record %v; want err with %q, exit_code 2", tc.args, rec, tc.want)
		}
		if _, err := os.Stat(dataDir); err == nil {
			t.Fatalf("%q made the data directory", tc.args)
		}
	}

	// A bad configuration is an error, not a usage error: exit 1.
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte(`bogus = "1"`+"\n"), 0o600)
	_, errOut, code = runCLI(t, excd, nil, "--config", bad, "--data-dir", dataDir)
	if rec := fatalRecord(t, errOut); code != 1 || rec["exit_code"] != "1" || !strings.Contains(rec["err"], `unknown key "bogus"`) {
		t.Errorf("bad config: exit %d, %v", code, rec)
	}
	// The format asked for is used for the error when the flag is good.
	_, errOut, _ = runCLI(t, excd, []string{"EXC_LOG_FORMAT=text"}, "--config", bad)
	if !strings.HasPrefix(errOut, "time=") || !strings.Contains(errOut, `level=ERROR msg="exiting on error"`) {
		t.Errorf("bad config with EXC_LOG_FORMAT=text: %q", errOut)
	}

	// exc follows the same convention.
	exc := excdtest.Build(t, "exc")
	if _, _, code := runCLI(t, exc, nil, "--bogus"); code != 2 {
		t.Errorf("exc --bogus: exit %d, want 2 as excd", code)
	}
}

// Everything excd writes to stderr is a JSON log record (the default
// format when stderr is not a terminal): through a first start, a stop on
// SIGTERM and a failed start, so `excd 2>&1 | jq` never breaks. The first
// start's record names the org "default", with its id.
func TestStderrIsOnlyJSON(t *testing.T) {
	n := listenNotify(t, true)
	dataDir := filepath.Join(t.TempDir(), "data")
	// No seeded key, so the first start generates one and says where.
	env := []string{"NOTIFY_SOCKET=" + n.name, "EXC_DATA_DIR=" + dataDir, "EXC_LISTEN=127.0.0.1:0", "EXC_GC_INTERVAL=0",
		"EXC_METRICS_LISTEN=127.0.0.1:0", "EXC_CONSOLE_LISTEN=127.0.0.1:0"}
	p := startExcd(t, env, func(cmd *exec.Cmd) { cmd.Stdout = nil })
	ready := n.await(t, "READY=1")
	s3 := loggedURL(t, p, "S3 endpoint")
	if s3 != "http://"+addrFrom(t, ready) {
		t.Errorf("S3 endpoint record %q, READY %q", s3, ready)
	}
	if m := loggedURL(t, p, "metrics endpoint"); m != "http://"+metricsFrom(t, ready) {
		t.Errorf("metrics endpoint record %q, READY %q", m, ready)
	}
	if c := loggedURL(t, p, "console endpoint"); !strings.HasPrefix(c, "http://127.0.0.1:") || !strings.Contains(ready, "console on "+strings.TrimPrefix(c, "http://")) {
		t.Errorf("console endpoint record %q, READY %q", c, ready)
	} else if res, err := http.Get(c + "/api/session"); err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET %s/api/session: %v %v", c, err, res)
	} else {
		res.Body.Close()
	}
	p.signal(t, syscall.SIGTERM)
	if err := p.wait(t); err != nil {
		t.Fatal(err)
	}
	var first map[string]string
	for _, r := range jsonLog(t, p.stderr.String()) {
		if strings.HasPrefix(r["msg"], "first start: created the default org") {
			first = r
		}
	}
	if first == nil || first["org"] != "default" || first["org_id"] == "" ||
		first["credentials"] != filepath.Join(dataDir, "credentials") || first["level"] != "WARN" {
		t.Errorf("first start record %v: want org default, its org_id and the credentials path", first)
	}

	// A failed start: the port is taken.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, errOut, code := runCLI(t, excdBin(t), nil, "--data-dir", filepath.Join(t.TempDir(), "d2"), "--listen", ln.Addr().String())
	if rec := fatalRecord(t, errOut); code != 1 || !strings.Contains(rec["err"], "address already in use") {
		t.Errorf("port taken: exit %d, %v", code, rec)
	}
}

// `excd gen-man DIR` writes excd.8 from the command tree: every flag, the
// examples, in section 8.
func TestGenMan(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man")
	if out, errOut, code := runCLI(t, excdBin(t), nil, "gen-man", dir); code != 0 {
		t.Fatalf("gen-man: exit %d\n%s%s", code, out, errOut)
	}
	page, err := os.ReadFile(filepath.Join(dir, "excd.8"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`.TH "EXCD" "8"`, `\fB--data-dir\fP`, `\fB--print-config\fP`, `\fB--restore\fP`, "EXAMPLE", "Precedence"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("excd.8 lacks %q", want)
		}
	}
	// Hidden: an operator's --help does not offer it.
	if out, _, _ := runCLI(t, excdBin(t), nil, "--help"); strings.Contains(out, "gen-man") {
		t.Error("--help lists gen-man")
	}
}
