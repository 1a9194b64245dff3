// Package browsertest drives a real headless Chromium from Go tests, for the dashboard's
// end-to-end tests: navigate, click, fill forms, wait for text, take screenshots, check
// accessibility with axe-core and measure paint, interactivity, frame times and heap.
//
// One Chromium serves the whole test binary: the first [New] starts it (and starts another
// if it died), and every [Browser] is a fresh browser context in it — its own cookies,
// storage and cache, like an incognito window — that the test's cleanup disposes of. So
// tests may run in parallel, and a cookie set in one test is never sent in another.
// Chromium's profile lives in a temporary directory named after the test process; a later
// run removes those of processes that are gone, and [Shutdown] (for a TestMain) removes
// the current one.
//
// Chromium is PLATFORM_TEST_CHROMIUM, else /usr/bin/chromium, else chromium on PATH
// (Debian: apt-get install -y chromium). When none is found the test is skipped, except
// when CI is set in the environment: CI installs it (.ci/run), so there it fails. Every
// browser test is skipped under -short.
//
// axe-core comes from the npm registry, pinned by axe/package-lock.json (which records
// no download addresses: npm resolves them from its configured registry). scripts/test
// runs `npm ci` in axe/ once before `go test`, so that test binaries running in parallel
// do not race to install it. When it is still missing (a plain `go test`), the first
// accessibility check runs `npm ci` itself, under an exclusive lock on axe/package.json
// so that concurrent test binaries install it once, and then reads the file. That is
// more robust than skipping: a developer's first `go test ./e2e` checks accessibility too,
// and only a machine without npm or the registry skips (or fails, under CI). The harness
// also reinstalls when the installed axe-core is not the version the lock pins.
//
// Screenshots are PNG files under PLATFORM_TEST_ARTIFACTS, else <module>/e2e/artifacts
// (ignored by git), in a directory per test; a failed wait saves one named failure.png.
package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// DefaultTimeout bounds each wait and action of a [Page] unless its Timeout is set.
const DefaultTimeout = 15 * time.Second

// Browser is one test's browser context: its pages share cookies and storage with each
// other and with no other Browser.
type Browser struct {
	tb    testing.TB
	ctx   context.Context // the browser context and its first tab
	first bool            // the first tab is taken by a Page
}

// New returns a fresh browser context in the test binary's shared Chromium, disposed of
// when the test ends. It skips the test under -short and when Chromium is missing
// (outside CI), and fails it when Chromium does not start.
func New(tb testing.TB) *Browser {
	tb.Helper()
	if testing.Short() {
		tb.Skip("browsertest: needs Chromium; skipped with -short")
	}
	root := sharedBrowser(tb)
	ctx, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		tb.Fatalf("browsertest: open a browser context: %v", err)
	}
	tb.Cleanup(func() {
		if err := chromedp.Cancel(ctx); err != nil && !errors.Is(err, context.Canceled) {
			tb.Logf("browsertest: close the browser context: %v", err)
		}
	})
	return &Browser{tb: tb, ctx: ctx}
}

// NewPage opens a tab in b, closed when the test ends.
func (b *Browser) NewPage() *Page {
	b.tb.Helper()
	if !b.first {
		b.first = true
		return newPage(b.tb, b.ctx)
	}
	ctx, cancel := chromedp.NewContext(b.ctx)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		b.tb.Fatalf("browsertest: open a tab: %v", err)
	}
	b.tb.Cleanup(cancel)
	return newPage(b.tb, ctx)
}

// NewPage is New(tb).NewPage(): one tab in a browser context of its own.
func NewPage(tb testing.TB) *Page {
	tb.Helper()
	return New(tb).NewPage()
}

// missing skips the test because a tool is not installed, or fails it under CI, which
// installs everything the tests need.
func missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := "browsertest: " + fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		tb.Fatal(msg + " (CI is set: .ci/run should have installed it)")
	}
	tb.Skip(msg)
}

