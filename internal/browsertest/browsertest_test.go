package browsertest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestMain(m *testing.M) {
	code := m.Run()
	Shutdown()
	os.Exit(code)
}

// site serves the pages of the tests: "/" is accessible and has a strict
// Content-Security-Policy, "/bad" breaks two critical rules, "/login" sets a cookie that
// "/whoami" shows.
func site(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	page := func(w http.ResponseWriter, html string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, html)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'")
		page(w, `<!doctype html><html lang="en"><head><title>Greeter</title><script src="/app.js" defer></script></head>
<body><main><h1>Greeter</h1>
<form id="f"><label for="name">Name</label> <input id="name" name="name">
<label for="lang">Language</label> <select id="lang"><option value="en">English</option><option value="fr">French</option></select>
<button id="go" type="submit">Greet</button></form>
<p id="out" aria-live="polite"></p></main></body></html>`)
	})
	mux.HandleFunc("GET /app.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, `document.getElementById('f').addEventListener('submit', e => {
	e.preventDefault();
	const hello = document.getElementById('lang').value === 'fr' ? 'Bonjour' : 'Hello';
	setTimeout(() => { document.getElementById('out').textContent = hello + ', ' + document.getElementById('name').value; }, 200);
});`)
	})
	mux.HandleFunc("GET /bad", func(w http.ResponseWriter, r *http.Request) {
		page(w, `<!doctype html><html lang="en"><head><title>Bad</title></head><body><main>
<h1>Bad</h1><img id="logo" src="/logo.png"><input id="q" type="text"></main></body></html>`)
	})
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "s3cret", Path: "/", HttpOnly: true})
		page(w, `<!doctype html><html lang="en"><head><title>In</title></head><body><main><p id="who">logged in</p></main></body></html>`)
	})
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		who := "nobody"
		if c, err := r.Cookie("session"); err == nil {
			who = "session " + c.Value
		}
		page(w, `<!doctype html><html lang="en"><head><title>Who</title></head><body><main><p id="who">`+who+`</p></main></body></html>`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestPage(t *testing.T) {
	t.Parallel()
	srv := site(t)
	p := NewPage(t)
	if status := p.Navigate(srv.URL+"/", "#name"); status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	p.Fill("#name", "Ada")
	p.Fill("#lang", "fr")
	p.Click("#go")
	if got := p.WaitText("#out", "Bonjour, Ada"); got != "Bonjour, Ada" {
		t.Errorf("WaitText = %q", got)
	}
	if got := p.Text("h1"); got != "Greeter" {
		t.Errorf("Text(h1) = %q", got)
	}
	if html := p.HTML(); !strings.Contains(html, `<p id="out" aria-live="polite">Bonjour, Ada</p>`) {
		t.Errorf("HTML lacks the greeting:\n%s", html)
	}
	if u := p.URL(); u != srv.URL+"/" {
		t.Errorf("URL = %q", u)
	}
	p.Type("#name", "!")
	if got := p.VisibleText(); !strings.Contains(got, "Greeter") {
		t.Errorf("VisibleText = %q", got)
	}

	path := p.Screenshot("greeted")
	png, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("%s is not a PNG", path)
	}

	p.AssertAccessible() // under default-src 'self': the injection is not a page script

	fcp, err := FirstContentfulPaint(p.Context())
	if err != nil || fcp <= 0 {
		t.Errorf("FirstContentfulPaint = %v, %v", fcp, err)
	}
	nav, err := NavigationTiming(p.Context())
	if err != nil || nav.DOMInteractive <= 0 || nav.DOMContentLoaded < nav.DOMInteractive {
		t.Errorf("NavigationTiming = %+v, %v", nav, err)
	}
	tti, err := TimeToInteractive(p.Context())
	if err != nil || tti != nav.DOMContentLoaded {
		t.Errorf("TimeToInteractive = %v, %v", tti, err)
	}
	idle, err := FrameStats(p.Context(), 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if idle.Count < 5 || idle.P50 <= 0 || idle.P99 < idle.P50 || idle.Max < idle.P99 || idle.HeapBefore <= 0 || idle.HeapAfter <= 0 {
		t.Errorf("FrameStats = %+v", idle)
	}
	// A 300 ms task every 500 ms shows as long frames, and what the page keeps (16 MB/s) as
	// heap growth.
	p.Do(chromedp.Evaluate[chromedp.Void](`window.kept = [];
		window.grow = setInterval(() => kept.push(new Array(100000).fill(Math.random())), 50);
		window.block = setInterval(() => { const end = performance.now() + 300; while (performance.now() < end) {} }, 500);`))
	busy, err := FrameStats(p.Context(), 700*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	p.Do(chromedp.Evaluate[chromedp.Void](`clearInterval(grow); clearInterval(block); kept = null`))
	if busy.Max < 250*time.Millisecond || busy.HeapAfter-busy.HeapBefore < 2<<20 {
		t.Errorf("FrameStats with long tasks and a leak = %v", busy)
	}
	t.Logf("FCP %v, %+v; idle: %v; busy: %v", fcp, nav, idle, busy)

	// Dialogs are accepted; console errors are collected.
	var ok bool
	if err := evalJSON(p.Context(), `confirm('sure?') && console.error('boom') === undefined`, &ok); err != nil || !ok {
		t.Errorf("confirm = %v, %v", ok, err)
	}
	for deadline := time.Now().Add(5 * time.Second); !slices.ContainsFunc(p.Errors(), func(e string) bool { return strings.HasPrefix(e, "boom") }); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Errors() = %q, want boom", p.Errors())
		}
	}
}

func TestCheckA11yReportsViolations(t *testing.T) {
	t.Parallel()
	srv := site(t)
	p := NewPage(t)
	p.Navigate(srv.URL+"/bad", "main")
	vs, err := CheckA11y(p.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Violation{}
	for _, v := range vs {
		got[v.ID] = v
	}
	for id, target := range map[string]string{"image-alt": "#logo", "label": "#q"} {
		v, ok := got[id]
		if !ok || !v.Serious() || len(v.Nodes) != 1 || v.Nodes[0].Target != target || v.Help == "" {
			t.Errorf("violation %s = %+v, want a serious one on %s; all: %v", id, v, target, vs)
		}
	}

	r := &recorder{TB: t}
	r.run(func() { (&Page{tb: r, ctx: p.ctx}).AssertAccessible() })
	if !r.failed || !strings.Contains(r.msg, "image-alt (critical)") || !strings.Contains(r.msg, "[#logo]") ||
		!strings.Contains(r.msg, "label (critical)") {
		t.Errorf("AssertAccessible on /bad: failed %v: %s", r.failed, r.msg)
	}
}

func TestBrowsersShareNoCookies(t *testing.T) {
	t.Parallel()
	srv := site(t)
	alice := New(t)
	a := alice.NewPage()
	a.Navigate(srv.URL+"/login", "#who")
	a.Navigate(srv.URL+"/whoami", "#who")
	if got := a.Text("#who"); got != "session s3cret" {
		t.Fatalf("after login: %q", got)
	}
	a2 := alice.NewPage() // another tab of the same browser context
	a2.Navigate(srv.URL+"/whoami", "#who")
	if got := a2.Text("#who"); got != "session s3cret" {
		t.Errorf("second tab: %q", got)
	}
	b := NewPage(t)
	b.Navigate(srv.URL+"/whoami", "#who")
	if got := b.Text("#who"); got != "nobody" {
		t.Errorf("another browser sees %q", got)
	}
}

// TestWaitTextFailure checks that a failed wait says what the page showed.
func TestWaitTextFailure(t *testing.T) {
	t.Parallel()
	srv := site(t)
	p := NewPage(t)
	p.Navigate(srv.URL+"/whoami", "#who")
	r := &recorder{TB: t}
	q := &Page{tb: r, ctx: p.ctx, Timeout: 300 * time.Millisecond}
	r.run(func() { q.WaitText("#who", "session") })
	for _, want := range []string{`waiting for "session" in #who: its text is "nobody"`, "URL: " + srv.URL + "/whoami", "visible text:\n\tnobody", "screenshot: ", "failure.png"} {
		if !strings.Contains(r.msg, want) {
			t.Errorf("failure message lacks %q:\n%s", want, r.msg)
		}
	}
	r = &recorder{TB: t}
	q.tb = r
	r.run(func() { q.Text("#absent") })
	if !strings.Contains(r.msg, "no element matches #absent") {
		t.Errorf("Text(#absent): %s", r.msg)
	}
}

