package server

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/micro/platform/builder"
	"github.com/micro/platform/internal/testenv"
)

// TestBuildWarmConfig checks build_warm: on by default, off from the file, the
// environment or the flag, each over the one before.
func TestBuildWarmConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	off := filepath.Join(dir, "off.yaml")
	if err := os.WriteFile(off, []byte("build_warm: false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     []string
		args    []string
		want    bool
		wantErr string
	}{
		{name: "default on", want: true},
		{name: "file", args: []string{"--config", off}, want: false},
		{name: "env over file", args: []string{"--config", off}, env: []string{"PLATFORM_BUILD_WARM=true"}, want: true},
		{name: "env off", env: []string{"PLATFORM_BUILD_WARM=0"}, want: false},
		{name: "flag over env", args: []string{"--build-warm=false"}, env: []string{"PLATFORM_BUILD_WARM=true"}, want: false},
		{name: "flag on over file", args: []string{"--config", off, "--build-warm"}, want: true},
		{name: "bad env", env: []string{"PLATFORM_BUILD_WARM=maybe"}, wantErr: "PLATFORM_BUILD_WARM: want true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var cf commandFlags
			cmd := &cobra.Command{}
			cf.register(cmd)
			if err := cmd.ParseFlags(append([]string{"--data", dir}, tt.args...)); err != nil {
				t.Fatal(err)
			}
			cfg, err := cf.resolve(cmd, tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.BuildWarm != tt.want {
				t.Errorf("BuildWarm = %v, want %v", cfg.BuildWarm, tt.want)
			}
		})
	}
}

// fakeGo answers `go env` and otherwise sleeps FAKE_GO_SLEEP seconds (if set) and
// succeeds.
const fakeGo = `#!/bin/sh
if [ "$1" = env ]; then echo go1.26.0; echo /nonexistent/cache; echo /nonexistent/modcache; exit 0; fi
if [ -n "$FAKE_GO_SLEEP" ]; then exec sleep "$FAKE_GO_SLEEP"; fi
exit 0
`

// newTestWarmUp returns the warm-up of an App with config cfg whose builder's go command
// is fakeGo, and the App's log.
func newTestWarmUp(t *testing.T, cfg Config, env ...string) (*warmUp, *testenv.Buffer) {
	t.Helper()
	dir := t.TempDir()
	goBin := filepath.Join(dir, "go")
	if err := os.WriteFile(goBin, []byte(fakeGo), 0o755); err != nil {
		t.Fatal(err)
	}
	var log testenv.Buffer
	a := &App{cfg: cfg, logger: slog.New(slog.NewTextHandler(&log, nil))}
	b, err := builder.New(builder.Options{
		Dir: filepath.Join(dir, "builds"), GoBinary: goBin, GoCache: "cache", GoModCache: "modcache",
		Env: append([]string{"PATH=" + os.Getenv("PATH")}, env...),
	})
	if err != nil {
		t.Fatal(err)
	}
	return a.newWarmUp(b), &log
}

// TestWarmUp checks what the server does with the builder's warm-up: nothing when
// build_warm is off; otherwise the version of go-micro this binary carries, warmed once
// and skipped at the next start, and a warm-up stopped by shutdown, each in the log.
func TestWarmUp(t *testing.T) {
	t.Parallel()
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		cfg := DefaultConfig()
		cfg.BuildWarm = false
		w, _ := newTestWarmUp(t, cfg)
		if w != nil {
			t.Fatalf("warm-up %+v with build_warm off", w)
		}
		w.run(context.Background()) // a nil warm-up does nothing
	})
	t.Run("once, then skipped", func(t *testing.T) {
		t.Parallel()
		w, log := newTestWarmUp(t, DefaultConfig())
		w.run(context.Background())
		if got := log.String(); !strings.Contains(got, "warming the go-micro build cache") || !strings.Contains(got, `msg="go-micro build cache warm"`) {
			t.Errorf("log of the first start:\n%s", got)
		}
		w.run(context.Background())
		if got := log.String(); !strings.Contains(got, "go-micro build cache already warm") {
			t.Errorf("log of the second start:\n%s", got)
		}
	})
	t.Run("stopped at shutdown", func(t *testing.T) {
		t.Parallel()
		w, log := newTestWarmUp(t, DefaultConfig(), "FAKE_GO_SLEEP=60")
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		w.run(ctx)
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("the warm-up took %s to stop", d)
		}
		if got := log.String(); !strings.Contains(got, "build cache warm-up stopped at shutdown") {
			t.Errorf("log:\n%s", got)
		}
	})
}

// TestWarmFallbackVersion checks that the go-micro version warmed by a binary without
// module information is the one go.mod requires.
func TestWarmFallbackVersion(t *testing.T) {
	t.Parallel()
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	want := "\t" + warmModule + " " + warmFallbackVersion + "\n"
	if !strings.Contains(string(gomod), want) {
		t.Errorf("go.mod does not require %s %s: update warmFallbackVersion", warmModule, warmFallbackVersion)
	}
}
