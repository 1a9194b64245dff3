package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// moduleRoot is the directory of the go.mod above the working directory (go test runs a
// package's tests in its directory).
var moduleRoot = sync.OnceValues(func() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("browsertest: no go.mod above the working directory")
		}
		dir = parent
	}
})

// artifacts holds the test directories emptied by this process.
var artifacts struct {
	mu    sync.Mutex
	fresh map[string]bool
}

// ArtifactDir returns the test's artefacts directory, created empty the first time a test
// asks for it in this process (no file of an earlier run stays next to this run's):
// $PLATFORM_TEST_ARTIFACTS/<test name>, or <module>/e2e/artifacts/<test name>.
func ArtifactDir(tb testing.TB) string {
	tb.Helper()
	root := os.Getenv("PLATFORM_TEST_ARTIFACTS")
	if root == "" {
		mod, err := moduleRoot()
		if err != nil {
			tb.Fatal(err)
		}
		root = filepath.Join(mod, "e2e", "artifacts")
	}
	dir := filepath.Join(root, safeName(tb.Name()))
	artifacts.mu.Lock()
	defer artifacts.mu.Unlock()
	if !artifacts.fresh[dir] {
		if err := os.RemoveAll(dir); err != nil {
			tb.Fatal(err)
		}
		if artifacts.fresh == nil {
			artifacts.fresh = map[string]bool{}
		}
		artifacts.fresh[dir] = true
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// safeName makes a test or file name a single path element of letters, digits, '.', '-'
// and '_'.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
	if s == "" || strings.Trim(s, ".") == "" {
		s = "_" + s
	}
	return s
}

func (p *Page) screenshot(ctx context.Context, name string) (string, error) {
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		return "", err
	}
	name = strings.TrimSuffix(name, ".png")
	path := filepath.Join(ArtifactDir(p.tb), safeName(name)+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return "", fmt.Errorf("write screenshot: %w", err)
	}
	return path, nil
}