func TestMissingTool(t *testing.T) {
	t.Setenv("PLATFORM_TEST_CHROMIUM", "/nonexistent/chromium")
	if _, err := ChromiumPath(); err == nil {
		t.Error("ChromiumPath found a Chromium that does not exist")
	}
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		r := &recorder{TB: t}
		r.run(func() { missing(r, "no Chromium") })
		if r.skipped == (ci != "") || r.failed == (ci == "") {
			t.Errorf("CI=%q: skipped %v, failed %v", ci, r.skipped, r.failed)
		}
	}
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"TestX/sub case": "TestX_sub_case", "..": "_..", "": "_", "a.png": "a.png", "é/../x": "__.._x",
	} {
		if got := safeName(in); got != want {
			t.Errorf("safeName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := rank([]float64{1, 2, 3, 4}, 0.5); got != 2 {
		t.Errorf("rank p50 = %v", got)
	}
	if got := rank(slices.Repeat([]float64{1}, 99), 0.99); got != 1 {
		t.Errorf("rank p99 = %v", got)
	}
}

// recorder is a testing.TB whose Fatal and Skip record the message and end the goroutine
// (run it in recorder.run).
type recorder struct {
	testing.TB
	mu              sync.Mutex
	failed, skipped bool
	msg             string
}

func (r *recorder) Helper() {}

func (r *recorder) end(failed bool, msg string) {
	r.mu.Lock()
	r.failed, r.skipped, r.msg = failed, !failed, msg
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any)                 { r.end(true, fmt.Sprint(args...)) }
func (r *recorder) Fatalf(format string, args ...any) { r.end(true, fmt.Sprintf(format, args...)) }
func (r *recorder) Skip(args ...any)                  { r.end(false, fmt.Sprint(args...)) }
func (r *recorder) Skipf(format string, args ...any)  { r.end(false, fmt.Sprintf(format, args...)) }

func (r *recorder) run(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}
