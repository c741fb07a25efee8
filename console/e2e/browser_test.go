package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// findBrowser returns the chromium to drive, or "" when the machine has
// none.
func findBrowser() string {
	if p := os.Getenv("EXC_CHROME"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// page is one browser tab of one headless chromium, stopped (with its
// whole process group) when the test ends.
type page struct {
	t     *testing.T
	ctx   context.Context
	shots string // EXC_CONSOLE_SCREENSHOTS, or ""
}

func newPage(t *testing.T) *page {
	t.Helper()
	bin := findBrowser()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no chromium found and CI is set: .ci/run installs the chromium package")
		}
		t.Skip("no chromium or Chrome found (set EXC_CHROME, or apt-get install chromium); the console's browser tests need one")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		// Tests run as root, where chromium refuses its sandbox.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(1024, 700),
		chromedp.Flag("lang", "en-GB"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // waits for the browser process to exit
	})
	// Start the browser now, so a broken install fails here, clearly; and
	// have every page note CSP violations and uncaught errors (a script
	// added by DevTools is not subject to the page's CSP).
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, cdppage.AddScriptToEvaluateOnNewDocument,
			cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: watchProblems})
		return err
	}), chromedp.Navigate("about:blank"))
	if err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	return &page{t: t, ctx: ctx, shots: os.Getenv("EXC_CONSOLE_SCREENSHOTS")}
}

// watchProblems keeps, in sessionStorage (it survives a reload), every
// Content-Security-Policy violation and uncaught error of the page.
const watchProblems = `(() => {
  const note = (s) => {
    try {
      const a = JSON.parse(sessionStorage.getItem("e2e-problems") || "[]");
      a.push(s);
      sessionStorage.setItem("e2e-problems", JSON.stringify(a));
    } catch (e) { /* about:blank has no storage */ }
  };
  addEventListener("securitypolicyviolation", (e) =>
    note("CSP " + e.violatedDirective + " blocked " + e.blockedURI + " at " + e.sourceFile + ":" + e.lineNumber));
  addEventListener("error", (e) => note("error " + e.message + " at " + e.filename + ":" + e.lineno));
  addEventListener("unhandledrejection", (e) => note("unhandled rejection " + ((e.reason && e.reason.message) || e.reason)));
})()`

// noProblems fails the test if the console's page broke its CSP or threw.
func (p *page) noProblems() {
	p.t.Helper()
	if s := eval[string](p, `sessionStorage.getItem("e2e-problems") || "[]"`); s != "[]" {
		p.t.Errorf("the page had problems: %s", s)
	}
}

// do runs steps with a generous bound (the machine is shared and slow);
// what names the step in a failure.
func (p *page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 90*time.Second)
	defer cancel()
	for i, s := range steps {
		steps[i] = stable(s)
	}
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v\nalert: %q", what, err, p.alert())
	}
}

// stable runs a step again when the node it found was replaced before it
// acted on it: the page re-renders a list when a refresh lands (the change
// feed, a second load), and the step then acted on nothing, so it is safe
// to repeat, with a fresh query.
func stable[T any](a chromedp.Action[T]) chromedp.Action[T] {
	return func(ctx context.Context, t *chromedp.Target) (T, error) {
		for {
			v, err := a(ctx, t)
			if err == nil || !staleNode(err) || ctx.Err() != nil {
				return v, err
			}
			select {
			case <-ctx.Done():
				return v, err
			case <-time.After(20 * time.Millisecond): // polling a re-render
			}
		}
	}
}

func staleNode(err error) bool {
	m := err.Error()
	return strings.Contains(m, "Could not find node with given id") ||
		strings.Contains(m, "No node with given id") || strings.Contains(m, "Node is detached")
}

func run[T any](p *page, what string, a chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 90*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, stable(a))
	if err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// eval evaluates a JavaScript expression (awaiting a promise) in the page.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	return run(p, "evaluate "+expr, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// waitJS polls a JavaScript condition until it is true: for what the page
