package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/chromedp/chromedp"

	"excloud.dev/buckets/internal/excdtest"
	"excloud.dev/buckets/internal/testutil"
)

func init() { os.Unsetenv("AWS_CA_BUNDLE") }

const (
	bucket  = "photos"
	bigName = "big.bin"
	bigSize = 30 << 20
)

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

func row(key string) chromedp.CSS { return css(fmt.Sprintf(`#object-table tr[data-key=%q]`, key)) }

// TestConsole walks through the console as a user does, in one browser and
// one excd, checking each result where it lands: over S3, through the
// mount, with a plain HTTP client.
func TestConsole(t *testing.T) {
	pg := newPage(t)
	data, mnt := t.TempDir(), t.TempDir()
	p := excdtest.Start(t, excdtest.Options{DataDir: data, Mount: mnt, Console: true, Stderr: daemonLog(t)})
	if p.Console == "" {
		t.Fatal("excd announced no console endpoint")
	}
	s3c := p.S3()
	ctx := context.Background()

	// Sign in: a wrong secret is refused, the right one opens the buckets.
	pg.do("open the console", chromedp.Navigate(p.Console+"/"), chromedp.WaitVisible(css("#signin-id")))
	pg.shot("signin")
	pg.accessible("the sign-in page")
	pg.signIn(excdtest.AccessKey, "not-the-secret")
	pg.waitJS("the sign-in error", `!document.querySelector("#alert").hidden && document.querySelector("#view-signin").checkVisibility()`)
	pg.signIn(excdtest.AccessKey, excdtest.SecretKey)
	pg.do("signed in", chromedp.WaitVisible(css("#view-buckets")), chromedp.WaitVisible(css("#nav-keys")))

	// Create a bucket; S3 sees it.
	pg.do("create a bucket",
		chromedp.SendKeys(css("#bucket-name"), bucket),
		chromedp.Click(css("#bucket-create-submit")),
		chromedp.WaitVisible(css(`#bucket-table tr[data-bucket="photos"]`)))
	if _, err := s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("the bucket made in the console, over S3: %v", err)
	}

	// Upload 30 MiB by the file picker: multipart, the bar advances, and a
	// reload in the middle resumes with the parts already sent.
	big := filepath.Join(t.TempDir(), bigName)
	want := writeRandom(t, big, bigSize)
	pg.do("open the bucket", chromedp.Click(css(`#bucket-table a.bucket-link`)), chromedp.WaitVisible(css("#view-browser")),
		chromedp.WaitVisible(css("#live.on")))
	pg.throttle(12 << 20) // ~2.5 s for the file: time to see the bar and to reload mid-way
	pg.do("choose the file", chromedp.SetUploadFiles(css("#file-input"), []string{big}))
	seen := map[int64]bool{}
	shot := false
	for {
		st := pg.upload(bigName)
		if st.Value > 0 && st.Value < bigSize {
			seen[st.Value] = true
			if !shot && st.Value >= 4<<20 {
				pg.shot("upload")
				shot = true
			}
		}
		if st.State == "failed" {
			t.Fatalf("upload failed: %s", st.Text)
		}
		// Part 1 is stored and remembered: reload in the middle of part 2.
		// Strictly past 8 MiB: at exactly 8 MiB part 1's bytes are sent
		// but the store may not have answered (a reload then cuts it).
		if st.Value > 8<<20 && st.Value < bigSize && pg.pendingUploads() == 1 {
			break
		}
		if st.State == "done" {
			t.Fatal("the upload finished before the reload; the throttle did not hold it")
		}
	}
	if len(seen) < 2 {
		t.Fatalf("progress bar values seen mid-upload: %v, want at least two", seen)
	}
	pg.do("reload mid-upload", chromedp.Reload(), chromedp.WaitVisible(css("#view-browser")), chromedp.WaitVisible(css("#pending")))
	pg.do("drop the same file again", chromedp.SetUploadFiles(css("#file-input"), []string{big}))
	for {
		st := pg.upload(bigName)
		if st.State == "failed" {
			t.Fatalf("resumed upload failed: %s", st.Text)
		}
		if st.State == "done" {
			if st.Resumed < 1 {
				t.Fatalf("the upload after the reload started over (resumed %d parts)", st.Resumed)
			}
			break
		}
	}
	pg.throttle(-1)
	if got := s3Hash(t, s3c, bucket, bigName); got != want {
		t.Fatalf("the uploaded bytes over S3: sha256 %x, want %x", got, want)
	}
	if n := pg.pendingUploads(); n != 0 {
		t.Fatalf("%d uploads still remembered after completing", n)
	}
	pg.do("listed", chromedp.WaitVisible(row(bigName)))

	// An object written through the mount shows up without a reload.
	if err := os.WriteFile(filepath.Join(mnt, bucket, "from-mount.txt"), []byte("written through FUSE\n<b>not bold</b>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pg.do("the mount's object appears", chromedp.WaitVisible(row("from-mount.txt")))
	pg.shot("browser")

	// A small file goes up in one PUT with its type; its preview is text,
	// and markup in it stays text.
	notes := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notes, []byte("uploaded as text/plain\n<b>not bold</b>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pg.do("upload a small file", chromedp.SetUploadFiles(css("#file-input"), []string{notes}), chromedp.WaitVisible(row("notes.txt")))
	pg.do("preview", chromedp.Click(css(`#object-table tr[data-key="notes.txt"] button.name`)), chromedp.WaitVisible(css("#preview pre")))
	pg.waitJS("the preview text", `document.querySelector("#preview pre").textContent.includes("<b>not bold</b>")`)
	if n := eval[int](pg, `document.querySelectorAll("#preview b").length`); n != 0 {
		t.Fatal("the preview parsed the object as HTML")
	}
	pg.do("close the details", chromedp.Click(css("#dlg-close")), chromedp.WaitNotVisible(css("#dlg")))
	// Its Download link gives the bytes back.
	if got := eval[string](pg, `fetch(document.querySelector('a[aria-label="Download notes.txt"]').href).then(r => r.text())`); got != "uploaded as text/plain\n<b>not bold</b>\n" {
		t.Fatalf("the Download link gave %q", got)
	}

	// A share link works from a plain HTTP client.
	pg.do("share",
		chromedp.Click(css(`#object-table tr[data-key="from-mount.txt"] button[aria-label="Share from-mount.txt"]`)),
		chromedp.WaitVisible(css("#share-create")), chromedp.Click(css("#share-create")),
		chromedp.WaitVisible(css("#share-url")))
	link := run(pg, "share link", chromedp.Value(css("#share-url")))
	res, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(string(body), "written through FUSE") {
		t.Fatalf("GET the share link %s: %d %q", link, res.StatusCode, body)
	}
	pg.do("close the share dialog", chromedp.Click(css("#dlg-close")), chromedp.WaitNotVisible(css("#dlg")))

	// A bucket with objects cannot be deleted, and says why.
	// The store page while it holds something.
	pg.do("store page", chromedp.Click(css("#nav-store")), chromedp.WaitVisible(css("#store-cards .stat")))
	pg.shot("store")
	pg.accessible("the store page")

	pg.do("bucket list", chromedp.Click(css("#nav-buckets")), chromedp.WaitVisible(css(`#bucket-table tr[data-bucket="photos"]`)))
	pg.shot("buckets")
	pg.accessible("the bucket list")
	pg.do("try to delete the bucket", chromedp.Click(css(`#bucket-table button[aria-label="Delete bucket photos"]`)),
		chromedp.WaitVisible(css("#ask-ok")), chromedp.Click(css("#ask-ok")))
	pg.waitJS("the not-empty message", `document.querySelector("#alert").dataset.code === "BucketNotEmpty"`)

	// Delete two objects at once with the checkboxes, then the last one.
	pg.do("select two", chromedp.Click(css(`#bucket-table a.bucket-link`)), chromedp.WaitVisible(row(bigName)),
		chromedp.Click(css(`#object-table tr[data-key="big.bin"] input[type=checkbox]`)),
		chromedp.Click(css(`#object-table tr[data-key="from-mount.txt"] input[type=checkbox]`)),
		chromedp.Click(css("#delete-selected")), chromedp.WaitVisible(css("#ask-ok")), chromedp.Click(css("#ask-ok")),
		chromedp.WaitNotPresent(row(bigName)), chromedp.WaitNotPresent(row("from-mount.txt")))
	pg.do("delete one by its button", chromedp.Click(css(`#object-table tr[data-key="notes.txt"] button[aria-label="Delete notes.txt"]`)),
		chromedp.WaitVisible(css("#ask-ok")), chromedp.Click(css("#ask-ok")), chromedp.WaitNotPresent(row("notes.txt")))
	for _, k := range []string{bigName, "from-mount.txt", "notes.txt"} {
		if _, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)}); err == nil {
			t.Fatalf("%s still there over S3 after the console deleted it", k)
		}
	}

	// Keys: an administrator makes a read-only key; the secret is shown once.
	pg.do("keys page", chromedp.Click(css("#nav-keys")), chromedp.WaitVisible(css("#view-keys")),
		chromedp.Click(css("#key-readonly")), chromedp.Click(css("#key-create-submit")),
		chromedp.WaitVisible(css("#newkey-secret")))
	roID := run(pg, "new key id", chromedp.Value(css("#newkey-id")))
	roSecret := run(pg, "new key secret", chromedp.Value(css("#newkey-secret")))
	if roID == "" || roSecret == "" {
		t.Fatal("the new key's id or secret is empty")
	}
	pg.do("close the key dialog", chromedp.Click(css("#dlg-close")), chromedp.WaitNotVisible(css("#dlg")),
		chromedp.WaitVisible(css(fmt.Sprintf(`#key-table tr[data-key=%q]`, roID))))
	pg.shot("keys")
	pg.accessible("the keys page")

	// Sign out: the session is gone on the server too.
	pg.do("sign out", chromedp.Click(css("#signout")), chromedp.WaitVisible(css("#signin-id")))
	if st := eval[int](pg, `fetch("/api/buckets").then(r => r.status)`); st != 401 {
		t.Fatalf("GET /api/buckets after sign-out: %d, want 401", st)
	}

	// A read-only key's session cannot upload: the UI says so, nothing is stored.
	pg.signIn(roID, roSecret)
	pg.do("read-only session", chromedp.WaitVisible(css("#view-buckets")),
		chromedp.Click(css(`#bucket-table a.bucket-link`)), chromedp.WaitVisible(css("#view-browser")))
	small := filepath.Join(t.TempDir(), "nope.txt")
	if err := os.WriteFile(small, []byte("a read-only key wrote this"), 0o644); err != nil {
		t.Fatal(err)
	}
	pg.do("upload with a read-only key", chromedp.SetUploadFiles(css("#file-input"), []string{small}))
	pg.waitJS("the refusal", `document.querySelector('#uploads li[data-key="nope.txt"].failed') && document.querySelector("#alert").dataset.code === "AccessDenied"`)
	if _, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("nope.txt")}); err == nil {
		t.Fatal("a read-only session's upload was stored")
	}
	pg.noProblems()
}

