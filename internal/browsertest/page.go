package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Page is one tab. Its methods fail the test on error; a failed wait reports the page's
// URL, its visible text, its console errors and a screenshot. Selectors are CSS.
type Page struct {
	// Timeout bounds each wait and action; DefaultTimeout when zero.
	Timeout time.Duration

	tb  testing.TB
	ctx context.Context

	mu     sync.Mutex
	errors []string // console errors and uncaught exceptions, in order
}

func newPage(tb testing.TB, ctx context.Context) *Page {
	p := &Page{tb: tb, ctx: ctx}
	acceptDialogs(ctx, newTestLog(tb).printf("browsertest: dialog: "))
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				p.mu.Lock()
				p.errors = append(p.errors, fmt.Sprintf("%s (%s:%d)", m.Text, m.URL, m.Line+1))
				p.mu.Unlock()
			}
		}
	}()
	return p
}

// Context is the tab's chromedp context, for chromedp actions and for the measurements
// of this package ([CheckA11y], [FirstContentfulPaint], [FrameStats]…). It has no
// deadline: bound a call with context.WithTimeout.
func (p *Page) Context() context.Context { return p.ctx }

// Errors returns the console errors and uncaught exceptions the page has reported so far,
// failed resource loads included (Chromium asks for /favicon.ico on its own).
func (p *Page) Errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errors...)
}

func (p *Page) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultTimeout
}

func (p *Page) actionCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(p.ctx, p.timeout())
}

// Do runs chromedp actions in the tab within Timeout.
func (p *Page) Do(steps ...chromedp.Action[chromedp.Void]) {
	p.tb.Helper()
	ctx, cancel := p.actionCtx()
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.failf("%v", err)
	}
}

// Navigate loads url, waits for its load event and then, unless waitFor is empty, for an
// element matching waitFor to be visible. It returns the HTTP status of the document (0
// when there was no HTTP response, as for about:blank).
func (p *Page) Navigate(url, waitFor string) int {
	p.tb.Helper()
	ctx, cancel := p.actionCtx()
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		p.failf("navigate to %s: %v", url, err)
	}
	if waitFor != "" {
		p.WaitVisible(waitFor)
	}
	if resp == nil {
		return 0
	}
	return int(resp.Status)
}

// WaitVisible waits for an element matching sel to be visible.
func (p *Page) WaitVisible(sel string) {
	p.tb.Helper()
	ctx, cancel := p.actionCtx()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		p.failf("waiting for %s to be visible: %v", sel, err)
	}
}

// Click waits for an element matching sel to be visible and clicks its centre with the
// mouse. It does not wait for a navigation the click starts: wait for what comes next.
func (p *Page) Click(sel string) {
	p.tb.Helper()
	ctx, cancel := p.actionCtx()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		p.failf("click %s: %v", sel, err)
	}
}

// Fill sets the value of the form field (input, textarea or select) matching sel and
// fires its input and change events, as the page's scripts expect from a user. Use
// [Page.Type] for real key presses and [Page.Click] for checkboxes.
func (p *Page) Fill(sel, value string) {
	p.tb.Helper()
	ctx, cancel := p.actionCtx()
	defer cancel()
	js := `(e, v) => {
		e.focus();
		e.value = v;
		e.dispatchEvent(new Event('input', {bubbles: true}));
		e.dispatchEvent(new Event('change', {bubbles: true}));
		return e.value;
	}`
	err := chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS(sel)))
	var got string
	if err == nil {
		err = evalJSON(ctx, call(js, "document.querySelector("+jsString(sel)+")", jsString(value)), &got)
	}
	if err == nil && got != value {
		err = fmt.Errorf("the field holds %q", got) // a select without that option
	}
	if err != nil {
		p.failf("fill %s with %q: %v", sel, value, err)
	}
}

// Type focuses the element matching sel and types text as key presses ("\n" is Enter,
// which submits a form).
func (p *Page) Type(sel, text string) {
	p.tb.Helper()
	ctx, cancel := p.actionCtx()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(sel), text)); err != nil {
		p.failf("type into %s: %v", sel, err)
	}
}

// Text waits for an element matching sel and returns its rendered text (innerText).
func (p *Page) Text(sel string) string {
	p.tb.Helper()
	text, found, err := p.pollText(sel, func(string) bool { return true })
	if !found {
		p.failf("no element matches %s%s", sel, lastErr(err))
	}
	return text
}

// WaitText waits until the text of an element matching sel contains want, and returns
// that text.
func (p *Page) WaitText(sel, want string) string {
	p.tb.Helper()
	text, found, err := p.pollText(sel, func(s string) bool { return strings.Contains(s, want) })
	switch {
	case !found:
		p.failf("waiting for %q in %s: no element matches%s", want, sel, lastErr(err))
	case !strings.Contains(text, want):
		p.failf("waiting for %q in %s: its text is %q", want, sel, text)
	}
	return text
}

