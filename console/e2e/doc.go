// Package e2e drives the web console in a real browser: Debian's chromium,
// headless, through github.com/chromedp/chromedp, against a real excd (its
// catalog, chunk store, S3 gateway, FUSE mount and console listener)
// started by internal/excdtest. The package has only tests.
//
// The tests need a chromium (or Chrome) binary: $EXC_CHROME, else
// chromium, chromium-browser, google-chrome or google-chrome-stable on
// $PATH. Without one they skip, except when $CI is set (.ci/run installs
// chromium), where they fail. EXC_CONSOLE_SCREENSHOTS=dir saves PNG
// screenshots of the main pages there (docs/console/ holds the committed
// set).
package e2e