// does on its own (an event from the server, an upload) rather than in
// answer to the step before.
func (p *page) waitJS(what, cond string) {
	p.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: still false after 90 s: %s (err %v)\nalert: %q", what, cond, err, p.alert())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// alert is the text of the page's error region, for failure messages.
func (p *page) alert() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector("#alert")||{}).textContent||""`))
	return s
}

// shot saves a screenshot of the viewport as name.png when screenshots
// were asked for.
func (p *page) shot(name string) {
	p.t.Helper()
	if p.shots == "" {
		return
	}
	png := run(p, "screenshot "+name, chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(p.shots, name+".png"), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// throttle limits the tab's upload rate (bytes/s; -1 lifts the limit), so
// a 30 MiB upload on loopback takes long enough to watch its progress bar
// move and to reload the page in the middle of it.
func (p *page) throttle(upload float64) {
	p.t.Helper()
	p.do("throttle uploads", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: []*network.Conditions{{DownloadThroughput: -1, UploadThroughput: upload}},
		})
		return err
	}))
}

// dropFiles drops files and folders of the local disk on the element sel,
// as a user dragging them from a file manager does.
func (p *page) dropFiles(sel string, paths ...string) {
	p.t.Helper()
	type point struct{ X, Y float64 }
	at := eval[point](p, `(() => { const r = document.querySelector(`+"`"+sel+"`"+`).getBoundingClientRect();
		return {X: r.left + r.width / 2, Y: r.top + r.height / 2}; })()`)
	data := &input.DragData{Items: []*input.DragDataItem{}, Files: paths, DragOperationsMask: 1}
	p.do("drop on "+sel, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, typ := range []input.DispatchDragEventType{input.DispatchDragEventTypeDragEnter,
			input.DispatchDragEventTypeDragOver, input.DispatchDragEventTypeDrop} {
			if _, err := cdp.Call(ctx, t, input.DispatchDragEvent,
				input.DispatchDragEventParams{Type: typ, X: at.X, Y: at.Y, Data: data}); err != nil {
				return err
			}
		}
		return nil
	}))
}

// accessible checks what a keyboard or screen-reader user of the page
// shown needs: every visible field has a label, every button and link a
// name, nothing is put out of the tab order's natural sequence, and no
// clickable thing is a bare div or span.
func (p *page) accessible(where string) {
	p.t.Helper()
	problems := eval[[]string](p, `(() => {
		const out = [];
		const visible = (el) => el.checkVisibility() || el.classList.contains("vh-input");
		const name = (el) => (el.getAttribute("aria-label") || "").trim() ||
			[...(el.labels || [])].map((l) => l.textContent).join("").trim() || el.textContent.trim() || el.title;
		for (const el of document.querySelectorAll("input, select, textarea")) {
			if (el.type === "hidden" || !visible(el)) continue;
			if (!(el.getAttribute("aria-label") || (el.labels && el.labels.length))) out.push("unlabelled " + el.outerHTML.slice(0, 80));
		}
		for (const el of document.querySelectorAll("button, a[href]")) {
			if (visible(el) && !name(el)) out.push("nameless " + el.outerHTML.slice(0, 80));
		}
		for (const el of document.querySelectorAll("[tabindex]")) {
			if (el.tabIndex > 0) out.push("positive tabindex " + el.outerHTML.slice(0, 80));
		}
		for (const el of document.querySelectorAll("div[onclick], span[onclick], [role=button]:not(button)")) {
			out.push("not a button " + el.outerHTML.slice(0, 80));
		}
		return out;
	})()`)
	for _, pr := range problems {
		p.t.Errorf("%s: %s", where, pr)
	}
}

// phoneAndDark checks the page shown on a phone-sized screen (nothing
// wider than the screen) and in dark mode (a dark background), then puts
// the desktop light view back.
func (p *page) phoneAndDark(where string) {
	p.t.Helper()
	p.do("phone screen", chromedp.EmulateViewport(390, 800, chromedp.EmulateMobile))
	p.waitJS(where+" fits a phone screen", `document.documentElement.scrollWidth <= window.innerWidth`)
	p.do("dark mode", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
		return err
	}))
	p.waitJS(where+" is dark in dark mode", `(() => {
		const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/\d+/g).map(Number);
		return r + g + b < 150;
	})()`)
	eval[bool](p, `window.scrollTo(0, 0), true`)
	p.shot("phone-dark")
	p.do("light desktop again", chromedp.ResetViewport(), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
		return err
	}))
}