// pollText reads the text of the first element matching sel until done accepts it or the
// timeout ends; found says whether an element matched at the last read. A navigation may
// replace the document between reads.
func (p *Page) pollText(sel string, done func(string) bool) (text string, found bool, err error) {
	js := `(() => { const e = document.querySelector(` + jsString(sel) + `); return e === null ? null : e.innerText })()`
	deadline := time.Now().Add(p.timeout())
	for {
		ctx, cancel := context.WithDeadline(p.ctx, deadline)
		var got *string
		err = evalJSON(ctx, js, &got)
		cancel()
		if err == nil {
			found = got != nil
			if found {
				text = *got
				if done(text) {
					return text, true, nil
				}
			}
		}
		if time.Now().After(deadline) || p.ctx.Err() != nil {
			return text, found, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func lastErr(err error) string {
	if err == nil {
		return ""
	}
	return " (" + err.Error() + ")"
}

// VisibleText returns the rendered text of the whole page (the body's innerText).
func (p *Page) VisibleText() string {
	p.tb.Helper()
	ctx, cancel := p.actionCtx()
	defer cancel()
	var text string
	if err := evalJSON(ctx, visibleTextJS, &text); err != nil {
		p.failf("read the page's text: %v", err)
	}
	return text
}

const visibleTextJS = `document.body ? document.body.innerText : ''`

// HTML returns the current document as HTML (its DOM now, scripts' changes included, not
// the bytes the server sent), for instance to check that no secret reached the page.
// Form fields hold what the server rendered into them, not what was typed since.
func (p *Page) HTML() string {
	p.tb.Helper()
	ctx, cancel := p.actionCtx()
	defer cancel()
	var html string
	if err := evalJSON(ctx, `document.documentElement.outerHTML`, &html); err != nil {
		p.failf("read the page's HTML: %v", err)
	}
	return html
}

// URL returns the address of the current document.
func (p *Page) URL() string {
	p.tb.Helper()
	ctx, cancel := p.actionCtx()
	defer cancel()
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		p.failf("read the URL: %v", err)
	}
	return u
}

// Screenshot saves a PNG of the whole page (beyond the viewport) as name.png in the
// test's artefacts directory ([ArtifactDir]), logs its path and returns it.
func (p *Page) Screenshot(name string) string {
	p.tb.Helper()
	ctx, cancel := p.actionCtx()
	defer cancel()
	path, err := p.screenshot(ctx, name)
	if err != nil {
		p.tb.Fatalf("browsertest: screenshot %s: %v", name, err)
	}
	p.tb.Logf("browsertest: screenshot %s", path)
	return path
}

// failf fails the test with what the page shows.
func (p *Page) failf(format string, args ...any) {
	p.tb.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "browsertest: "+format, args...)
	if p.ctx.Err() != nil {
		fmt.Fprintf(&b, "\nthe tab is gone: %v", context.Cause(p.ctx))
		p.tb.Fatal(b.String())
	}
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	if u, err := chromedp.Run(ctx, chromedp.Location()); err == nil {
		fmt.Fprintf(&b, "\nURL: %s", u)
	}
	var text string
	if err := evalJSON(ctx, visibleTextJS, &text); err == nil {
		if len(text) > 3000 {
			text = text[:3000] + "…"
		}
		fmt.Fprintf(&b, "\nvisible text:\n\t%s", strings.ReplaceAll(strings.TrimSpace(text), "\n", "\n\t"))
	}
	if errs := p.Errors(); len(errs) > 0 {
		fmt.Fprintf(&b, "\nconsole errors:\n\t%s", strings.Join(errs, "\n\t"))
	}
	if path, err := p.screenshot(ctx, "failure"); err == nil {
		fmt.Fprintf(&b, "\nscreenshot: %s", path)
	}
	p.tb.Fatal(b.String())
}

// evalJSON evaluates a JavaScript expression in the page, awaiting a promise, and decodes
// its JSON value into out.
func evalJSON(ctx context.Context, expression string, out any) error {
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expression, chromedp.EvalAwaitPromise))
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// call is the expression that calls the JavaScript function fn with args (expressions).
func call(fn string, args ...string) string {
	return "(" + fn + ")(" + strings.Join(args, ", ") + ")"
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Eval evaluates a JavaScript expression in the page, awaiting a promise, and decodes its
// JSON value into out (nil to ignore it): what a test uses to do what a hostile script in
// the page could, such as forcing a request the page offers no button for.
func (p *Page) Eval(expression string, out any) {
	p.tb.Helper()
	ctx, cancel := p.actionCtx()
	defer cancel()
	if err := evalJSON(ctx, expression, out); err != nil {
		p.failf("evaluate %s: %v", expression, err)
	}
}
