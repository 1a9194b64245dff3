package builder_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	platform "github.com/micro/platform"
	"github.com/micro/platform/builder"
	"github.com/micro/platform/internal/testenv"
)

// TestBuildOutOfDiskSpace builds on a 1 MiB build dir: the source fits, the binary does
// not. The build fails as the server's trouble (EUNAVAILABLE, a hint about disk space),
// not as a compile error of the service (it read "compile failed ... fix the error").
func TestBuildOutOfDiskSpace(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles")
	}
	t.Parallel()
	dir := testenv.Tmpfs(t, "1m")
	b := newBuilder(t, func(o *builder.Options) { o.Dir = dir })
	src := t.TempDir()
	writeService(t, src, "too big for the disk")
	var log lines
	_, _, err := b.Build(context.Background(), archiveBuild("full1", store(t, b, src)), &log)
	if platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Fatalf("Build error = %v (code %s), want %s\nlog:\n%s", err, platform.ErrorCode(err), platform.EUNAVAILABLE, log.String())
	}
	msg, hint := platform.ErrorMessage(err), platform.ErrorHint(err)
	if !strings.Contains(msg, "ran out of disk space") || strings.Contains(msg, "compile failed") {
		t.Errorf("message %q does not say the disk is full", msg)
	}
	if !strings.Contains(hint, "free space") {
		t.Errorf("hint %q says nothing about disk space", hint)
	}
	if strings.Contains(msg, dir) {
		t.Errorf("message shows the server path %s: %q", dir, msg)
	}
	if !log.has("build failed: the server ran out of disk space") {
		t.Errorf("build log does not end with the failure:\n%s", log.String())
	}
	assertEmpty(t, filepath.Join(dir, "work"))
}

// TestBuildQuotingNoSpaceIsACompileError checks that a compile error merely quoting the
// system's message stays the service's compile error.
func TestBuildQuotingNoSpaceIsACompileError(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles")
	}
	t.Parallel()
	b := newBuilder(t)
	src := t.TempDir()
	writeService(t, src, "x")
	if err := os.WriteFile(filepath.Join(src, "bad.go"), []byte("package main\n\nfunc init() { \"no space left on device\" }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var log lines
	_, _, err := b.Build(context.Background(), archiveBuild("quote1", store(t, b, src)), &log)
	if platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(platform.ErrorMessage(err), "compile failed") {
		t.Fatalf("Build error = %v, want EINVALID compile failed", err)
	}
}

// TestNewRemovesStaleWork starts a builder on a dir where a builder killed mid-build
// (kill -9) left a work directory and a half-written upload: both go, stored archives
// and artifacts stay.
func TestNewRemovesStaleWork(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]bool{ // path → kept
		"work/b-123-456789/src/main.go":                   false,
		"work/validate-42/src/go.mod":                     false,
		"archives/.upload-987":                            false,
		"archives/" + strings.Repeat("a", 64) + ".tar.gz": true,
		"artifacts/b-1/hello":                             true,
	}
	for p := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	newBuilder(t, func(o *builder.Options) { o.Dir = dir })
	for p, kept := range files {
		_, err := os.Stat(filepath.Join(dir, p))
		if exists := err == nil; exists != kept {
			t.Errorf("%s: exists %v, want %v", p, exists, kept)
		}
	}
	assertEmpty(t, filepath.Join(dir, "work"))
}
