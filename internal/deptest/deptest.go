// Package deptest reads the module's import graph from `go list`, for tests that hold
// packages to the layers of docs/architecture.md (see layers_test.go), in the manner of
// tailscale's tstest/deptest.
//
// Only non-test imports are seen: go list without -test does not follow _test.go files,
// so a test may use what its package may not.
package deptest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Package is what go list reports of one package.
type Package struct {
	ImportPath string
	Imports    []string // direct imports
	Deps       []string // every package it depends on, directly or not
	Standard   bool     // in the standard library
	DepOnly    bool     // listed only as a dependency, not matched by a pattern
	Module     *struct {
		Path string
		Main bool // the module go list ran in
	}
	Error *struct{ Err string }
}

// Graph is the import graph of the packages some patterns match and of everything they
// depend on.
type Graph struct {
	// Listed are the import paths the patterns matched, sorted.
	Listed []string
	// Packages has every package listed and every dependency, by import path.
	Packages map[string]*Package
	// Missing are the patterns whose directory does not exist (yet); they match nothing.
	Missing []string
}

// ModuleRoot returns the directory of the main module's go.mod.
func ModuleRoot() (string, error) {
	out, err := goCmd(".", "env", "GOMOD")
	if err != nil {
		return "", err
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("deptest: not in a module")
	}
	return filepath.Dir(gomod), nil
}

// Load runs `go list -deps` on patterns in dir, the module root. Patterns are go list's,
// relative to dir: "." for the root package, "./runtime/..." for a directory and
// everything under it, so that new subpackages are covered without a change. A pattern
// whose directory does not exist is reported in Missing rather than as an error. Any
// package go list cannot load is an error: its imports would be unknown.
func Load(dir string, patterns ...string) (*Graph, error) {
	present, missing := split(dir, patterns)
	g := &Graph{Packages: map[string]*Package{}, Missing: missing}
	if len(present) == 0 {
		return g, nil // go list without patterns would list "."
	}
	// -mod=readonly: a test must never rewrite go.mod, whatever GOFLAGS says.
	args := append([]string{"list", "-mod=readonly", "-e", "-deps",
		"-json=ImportPath,Imports,Deps,Standard,DepOnly,Module,Error", "--"}, present...)
	out, err := goCmd(dir, args...)
	if err != nil {
		return nil, err
	}
	var errs []error
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(Package)
		if err := dec.Decode(p); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("deptest: decode go list output: %w", err)
		}
		if p.Error != nil {
			errs = append(errs, fmt.Errorf("%s: %s", p.ImportPath, p.Error.Err))
		}
		g.Packages[p.ImportPath] = p
		if !p.DepOnly {
			g.Listed = append(g.Listed, p.ImportPath)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("deptest: go list %s: %w", strings.Join(present, " "), err)
	}
	slices.Sort(g.Listed)
	return g, nil
}

// Expand returns the import paths of the packages patterns match (see Load), sorted,
// and the patterns whose directory does not exist. "std" is the standard library.
func Expand(dir string, patterns ...string) (paths, missing []string, err error) {
	present, missing := split(dir, patterns)
	if len(present) == 0 {
		return nil, missing, nil
	}
	args := append([]string{"list", "-mod=readonly", "-e", "-find",
		"-f", "{{if .Error}}error {{.ImportPath}}: {{.Error}}{{else}}{{.ImportPath}}{{end}}", "--"}, present...)
	out, err := goCmd(dir, args...)
	if err != nil {
		return nil, nil, err
	}
	var errs []error
	for line := range strings.Lines(string(out)) {
		line = strings.TrimSpace(line)
		if msg, ok := strings.CutPrefix(line, "error "); ok {
			errs = append(errs, errors.New(msg))
		} else if line != "" {
			paths = append(paths, line)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, fmt.Errorf("deptest: go list %s: %w", strings.Join(present, " "), err)
	}
	slices.Sort(paths)
	return slices.Compact(paths), missing, nil
}

// Deps returns the dependencies of the package at path that are in the main module,
// sorted.
func (g *Graph) Deps(path string) []string {
	p := g.Packages[path]
	if p == nil {
		return nil
	}
	var deps []string
	for _, d := range p.Deps {
		if dp := g.Packages[d]; dp != nil && dp.Module != nil && dp.Module.Main {
			deps = append(deps, d)
		}
	}
	slices.Sort(deps)
	return deps
}

// Chain returns a shortest chain of imports from the package from to the package to:
// from, what it imports, ..., to. It is nil when from does not depend on to.
func (g *Graph) Chain(from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == to {
			var chain []string
			for p := to; p != ""; p = prev[p] {
				chain = append(chain, p)
			}
			slices.Reverse(chain)
			return chain
		}
		p := g.Packages[cur]
		if p == nil {
			continue
		}
		for _, imp := range p.Imports {
			if _, seen := prev[imp]; !seen {
				prev[imp] = cur
				queue = append(queue, imp)
			}
		}
	}
	return nil
}

// split separates the patterns whose directory exists under dir from those whose
// directory does not. Patterns that are not relative ("std", import paths) are kept.
func split(dir string, patterns []string) (present, missing []string) {
	for _, pat := range patterns {
		if pat != "." && !strings.HasPrefix(pat, "./") {
			present = append(present, pat)
			continue
		}
		d, _, _ := strings.Cut(pat, "...")
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(d))); errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, pat)
			continue
		}
		present = append(present, pat)
	}
	return present, missing
}

// goCmd runs the go command in dir and returns its standard output.
func goCmd(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("deptest: go %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, nil
}