// ChromiumPath returns the Chromium the tests drive: PLATFORM_TEST_CHROMIUM, else
// /usr/bin/chromium, else chromium on PATH.
func ChromiumPath() (string, error) {
	if p := os.Getenv("PLATFORM_TEST_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("PLATFORM_TEST_CHROMIUM: %w", err)
		}
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	return exec.LookPath("chromium")
}

// shared is the test binary's Chromium.
var shared struct {
	mu          sync.Mutex
	ctx         context.Context // a chromedp context whose browser runs
	cancel      context.CancelFunc
	allocCancel context.CancelFunc
	dir         string // its --user-data-dir
}

// profilePrefix names Chromium profile directories: the test process's pid follows, so
// that a later run knows which ones are left over.
const profilePrefix = "platform-browsertest-"

// sharedBrowser returns the running Chromium's root context, starting it first if there
// is none or the last one died.
func sharedBrowser(tb testing.TB) context.Context {
	tb.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.ctx != nil {
		if shared.ctx.Err() == nil {
			return shared.ctx
		}
		tb.Logf("browsertest: Chromium ended (%v); starting another", context.Cause(shared.ctx))
		stopLocked()
	}
	path, err := ChromiumPath()
	if err != nil {
		missing(tb, "no Chromium (%v): install it with `apt-get install -y chromium` or set PLATFORM_TEST_CHROMIUM", err)
	}
	removeLeftoverProfiles()
	dir, err := os.MkdirTemp("", profilePrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		tb.Fatal(err)
	}
	out := &tail{max: 8 << 10}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(dir),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("enable-precise-memory-info", true), // performance.memory unrounded
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.WindowSize(1280, 800),
		chromedp.CombinedOutput(out),
	)
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err = <-started:
	case <-time.After(60 * time.Second):
		err = errors.New("no answer in 60s")
	}
	if err != nil {
		cancel()
		allocCancel()
		os.RemoveAll(dir)
		tb.Fatalf("browsertest: start %s: %v\n%s", path, err, out)
	}
	shared.ctx, shared.cancel, shared.allocCancel, shared.dir = ctx, cancel, allocCancel, dir
	return ctx
}

// Shutdown stops the shared Chromium and removes its profile, for a TestMain to call
// after m.Run. Without it the browser dies with the test process and the next run removes
// the profile.
func Shutdown() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	stopLocked()
}

func stopLocked() {
	if shared.ctx == nil {
		return
	}
	_ = chromedp.Cancel(shared.ctx)
	shared.cancel()
	shared.allocCancel()
	os.RemoveAll(shared.dir)
	shared.ctx = nil
}

// removeLeftoverProfiles removes the Chromium profiles of test processes that are gone.
func removeLeftoverProfiles() {
	tmp := os.TempDir()
	entries, _ := os.ReadDir(tmp)
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), profilePrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pid, _, _ := strings.Cut(rest, "-")
		if _, err := strconv.Atoi(pid); err != nil || pid == strconv.Itoa(os.Getpid()) {
			continue
		}
		if _, err := os.Stat("/proc/" + pid); errors.Is(err, os.ErrNotExist) {
			os.RemoveAll(filepath.Join(tmp, e.Name()))
		}
	}
}

// tail keeps the last max bytes written to it: Chromium's output, shown when it does not
// start.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}

// testLog logs to a test from the browser's goroutines, and drops what comes after the
// test's cleanup (testing panics on a Log after the test ended).
type testLog struct {
	mu   sync.Mutex
	tb   testing.TB
	done bool
}

func newTestLog(tb testing.TB) *testLog {
	l := &testLog{tb: tb}
	tb.Cleanup(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.done = true
	})
	return l
}

func (l *testLog) printf(prefix string) func(string, ...any) {
	return func(format string, args ...any) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if !l.done {
			l.tb.Logf(prefix+format, args...)
		}
	}
}

// acceptDialogs accepts every alert, confirm and prompt of the tab (a dialog blocks the
// page until it is answered), logging its message.
func acceptDialogs(ctx context.Context, log func(string, ...any)) {
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			log("%s %q accepted", ev.Type, ev.Message)
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
}
