package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

func TestScratchMock(t *testing.T) {
	base := os.Getenv("MOCK")
	if base == "" {
		t.Skip()
	}
	pg := newPage(t)
	pg.do("open", chromedp.Navigate(base+"/"), chromedp.WaitVisible(css("#signin-id")))
	pg.signIn("ADMIN", "wrong")
	pg.waitJS("the sign-in error", `!document.querySelector("#alert").hidden && document.querySelector("#view-signin").checkVisibility()`)
	pg.signIn("ADMIN", "secret")
	pg.do("signed in", chromedp.WaitVisible(css("#view-buckets")), chromedp.WaitVisible(css("#nav-keys")))
	pg.shot("buckets0")
	pg.do("create a bucket",
		chromedp.SendKeys(css("#bucket-name"), bucket),
		chromedp.Click(css("#bucket-create-submit")),
		chromedp.WaitVisible(css(`#bucket-table tr[data-bucket="photos"]`)))
	big := filepath.Join(t.TempDir(), bigName)
	writeRandom(t, big, bigSize)
	pg.do("open the bucket", chromedp.Click(css(`#bucket-table a.bucket-link`)), chromedp.WaitVisible(css("#view-browser")),
		chromedp.WaitVisible(css("#live.on")))
	pg.throttle(12 << 20)
	pg.do("choose the file", chromedp.SetUploadFiles(css("#file-input"), []string{big}))
	seen := map[int64]bool{}
	for {
		st := pg.upload(bigName)
		if st.Value > 0 && st.Value < bigSize {
			seen[st.Value] = true
		}
		if st.State == "failed" {
			t.Fatalf("upload failed: %s", st.Text)
		}
		if st.Value >= 8<<20 && st.Value < bigSize && pg.pendingUploads() == 1 {
			break
		}
		if st.State == "done" {
			t.Fatal("finished before reload")
		}
	}
	t.Logf("seen %d values", len(seen))
	pg.do("reload mid-upload", chromedp.Reload(), chromedp.WaitVisible(css("#view-browser")), chromedp.WaitVisible(css("#pending")))
	pg.do("drop the same file again", chromedp.SetUploadFiles(css("#file-input"), []string{big}))
	for {
		st := pg.upload(bigName)
		if st.State == "failed" {
			t.Fatalf("resumed upload failed: %s", st.Text)
		}
		if st.State == "done" {
			t.Logf("resumed %d", st.Resumed)
			break
		}
	}
	pg.throttle(-1)
	pg.do("listed", chromedp.WaitVisible(row(bigName)))
	req, _ := http.NewRequest("PUT", base+"/mockput/photos/from-mount.txt", strings.NewReader("written through FUSE\n<b>not bold</b>\n"))
	http.DefaultClient.Do(req)
	pg.do("the mount's object appears", chromedp.WaitVisible(row("from-mount.txt")))
	pg.shot("browser")
	pg.do("preview", chromedp.Click(css(`#object-table tr[data-key="from-mount.txt"] button.name`)), chromedp.WaitVisible(css("#preview pre")))
	pg.waitJS("the preview text", `document.querySelector("#preview pre").textContent.includes("<b>not bold</b>")`)
	pg.shot("preview")
	pg.do("close the details", chromedp.Click(css("#dlg-close")), chromedp.WaitNotVisible(css("#dlg")))
	pg.do("share",
		chromedp.Click(css(`#object-table tr[data-key="from-mount.txt"] button[aria-label="Share from-mount.txt"]`)),
		chromedp.WaitVisible(css("#share-create")), chromedp.Click(css("#share-create")),
		chromedp.WaitVisible(css("#share-url")))
	link := run(pg, "share link", chromedp.Value(css("#share-url")))
	t.Log(link)
	pg.shot("share")
	pg.do("close the share dialog", chromedp.Click(css("#dlg-close")), chromedp.WaitNotVisible(css("#dlg")))
	pg.do("try to delete the bucket", chromedp.Click(css("#nav-buckets")),
		chromedp.Click(css(`#bucket-table button[aria-label="Delete bucket photos"]`)),
		chromedp.WaitVisible(css("#ask-ok")), chromedp.Click(css("#ask-ok")))
	pg.waitJS("the not-empty message", `document.querySelector("#alert").dataset.code === "BucketNotEmpty"`)
	pg.do("select both", chromedp.Click(css(`#bucket-table a.bucket-link`)), chromedp.WaitVisible(row(bigName)),
		chromedp.Click(css(`#object-table tr[data-key="big.bin"] input[type=checkbox]`)),
		chromedp.Click(css(`#object-table tr[data-key="from-mount.txt"] input[type=checkbox]`)),
		chromedp.Click(css("#delete-selected")), chromedp.WaitVisible(css("#ask-ok")), chromedp.Click(css("#ask-ok")),
		chromedp.WaitNotPresent(row(bigName)), chromedp.WaitNotPresent(row("from-mount.txt")))
	pg.do("keys page", chromedp.Click(css("#nav-keys")), chromedp.WaitVisible(css("#view-keys")),
		chromedp.Click(css("#key-readonly")), chromedp.Click(css("#key-create-submit")),
		chromedp.WaitVisible(css("#newkey-secret")))
	roID := run(pg, "new key id", chromedp.Value(css("#newkey-id")))
	roSecret := run(pg, "new key secret", chromedp.Value(css("#newkey-secret")))
	pg.do("close the key dialog", chromedp.Click(css("#dlg-close")), chromedp.WaitNotVisible(css("#dlg")),
		chromedp.WaitVisible(css(fmt.Sprintf(`#key-table tr[data-key=%q]`, roID))))
	pg.shot("keys")
	pg.do("store page", chromedp.Click(css("#nav-store")), chromedp.WaitVisible(css("#store-cards .stat")))
	pg.shot("store")
	pg.do("sign out", chromedp.Click(css("#signout")), chromedp.WaitVisible(css("#signin-id")))
	if st := eval[int](pg, `fetch("/api/buckets").then(r => r.status)`); st != 401 {
		t.Fatalf("after sign-out: %d", st)
	}
	pg.signIn(roID, roSecret)
	pg.do("read-only session", chromedp.WaitVisible(css("#view-buckets")),
		chromedp.Click(css(`#bucket-table a.bucket-link`)), chromedp.WaitVisible(css("#view-browser")))
	small := filepath.Join(t.TempDir(), "nope.txt")
	os.WriteFile(small, []byte("ro"), 0o644)
	pg.do("upload with a read-only key", chromedp.SetUploadFiles(css("#file-input"), []string{small}))
	pg.waitJS("the refusal", `document.querySelector('#uploads li[data-key="nope.txt"].failed') && document.querySelector("#alert").dataset.code === "AccessDenied"`)
}
