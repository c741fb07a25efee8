package admin_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"excloud.dev/buckets/admin"
)

// The packaged excd.service runs as the system account ServiceUser, so its
// admin socket and the process listening on it are that account's; exc,
// run as root, must still reach it. Any other user's socket stays refused
// (TestDialRefusesSocketOfAnotherUser, TestDialRefusesListenerOfAnotherUser).
func TestDialTrustsServiceUser(t *testing.T) {
	requireRoot(t)
	dir, exe := peerTestBinary(t)
	run := filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(run, nobodyUID, nobodyUID); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(run, "admin.sock")

	// The listener runs as nobody and makes the socket itself, as excd
	// under the unit does.
	cmd := exec.Command(exe, "-test.run=^TestHelperListen$")
	cmd.Env = append(os.Environ(), listenHelperEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobodyUID, Gid: nobodyUID}}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "LISTENING" {
		t.Fatalf("helper: %q %v", line, err)
	}

	orgs := func() error {
		c := admin.Dial(path)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := c.Orgs(ctx)
		return err
	}
	defer func(u string) { admin.ServiceUser = u }(admin.ServiceUser)

	admin.ServiceUser = "nobody"
	if err := orgs(); err != nil {
		t.Fatalf("Orgs through the service user's socket: %v", err)
	}
	// The same socket, when nobody is not the service account, is refused:
	// what is trusted is that one account, not any owner.
	admin.ServiceUser = "excd-test-no-such-user"
	if err := orgs(); err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") || !strings.Contains(err.Error(), "service user excd-test-no-such-user") {
		t.Fatalf("Orgs with no such service account: %v; want it refused naming the owner", err)
	}
}
