package docscheck_test

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"excloud.dev/buckets/internal/excdtest"
)

// root is the repository's top directory (tests run in the package's).
const root = "../.."

// proseFiles lists the documents these checks read: README.md, every
// Markdown file under docs/, and every text file under packaging/.
func proseFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md"}
	for _, dir := range []string{"docs", "packaging"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			if dir == "docs" && !strings.HasSuffix(rel, ".md") {
				return nil
			}
			files = append(files, rel)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// forEachLine calls f for every line of every prose file.
func forEachLine(t *testing.T, f func(file string, n int, line string)) {
	t.Helper()
	for _, file := range proseFiles(t) {
		fh, err := os.Open(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for n := 1; sc.Scan(); n++ {
			f(file, n, sc.Text())
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
}

// "issue 6", "(issue 14)", "Issue #3", "issues 2 and 3"; not a URL such as
// go.dev/issue/75804, which cites another project's tracker by address.
var issueRef = regexp.MustCompile(`(?i)(^|[^/\w-])issues?\s*#?\s*\d+`)

func TestNoIssueNumbers(t *testing.T) {
	forEachLine(t, func(file string, n int, line string) {
		if m := issueRef.FindString(line); m != "" {
			t.Errorf("%s:%d names a tracker issue (%q); say what the change was instead:\n\t%s", file, n, strings.TrimSpace(m), line)
		}
	})
}

func TestIssueRefPattern(t *testing.T) {
	for s, want := range map[string]bool{
		"## Service (issue 6)":             true,
		"Issue 14 probed a running excd":   true,
		"see issue #3":                     true,
		"limit, go.dev/issue/75804, and":   false,
		"what the issue requires as":       false,
		"github.com/x/y/issues/12":         false,
		"a client-side issue after 2 days": false,
	} {
		if got := issueRef.MatchString(s); got != want {
			t.Errorf("%q: match %v, want %v", s, got, want)
		}
	}
}

var (
	// Places only the machines this project was written on have.
	outsidePath = regexp.MustCompile(`/work/|\.\./shared|(^|[\s\x60'"(\[])shared/[\w./-]*\.\w+`)
	mdLink      = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	// A backticked relative file name: `docs/format.md`, `bench/run.sh`,
	// `format.md`.
	codeFile = regexp.MustCompile("`([\\w.-]+(?:/[\\w.-]+)*\\.(?:md|go|sh|txt|toml|service|socket))`")
)

// Every file a document names is in the repository: no citation of notes
// that live elsewhere, no link that leads nowhere.
func TestNoCitationOutsideRepository(t *testing.T) {
	names := map[string]bool{} // base names of every file in the repository
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && strings.HasPrefix(d.Name(), ".") && d.Name() != ".ci" {
			return filepath.SkipDir
		}
		names[d.Name()] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	exists := func(p string) bool { _, err := os.Stat(filepath.Join(root, p)); return err == nil }
	inside := func(p string) bool { return !strings.HasPrefix(filepath.Clean(p), "..") }
	forEachLine(t, func(file string, n int, line string) {
		if m := outsidePath.FindString(line); m != "" {
			t.Errorf("%s:%d cites a path outside the repository (%q):\n\t%s", file, n, strings.TrimSpace(m), line)
		}
		dir := filepath.Dir(file)
		for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			p := filepath.Join(dir, target)
			if !inside(p) || !exists(p) {
				t.Errorf("%s:%d links to %s, which is not in the repository", file, n, m[1])
			}
		}
		for _, m := range codeFile.FindAllStringSubmatch(line, -1) {
			p := m[1]
			if strings.Contains(p, "/") {
				if !(inside(p) && exists(p)) && !(inside(filepath.Join(dir, p)) && exists(filepath.Join(dir, p))) {
					t.Errorf("%s:%d names %s, which is not in the repository", file, n, p)
				}
				continue
			}
			// A bare name is checked when it is a document or Go file: of
			// other kinds (`hello.txt`, `key.json`) it is more often a file
			// the reader makes than one of ours.
			if ext := filepath.Ext(p); (ext == ".md" || ext == ".go") && !names[p] {
				t.Errorf("%s:%d names %s, and no file of the repository has that name", file, n, p)
			}
		}
	})
}

// readmeDataDir returns the entries of the README's data-directory table,
// directories with a trailing slash.
func readmeDataDir(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `excd-data/([^`]+)` \\|")
	var out []string
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	if len(out) == 0 {
		t.Fatal("README.md has no data-directory table (rows | `excd-data/NAME` | …)")
	}
	slices.Sort(out)
	return out
}

// The README's table of the data directory lists exactly what the first
// start of a real excd makes there, with a generated (not seeded) key as a
// new user gets it.
func TestReadmeDataDirTable(t *testing.T) {
	want := readmeDataDir(t)
	dir := filepath.Join(t.TempDir(), "excd-data")
	p := excdtest.Start(t, excdtest.Options{DataDir: dir,
		// Unset the harness's seeded key: the README describes a first start.
		Env: []string{"EXC_ROOT_ACCESS_KEY=", "EXC_ROOT_SECRET_KEY="}})
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			name += "/"
		}
		got = append(got, name)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("a fresh data directory holds %q;\nREADME.md's table lists %q", got, want)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
}
