package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// Violation is a rule of axe-core the page breaks, with the elements that break it.
type Violation struct {
	ID      string `json:"id"`     // the rule, e.g. "image-alt"
	Impact  string `json:"impact"` // "minor", "moderate", "serious" or "critical"
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Nodes   []Node `json:"nodes"`
}

// Node is one element that breaks a rule.
type Node struct {
	Target string `json:"target"` // a CSS selector; frames and shadow roots are joined by " >>> "
	HTML   string `json:"html"`   // the element's opening tag
}

// Serious reports whether v fails an accessibility check: impact serious or critical.
func (v Violation) Serious() bool { return v.Impact == "serious" || v.Impact == "critical" }

func (v Violation) String() string {
	targets := make([]string, len(v.Nodes))
	for i, n := range v.Nodes {
		targets[i] = n.Target
	}
	return fmt.Sprintf("%s (%s): %s [%s]", v.ID, v.Impact, v.Help, strings.Join(targets, ", "))
}

// errNoAxe wraps why axe-core could not be had: no npm, no registry.
var errNoAxe = errors.New("axe-core is not installed")

// axeRun runs every rule of axe-core on the document; frames are left out (axe waits for
// an answer from each frame, which never comes without axe-core in it).
const axeRun = `(async () => {
	const r = await axe.run(document, {resultTypes: ['violations'], iframes: false});
	const sel = t => Array.isArray(t) ? t.map(sel).join(' >>> ') : String(t);
	return r.violations.map(v => ({
		id: v.id, impact: v.impact || '', help: v.help, helpUrl: v.helpUrl,
		nodes: v.nodes.map(n => ({target: sel(n.target), html: n.html})),
	}));
})()`

// CheckA11y runs axe-core on the page of ctx (a chromedp tab) and returns every violation,
// of any impact. It injects axe-core into the page unless it is there already; the
// injection goes through the DevTools protocol, so the page's Content-Security-Policy does
// not stop it. The first call may install axe-core (see the package comment).
func CheckA11y(ctx context.Context) ([]Violation, error) {
	var present bool
	if err := evalJSON(ctx, `typeof window.axe === 'object'`, &present); err != nil {
		return nil, fmt.Errorf("check accessibility: %w", err)
	}
	if !present {
		src, err := axeSource()
		if err != nil {
			return nil, fmt.Errorf("check accessibility: %w", err)
		}
		if err := evalJSON(ctx, string(src)+"\n;true", nil); err != nil {
			return nil, fmt.Errorf("check accessibility: inject axe-core: %w", err)
		}
	}
	var vs []Violation
	if err := evalJSON(ctx, axeRun, &vs); err != nil {
		return nil, fmt.Errorf("check accessibility: run axe-core: %w", err)
	}
	return vs, nil
}

// AssertAccessible fails the test when axe-core finds violations of impact serious or
// critical on the current page, listing each rule, its help and the elements' selectors;
// it logs the minor and moderate ones. A missing axe-core skips the test (fails it under
// CI).
func (p *Page) AssertAccessible() {
	p.tb.Helper()
	if _, err := axeSource(); errors.Is(err, errNoAxe) { // before the timeout starts: it may install
		missing(p.tb, "%v", err)
	}
	ctx, cancel := p.actionCtx()
	defer cancel()
	vs, err := CheckA11y(ctx)
	if err != nil {
		p.failf("%v", err)
	}
	var serious []string
	for _, v := range vs {
		if v.Serious() {
			serious = append(serious, v.String())
		} else {
			p.tb.Logf("browsertest: accessibility: %s", v)
		}
	}
	if len(serious) > 0 {
		shot, _ := p.screenshot(ctx, "a11y")
		p.tb.Fatalf("browsertest: %d serious accessibility violations on %s (screenshot %s):\n\t%s",
			len(serious), p.URL(), shot, strings.Join(serious, "\n\t"))
	}
}

// axe caches axe.min.js once read.
var axe struct {
	mu  sync.Mutex
	src []byte
}

// axeSource returns axe-core's axe.min.js from axe/node_modules, running `npm ci` first
// when it is missing or is not the version axe/package-lock.json pins. An exclusive lock
// on axe/package.json serialises test binaries that would install it at the same time.
func axeSource() ([]byte, error) {
	axe.mu.Lock()
	defer axe.mu.Unlock()
	if axe.src != nil {
		return axe.src, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, "internal", "browsertest", "axe")
	lock, err := os.Open(filepath.Join(dir, "package.json"))
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	want, err := lockedVersion(filepath.Join(dir, "package-lock.json"), "node_modules/axe-core")
	if err != nil {
		return nil, err
	}
	if have, _ := installedVersion(filepath.Join(dir, "node_modules", "axe-core", "package.json")); have != want {
		npm, err := exec.LookPath("npm")
		if err != nil {
			return nil, fmt.Errorf("%w in %s and there is no npm to install it (apt-get install -y npm)", errNoAxe, dir)
		}
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%w: npm ci in %s: %v\n%s", errNoAxe, dir, err, out)
		}
	}
	src, err := os.ReadFile(filepath.Join(dir, "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		return nil, err
	}
	axe.src = src
	return src, nil
}

// lockedVersion reads the version of a package from a package-lock.json.
func lockedVersion(path, pkg string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var lock struct {
		Packages map[string]struct{ Version string } `json:"packages"`
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	v := lock.Packages[pkg].Version
	if v == "" {
		return "", fmt.Errorf("%s pins no %s", path, pkg)
	}
	return v, nil
}

// installedVersion reads the version from an installed package's package.json.
func installedVersion(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var pkg struct{ Version string }
	err = json.Unmarshal(b, &pkg)
	return pkg.Version, err
}
