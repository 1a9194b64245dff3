package builder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	platform "github.com/micro/platform"
)

// WarmMaxAge is how long a finished warm-up counts: a start within it skips the warm-up,
// a later one checks the cache again. The go command trims cache entries unused for five
// days, so after that go-micro's packages may be gone; a warm-up over a cache that still
// holds them costs a second or two and marks them used.
const WarmMaxAge = 5 * 24 * time.Hour

// WarmOptions say what Builder.Warm compiles.
type WarmOptions struct {
	// Module and Version are the framework services build with, e.g. go-micro.dev/v5
	// v5.30.0. Required.
	Module, Version string
	// Packages are the import paths to compile; empty means Module's root package,
	// which is what a go-micro service imports (and with it the defaults it links).
	Packages []string
	// DownloadProcs is GOMAXPROCS of the go command while it downloads modules: it
	// fetches as many modules at once as it has procs, and a download mostly waits on
	// the network. Zero means 8.
	DownloadProcs int
}

// WarmResult says what a warm-up did.
type WarmResult struct {
	// Skipped is true when an earlier warm-up of the same module, version, toolchain and
	// environment finished less than WarmMaxAge ago.
	Skipped bool
	// Download and Compile are the durations of the two steps.
	Download, Compile time.Duration
	// Idle reports whether the compile step ran at idle priority (nice 19, SCHED_IDLE,
	// idle I/O class); IdleErr says why not, or which part could not be applied.
	Idle    bool
	IdleErr error
}

// Warm fills the Go build cache with the framework's packages, compiled exactly as a
// service's build compiles them (the builder's go command, environment and flags), so
// that the first deploy after a fresh install compiles its own packages only. It runs
// in Dir/warm, a scratch module requiring only opts.Module at opts.Version, in two steps:
//
//  1. download: `go list -deps` of the packages, which fetches the modules they need
//     (in parallel, DownloadProcs at a time) and nothing else. It runs at normal
//     priority: it mostly waits on the network, and while it fetches a module it holds
//     that module's lock in the module cache, which a real build needing the module
//     waits for; starved at idle priority on a busy machine, it would hold that build up.
//  2. compile: `go build -trimpath` of the packages, into the build cache only, at the
//     lowest CPU and I/O priority the host grants (nice 19 and SCHED_IDLE on Linux), so
//     it uses only the CPU that builds and the server leave idle. The build cache takes
//     no lock a build waits for: two go commands compiling the same package each write
//     the same entry.
//
// A real build never waits for it: both go commands share the caches, which the go
// command keeps consistent across processes, and a package one of them has compiled is
// a cache hit for the other. When both finish, Warm writes Dir/warm/done; a later call
// within WarmMaxAge returns Skipped. When ctx ends, the go command's process group is
// killed and Warm returns ctx's error (EUNAVAILABLE with the go command's message for
// any other failure, e.g. no network); nothing is marked, so the next call starts over
// from what the caches already hold.
func (b *Builder) Warm(ctx context.Context, opts WarmOptions) (WarmResult, error) {
	var res WarmResult
	if opts.Module == "" || opts.Version == "" {
		return res, platform.Errorf(platform.EINVALID, "warm: module and version are required")
	}
	pkgs := opts.Packages
	if len(pkgs) == 0 {
		pkgs = []string{opts.Module}
	}
	procs := opts.DownloadProcs
	if procs <= 0 {
		procs = 8
	}
	dir := filepath.Join(b.opts.Dir, "warm")
	marker := filepath.Join(dir, "done")
	key := b.reuseKey("warm:" + opts.Module + "@" + opts.Version + ":" + strings.Join(pkgs, ","))
	if info, err := os.Stat(marker); err == nil && time.Since(info.ModTime()) < WarmMaxAge {
		if old, err := os.ReadFile(marker); err == nil && strings.TrimSpace(string(old)) == key {
			res.Skipped = true
			return res, nil
		}
	}
	if err := writeWarmModule(dir, opts.Module, opts.Version, b.goVersion); err != nil {
		return res, fmt.Errorf("warm: %w", err)
	}

	step := func(idle bool, args []string, env ...string) (time.Duration, error) {
		start := time.Now()
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, b.goBin, args...)
		cmd.Dir = dir
		cmd.Env = append(b.env(), env...)
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.WaitDelay = 5 * time.Second
		killGroupOnCancel(cmd)
		var err error
		if idle {
			var idleErr error
			idleErr, err = runIdle(cmd)
			res.Idle, res.IdleErr = idleErr == nil, idleErr
		} else {
			err = cmd.Run()
		}
		d := time.Since(start)
		switch {
		case ctx.Err() != nil:
			return d, ctx.Err()
		case err != nil:
			return d, platform.Errorf(platform.EUNAVAILABLE, "warm: go %s: %v: %s", args[0], err, lastLines(out.String(), 5))
		}
		return d, nil
	}
	var err error
	// GOFLAGS=-mod=mod lets the go command complete go.mod and go.sum (checked against the
	// checksum database) the way a service's first build would.
	listArgs := append([]string{"list", "-deps", "-f", "{{.ImportPath}}"}, pkgs...)
	if res.Download, err = step(false, listArgs, fmt.Sprintf("GOMAXPROCS=%d", procs)); err != nil {
		return res, err
	}
	if res.Compile, err = step(true, append([]string{"build", "-trimpath"}, pkgs...)); err != nil {
		return res, err
	}
	if err := writeFileAtomic(marker, []byte(key+"\n")); err != nil {
		return res, fmt.Errorf("warm: %w", err)
	}
	return res, nil
}

// writeWarmModule writes the warm-up's module into dir: a go.mod requiring module at
// version and nothing else, as `go get module@version` in a new service leaves it (the
// go command adds the requirements module's go.mod selects). An earlier one is kept, so
// go.sum stays complete.
func writeWarmModule(dir, module, version, goVersion string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	gomod := filepath.Join(dir, "go.mod")
	want := fmt.Sprintf("require %s %s", module, version)
	if old, err := os.ReadFile(gomod); err == nil && bytes.Contains(old, []byte(want)) {
		return nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	_ = os.Remove(filepath.Join(dir, "go.sum"))
	lang := strings.TrimPrefix(goVersion, "go")
	if i := strings.IndexAny(lang, " -"); i >= 0 {
		lang = lang[:i]
	}
	if lang == "" {
		lang = "1.24"
	}
	return os.WriteFile(gomod, fmt.Appendf(nil, "// The platform's build cache warm-up (builder.Warm); safe to remove.\nmodule platform.invalid/warm\n\ngo %s\n\n%s\n", lang, want), 0o644)
}

// writeFileAtomic writes data to path through a temporary file in the same directory.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// lastLines returns the last n non-empty lines of s, joined by "; ".
func lastLines(s string, n int) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, "; ")
}
