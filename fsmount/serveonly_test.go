package fsmount_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"excloud.dev/buckets/fsmount"
)

// TestServeOnlyWalksNoPathIntoItsMount: a ServeOnly mount (excd's) asks
// nothing of its own server while mounting. go-fuse's poll probe opens a
// file in the mount from the mounting process; a SIGKILL landing while
// that open waits on the server left excd unkillable (a thread waiting
// uninterruptibly for an answer its own dead server would never send).
// The mount must still be whole: the options the kernel sees, service
// to other processes, and a clean unmount.
func TestServeOnlyWalksNoPathIntoItsMount(t *testing.T) {
	obs := &opCounter{ops: map[string]int{}}
	e := newEnvOpts(t, nil, fsmount.Options{ServeOnly: true, Observer: obs})
	if ops := obs.take(); len(ops) != 0 {
		t.Fatalf("mounting asked the mount for %v; want nothing", ops)
	}
	line := mountinfo(t, e.mnt)
	if line == "" {
		t.Fatalf("%s is not in /proc/self/mountinfo", e.mnt)
	}
	for _, want := range []string{" - fuse.excloud excloud:" + e.org + " ", "default_permissions", "nosuid", "nodev"} {
		if !strings.Contains(line, want) {
			t.Errorf("mountinfo %q lacks %q", line, want)
		}
	}

	// Another process uses it; this one keeps its promise.
	out, err := exec.Command("sh", "-c", "echo hello > "+e.bdir+"/f && cat "+e.bdir+"/f && ls "+e.bdir).CombinedOutput()
	if err != nil || string(out) != "hello\nf\n" {
		t.Fatalf("shell through the mount: %q %v", out, err)
	}
	if ops := obs.take(); ops["create"]+ops["lookup"] == 0 {
		t.Errorf("the shell's operations were not served: %v", ops)
	}
	m, err := e.d.Layer().Head(t.Context(), e.org, "b", "f")
	if err != nil || m.Size != 6 {
		t.Fatalf("object written through the mount: %+v %v", m, err)
	}

	if err := e.srv.Unmount(); err != nil {
		t.Fatalf("unmount: %v", err)
	}
	if line := mountinfo(t, e.mnt); line != "" {
		t.Errorf("still mounted after Unmount: %q", line)
	}
}

// TestProbeWalksIntoItsMount is the other side: without ServeOnly the
// mounting process does ask its own mount (the poll probe), which is what
// in-process users need and excd must avoid.
func TestProbeWalksIntoItsMount(t *testing.T) {
	obs := &opCounter{ops: map[string]int{}}
	newEnvOpts(t, nil, fsmount.Options{Observer: obs})
	if ops := obs.take(); ops["getattr"] == 0 {
		t.Fatalf("mounting without ServeOnly asked for %v; want the probe's getattr of the root", ops)
	}
}

// mountinfo is the /proc/self/mountinfo line of the mount at dir, or "".
func mountinfo(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == dir {
			return l
		}
	}
	return ""
}
