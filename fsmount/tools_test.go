package fsmount_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func need(t *testing.T, bin, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		t.Skipf("%s not installed (apt-get install %s)", bin, pkg)
	}
	return p
}

func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// srcTree is a small source tree to copy: this package's directory plus
// a symlink and an empty directory.
func srcTree(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "src")
	run(t, ".", "cp", "-r", ".", dir)
	os.Symlink("doc.go", filepath.Join(dir, "link"))
	os.Mkdir(filepath.Join(dir, "emptydir"), 0o700)
	return dir
}

func diffTrees(t *testing.T, a, b string) {
	t.Helper()
	cmd := exec.Command("diff", "-r", "--no-dereference", a, b)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("trees differ: %v\n%s", err, out)
	}
}

func TestToolCpR(t *testing.T) {
	e := newEnv(t)
	src := srcTree(t)
	run(t, ".", "cp", "-r", src, e.p("cp"))
	diffTrees(t, src, e.p("cp"))
}

func TestToolTar(t *testing.T) {
	e := newEnv(t)
	src := srcTree(t)
	tarball := filepath.Join(t.TempDir(), "t.tar")
	run(t, src, "tar", "cf", tarball, ".")
	os.Mkdir(e.p("tar"), 0o755)
	run(t, e.p("tar"), "tar", "xf", tarball)
	diffTrees(t, src, e.p("tar"))
}

func TestToolRsync(t *testing.T) {
	need(t, "rsync", "rsync")
	e := newEnv(t)
	src := srcTree(t)
	run(t, ".", "rsync", "-a", src+"/", e.p("rs")+"/")
	diffTrees(t, src, e.p("rs"))
	// A second run finds nothing to do: sizes and mtimes were kept.
	out := run(t, ".", "rsync", "-ai", src+"/", e.p("rs")+"/")
	if strings.TrimSpace(out) != "" {
		t.Fatalf("second rsync changed:\n%s", out)
	}
}

func TestToolGit(t *testing.T) {
	need(t, "git", "git")
	e := newEnv(t)
	repo := filepath.Join(t.TempDir(), "repo")
	os.Mkdir(repo, 0o755)
	run(t, repo, "git", "init", "-q")
	os.WriteFile(filepath.Join(repo, "a.txt"), []byte("a\n"), 0o644)
	os.MkdirAll(filepath.Join(repo, "d/e"), 0o755)
	os.WriteFile(filepath.Join(repo, "d/e/b.txt"), []byte("b\n"), 0o644)
	run(t, repo, "git", "add", ".")
	run(t, repo, "git", "commit", "-qm", "one")
	run(t, e.bdir, "git", "clone", "-q", repo, "clone")
	if out := run(t, e.p("clone"), "git", "status", "--porcelain"); out != "" {
		t.Fatalf("git status after clone:\n%s", out)
	}
	os.WriteFile(e.p("clone/a.txt"), []byte("changed\n"), 0o644)
	if out := run(t, e.p("clone"), "git", "status", "--porcelain"); strings.TrimSpace(out) != "M a.txt" {
		t.Fatalf("git status after edit:\n%s", out)
	}
	run(t, e.p("clone"), "git", "commit", "-qam", "two")
	if out := run(t, e.p("clone"), "git", "log", "--oneline"); strings.Count(out, "\n") != 2 {
		t.Fatalf("git log:\n%s", out)
	}
}

func TestToolSqlite(t *testing.T) {
	need(t, "sqlite3", "sqlite3")
	e := newEnv(t)
	db := e.p("db.sqlite")
	run(t, ".", "sqlite3", db, `CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
BEGIN; WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 5000)
INSERT INTO t(v) SELECT hex(randomblob(50)) FROM c; COMMIT;
BEGIN; UPDATE t SET v = 'u' WHERE id % 7 = 0; DELETE FROM t WHERE id % 11 = 0; COMMIT;`)
	out := run(t, ".", "sqlite3", db, "PRAGMA integrity_check; SELECT count(*), sum(v = 'u') FROM t;")
	if strings.TrimSpace(out) != "ok\n4546|650" {
		t.Fatalf("sqlite3 says:\n%s", out)
	}
}
