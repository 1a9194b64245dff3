package server

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/micro/platform/builder"
)

// warmModule is the framework whose packages the build cache warm-up compiles: what
// every service imports. warmFallbackVersion is its version in go.mod, for a binary
// built without module information (a test binary); TestWarmFallbackVersion keeps the
// two equal.
const (
	warmModule          = "go-micro.dev/v5"
	warmFallbackVersion = "v5.30.0"
)

// warmUp compiles go-micro into the builder's Go build cache in the background, at idle
// priority, so that the first deploy on a fresh machine compiles only its own code
// (builder.Warm has the details; docs/coldstart.md the measurements). It runs once per
// data dir and go-micro version: later starts find its marker and skip it.
type warmUp struct {
	b       *builder.Builder
	version string // go-micro's version, the one the platform itself is built with
	logger  *slog.Logger
}

// newWarmUp returns the warm-up of b, or nil when cfg turns it off.
func (a *App) newWarmUp(b *builder.Builder) *warmUp {
	if !a.cfg.BuildWarm {
		return nil
	}
	version := moduleVersion(warmModule)
	if version == "" {
		version = warmFallbackVersion
	}
	return &warmUp{b: b, version: version, logger: a.logger.With("component", "builder")}
}

// moduleVersion returns the version of module this binary was built with, or "".
func moduleVersion(module string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, d := range info.Deps {
		if d.Path != module {
			continue
		}
		if d.Replace != nil && d.Replace.Version != "" {
			return d.Replace.Version
		}
		return d.Version
	}
	return ""
}

// run warms the cache until done or ctx ends, logging progress and outcome; it never
// fails the server. A nil warmUp does nothing.
func (w *warmUp) run(ctx context.Context) {
	if w == nil {
		return
	}
	log := w.logger.With("module", warmModule, "version", w.version)
	start := time.Now()
	log.Info("warming the go-micro build cache in the background at idle priority (build_warm: false turns it off)")
	res, err := w.b.Warm(ctx, builder.WarmOptions{Module: warmModule, Version: w.version})
	if res.IdleErr != nil && !res.Skipped {
		log.Warn("build cache warm-up ran without the lowest priority", "err", res.IdleErr)
	}
	switch {
	case res.Skipped:
		log.Info("go-micro build cache already warm")
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		log.Info("build cache warm-up stopped at shutdown; the next start goes on from what the cache holds",
			"after", time.Since(start).Round(time.Millisecond))
	case err != nil:
		log.Warn("build cache warm-up failed; the first deploy compiles go-micro itself", "err", err)
	default:
		log.Info("go-micro build cache warm", "download", res.Download.Round(time.Millisecond),
			"compile", res.Compile.Round(time.Millisecond), "total", time.Since(start).Round(time.Millisecond))
	}
}