// daemonLog keeps excd's log and shows it when the test fails: the
// console logs one line per request, which says what the page asked.
func daemonLog(t *testing.T) *testutil.LogBuffer {
	var l testutil.LogBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("excd's log:\n%s", l.String())
		}
	})
	return &l
}

func (p *page) signIn(id, secret string) {
	p.t.Helper()
	p.do("sign in as "+id, chromedp.WaitVisible(css("#signin-id")))
	eval[bool](p, `document.querySelector("#signin-id").value = document.querySelector("#signin-secret").value = "", true`)
	p.do("sign in as "+id, chromedp.SendKeys(css("#signin-id"), id), chromedp.SendKeys(css("#signin-secret"), secret),
		chromedp.Click(css("#signin-submit")))
}

type uploadState struct {
	State   string `json:"state"`
	Value   int64  `json:"value"`
	Text    string `json:"text"`
	Resumed int    `json:"resumed"`
}

// upload reads the row of one upload: its bar, its text, whether it
// finished and how many parts it found already stored.
func (p *page) upload(key string) uploadState {
	p.t.Helper()
	return eval[uploadState](p, fmt.Sprintf(`(() => {
		const li = [...document.querySelectorAll("#uploads li")].filter(l => l.dataset.key === %q).pop();
		if (!li) return {state: "none", value: 0, text: "", resumed: 0};
		return {
			state: li.classList.contains("done") ? "done" : li.classList.contains("failed") ? "failed" : "running",
			value: Math.round(li.querySelector("progress").value),
			text: li.querySelector(".upl-text").textContent,
			resumed: Number(li.dataset.resumed || 0),
		};
	})()`, key))
}

func (p *page) pendingUploads() int {
	return eval[int](p, `JSON.parse(localStorage.getItem("exc-console-uploads") || "[]").length`)
}

// writeRandom writes n pseudo-random (incompressible, not deduplicable)
// bytes to path and returns their SHA-256.
func writeRandom(t *testing.T, path string, n int) [32]byte {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(n), 20))
	buf := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			buf[i+j] = byte(v >> (8 * j))
		}
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(buf)
}

func s3Hash(t *testing.T, c *s3.Client, b, k string) [32]byte {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String(k)})
	if err != nil {
		t.Fatalf("GET %s/%s over S3: %v", b, k, err)
	}
	defer out.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, out.Body); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}
