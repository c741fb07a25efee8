package pgtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// CatalogEnv names the environment variable that runs the test suites which
// start a catalog through the test helpers (excdtest, the s3gw stack, the
// fsmount environment) on PostgreSQL instead of Badger: set it to
// "postgres". Unset or empty: Badger, as in production's default.
const CatalogEnv = "EXC_TEST_CATALOG"

// CatalogURL returns "" unless CatalogEnv is "postgres"; then the URL of a
// fresh, empty database for tb on a server shared by the test binary (the
// package's Main server when TestMain calls Main). A value other than
// "postgres" or "" fails the test rather than silently testing Badger.
func CatalogURL(tb testing.TB) string {
	tb.Helper()
	switch v := os.Getenv(CatalogEnv); v {
	case "", "badger":
		return ""
	case "postgres":
	default:
		tb.Fatalf("pgtest: %s=%q: want \"postgres\" or nothing", CatalogEnv, v)
	}
	if mainActive {
		return DB(tb)
	}
	binShared.once.Do(func() {
		sweepOrphans()
		binShared.srv, binShared.err = StartServer()
		if binShared.err == nil {
			// The server dies with the test binary (Pdeathsig); the
			// next binary's sweep removes its directory, found by this.
			pid := []byte(strconv.Itoa(os.Getpid()))
			binShared.err = os.WriteFile(filepath.Join(binShared.srv.base, ownerFile), pid, 0o644)
		}
	})
	if binShared.err != nil {
		tb.Fatalf("pgtest: %v", binShared.err)
	}
	return binShared.srv.NewDB(tb)
}

// ownerFile holds the pid of the test binary that owns a server started by
// CatalogURL, which nothing stops before the binary exits.
const ownerFile = "owner.pid"

var binShared struct {
	once sync.Once
	srv  *Server
	err  error
}

// sweepOrphans removes the directories of CatalogURL's servers whose test
// binary has exited (and its server with it).
func sweepOrphans() {
	found, _ := filepath.Glob(filepath.Join(os.TempDir(), "pgtest-*", ownerFile))
	for _, f := range found {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			dir := filepath.Dir(f)
			// The postmaster's own pid file says whether it is still
			// shutting down; leave that one for the next sweep.
			if pm, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid")); err == nil {
				line, _, _ := strings.Cut(string(pm), "\n")
				if p, err := strconv.Atoi(strings.TrimSpace(line)); err == nil && syscall.Kill(p, 0) == nil {
					continue
				}
			}
			if err := os.RemoveAll(dir); err != nil {
				fmt.Fprintf(os.Stderr, "pgtest: remove orphaned server directory: %v\n", err)
			}
		}
	}
}
