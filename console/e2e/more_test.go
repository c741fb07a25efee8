package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/chromedp/chromedp"

	"excloud.dev/buckets/internal/excdtest"
)

// TestConsoleBrowsing: a listing comes a page (200 keys) at a time, search
// is by prefix, rename moves an object, a dropped folder keeps its paths,
// an image previews, a cancelled multipart upload leaves nothing behind on
// the server or in the page, and a bucket made public is readable at the
// address shown. The object browser is also checked for accessibility, on
// a phone-sized screen and in dark mode.
func TestConsoleBrowsing(t *testing.T) {
	pg := newPage(t)
	p := excdtest.Start(t, excdtest.Options{DataDir: t.TempDir(), Console: true, Stderr: daemonLog(t),
		Args: []string{"--public-domain", "objects.test"}})
	s3c := p.S3()
	ctx := context.Background()
	const b = "many"
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
		t.Fatal(err)
	}
	keys := []string{"dir/inside"}
	for i := range 205 {
		keys = append(keys, fmt.Sprintf("k%03d", i))
	}
	for _, k := range keys {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}

	pg.do("open the console", chromedp.Navigate(p.Console+"/#/b/many/"))
	pg.signIn(excdtest.AccessKey, excdtest.SecretKey)
	pg.do("the bucket", chromedp.WaitVisible(css("#view-browser")), chromedp.WaitVisible(row("k000")))
	rows := func() int { return eval[int](pg, `document.querySelectorAll("#object-table tbody tr").length`) }
	// Page 1: the folder dir/ and k000..k198; page 2: k199..k204.
	if n := rows(); n != 200 {
		t.Fatalf("first page: %d rows, want 200", n)
	}
	pg.do("next page", chromedp.Click(css("#page-next")), chromedp.WaitVisible(row("k204")), chromedp.WaitNotPresent(row("k000")))
	if n := rows(); n != 6 {
		t.Fatalf("second page: %d rows, want 6", n)
	}
	if eval[bool](pg, `!document.querySelector("#page-next").hidden`) {
		t.Fatal("a next page offered after the last")
	}
	pg.do("previous page", chromedp.Click(css("#page-prev")), chromedp.WaitVisible(row("k000")))

	pg.do("search", chromedp.SendKeys(css("#search-input"), "k20"), chromedp.Click(css(`#search-form button[type=submit]`)),
		chromedp.WaitNotPresent(row("k000")), chromedp.WaitVisible(row("k204")))
	if n := rows(); n != 5 {
		t.Fatalf("search k20: %d rows, want 5", n)
	}
	pg.do("clear the search", chromedp.Click(css("#search-clear")), chromedp.WaitVisible(row("k000")))
	pg.accessible("the object browser")
	pg.phoneAndDark("the object browser")

	// Rename k000 into a folder: the old key is gone over S3, the new one has the bytes.
	pg.do("rename", chromedp.Click(css(`#object-table tr[data-key="k000"] button[aria-label="Rename k000"]`)),
		chromedp.WaitVisible(css("#rename-to")))
	eval[bool](pg, `document.querySelector("#rename-to").value = "", true`)
	pg.do("rename to", chromedp.SendKeys(css("#rename-to"), "dir/k000"), chromedp.Click(css("#rename-submit")),
		chromedp.WaitNotPresent(row("k000")))
	if _, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b), Key: aws.String("k000")}); err == nil {
		t.Fatal("k000 still there after the rename")
	}
	if got, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("dir/k000")}); err != nil {
		t.Fatalf("the renamed object over S3: %v", err)
	} else {
		got.Body.Close()
	}

	// Drop a folder: its files keep their paths under the folder's name.
	album := filepath.Join(t.TempDir(), "album")
	for name, body := range map[string]string{"a.txt": "first", "sub/b.txt": "second"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(album, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(album, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pg.dropFiles("#dropzone", album)
	pg.waitJS("the dropped folder's files uploaded", `document.querySelectorAll('#uploads li.done[data-key^="album/"]').length === 2`)
	for k, want := range map[string]string{"album/a.txt": "first", "album/sub/b.txt": "second"} {
		out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String(k)})
		if err != nil {
			t.Fatalf("%s, dropped as part of a folder, over S3: %v", k, err)
		}
		got, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(got) != want {
			t.Fatalf("%s over S3: %q, want %q", k, got, want)
		}
	}
	pg.do("the folder is listed", chromedp.WaitVisible(row("album/")))

	// An image (named to sort onto the first page) is previewed inline
	// through <img>: the CSP and the preview's sandbox let it show.
	img := image.NewRGBA(image.Rect(0, 0, 3, 2))
	img.Set(1, 1, color.RGBA{200, 30, 30, 255})
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, img); err != nil {
		t.Fatal(err)
	}
	pixel := filepath.Join(t.TempDir(), "a-pixel.png")
	if err := os.WriteFile(pixel, pngBuf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	pg.do("upload an image", chromedp.SetUploadFiles(css("#file-input"), []string{pixel}), chromedp.WaitVisible(row("a-pixel.png")),
		chromedp.Click(css(`#object-table tr[data-key="a-pixel.png"] button.name`)), chromedp.WaitVisible(css("#preview img")))
	pg.waitJS("the image preview", `(() => { const i = document.querySelector("#preview img"); return i.complete && i.naturalWidth === 3 && i.naturalHeight === 2; })()`)
	pg.do("close the details", chromedp.Click(css("#dlg-close")), chromedp.WaitNotVisible(css("#dlg")))

	// Cancel a multipart upload part-way: aborted on the server, forgotten in the page.
	file := filepath.Join(t.TempDir(), "cancel.bin")
	writeRandom(t, file, 20<<20)
	pg.throttle(4 << 20)
	pg.do("choose the file", chromedp.SetUploadFiles(css("#file-input"), []string{file}))
	pg.waitJS("the upload under way", `(() => {
		const li = document.querySelector('#uploads li[data-key="cancel.bin"]');
		return li && li.querySelector("progress").value > 0 && localStorage.getItem("exc-console-uploads") !== "[]" && localStorage.getItem("exc-console-uploads") !== null;
	})()`)
	pg.do("cancel", chromedp.Click(css(`#uploads li[data-key="cancel.bin"] button`)))
	pg.waitJS("cancelled", `document.querySelector('#uploads li[data-key="cancel.bin"] .upl-text').textContent === "cancelled"`)
	pg.throttle(-1)
	if n := pg.pendingUploads(); n != 0 {
		t.Fatalf("%d uploads remembered after cancel", n)
	}
	ups, err := s3c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(b)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Fatalf("%d multipart uploads left on the server after cancel", len(ups.Uploads))
	}
	if _, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b), Key: aws.String("cancel.bin")}); err == nil {
		t.Fatal("the cancelled upload was stored")
	}
	// Public on: the page shows the public address, and an anonymous GET
	// there (the Host header is the public name) reads the object.
	pg.do("make it public", chromedp.Click(css("#nav-buckets")), chromedp.WaitVisible(css(`#bucket-table tr[data-bucket="many"]`)),
		chromedp.Click(css(`#bucket-table input[aria-label="Public read of many"]`)),
		chromedp.WaitVisible(css(`#bucket-table tr[data-bucket="many"] a.public-url`)))
	pub := run(pg, "public URL", chromedp.TextContent(css(`#bucket-table tr[data-bucket="many"] a.public-url`)))
	u, err := url.Parse(pub)
	if err != nil || !strings.Contains(u.Host, "objects.test") {
		t.Fatalf("public URL %q (%v)", pub, err)
	}
	req, _ := http.NewRequest("GET", p.Endpoint+u.Path+"k001", nil)
	req.Host = u.Host
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "k001" {
		t.Fatalf("anonymous GET %s (Host %s): %d %q", u.Path+"k001", u.Host, res.StatusCode, body)
	}
	pg.noProblems()
}
