package imagebuild_test

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/micro/platform/internal/imagebuild"
)

// TestBuild builds an image from a fake toolchain and binary and reads it back: the
// layers hold what the package comment says, tests are left out, the config runs the
// binary as 65532, and the same inputs give the same digest.
func TestBuild(t *testing.T) {
	src := t.TempDir()
	goroot := filepath.Join(src, "go")
	for name, mode := range map[string]os.FileMode{
		"VERSION":                    0o644,
		"bin/go":                     0o755,
		"pkg/tool/linux_amd64/link":  0o755,
		"src/fmt/print.go":           0o644,
		"src/fmt/fmt_test.go":        0o644,
		"src/fmt/testdata/x.txt":     0o644,
		"test/run.go":                0o644,
		"doc/go_spec.html":           0o644,
		"src/cmd/go/internal/x/x.go": 0o600,
	} {
		mustWrite(t, filepath.Join(goroot, name), name, mode)
	}
	bin := filepath.Join(src, "platform")
	mustWrite(t, bin, "binary", 0o755)
	certs := filepath.Join(src, "ca.crt")
	mustWrite(t, certs, "certs", 0o644)

	opts := imagebuild.Options{Binary: bin, GoRoot: goroot, CACerts: certs, Dir: t.TempDir(), Revision: "abc", Arch: "amd64"}
	img, err := imagebuild.Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 2 {
		t.Fatalf("layers: got %d, want 2", len(layers))
	}
	base, binLayer := mustEntries(t, layers[0]), mustEntries(t, layers[1])
	for _, want := range []string{"etc/passwd", "etc/group", "tmp/", "etc/ssl/certs/ca-certificates.crt", "usr/local/go/VERSION", "usr/local/go/bin/go", "usr/local/go/pkg/tool/linux_amd64/link", "usr/local/go/src/fmt/print.go", "usr/local/go/src/cmd/go/internal/x/x.go"} {
		if _, ok := base[want]; !ok {
			t.Errorf("base layer: no %s", want)
		}
	}
	for _, unwanted := range []string{"usr/local/go/src/fmt/fmt_test.go", "usr/local/go/src/fmt/testdata/x.txt", "usr/local/go/test/run.go", "usr/local/go/doc/go_spec.html"} {
		if _, ok := base[unwanted]; ok {
			t.Errorf("base layer: has %s", unwanted)
		}
	}
	if h := base["usr/local/go/bin/go"]; h.Mode != 0o755 || h.Uid != 0 || h.ModTime.Unix() != 0 {
		t.Errorf("bin/go: mode %o uid %d mtime %v, want 755, 0, epoch", h.Mode, h.Uid, h.ModTime)
	}
	if h := base["usr/local/go/src/cmd/go/internal/x/x.go"]; h.Mode != 0o644 {
		t.Errorf("a 0600 source file: mode %o, want 644 (readable by 65532)", h.Mode)
	}
	if h := base["tmp/"]; h.Mode != 0o1777 {
		t.Errorf("tmp: mode %o, want 1777", h.Mode)
	}
	if h, ok := binLayer["usr/local/bin/platform"]; !ok || h.Mode != 0o755 {
		t.Errorf("binary layer: usr/local/bin/platform %v (mode %o)", ok, h.Mode)
	}

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if len(c.Entrypoint) != 1 || c.Entrypoint[0] != imagebuild.BinaryPath || c.User != imagebuild.User || cf.Architecture != "amd64" || cf.OS != "linux" {
		t.Errorf("config: entrypoint %v user %q platform %s/%s", c.Entrypoint, c.User, cf.OS, cf.Architecture)
	}
	if len(c.Env) != 1 || c.Env[0] != "PATH="+imagebuild.Path || c.Labels["org.opencontainers.image.revision"] != "abc" {
		t.Errorf("config: env %v labels %v", c.Env, c.Labels)
	}

	d1, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	opts.Dir = t.TempDir()
	again, err := imagebuild.Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	if d2, err := again.Digest(); err != nil || d2 != d1 {
		t.Errorf("rebuilt digest %v (%v), want %v: the build is not reproducible", d2, err, d1)
	}

	out := filepath.Join(t.TempDir(), "image.tar")
	if err := imagebuild.WriteTarball(out, "10.250.0.1:5000/micro-platform/platform:test", img); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(tb testing.TB, p, content string, mode os.FileMode) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		tb.Fatal(err)
	}
}

func mustEntries(tb testing.TB, l interface {
	Uncompressed() (io.ReadCloser, error)
}) map[string]tar.Header {
	tb.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		tb.Fatal(err)
	}
	defer rc.Close()
	out := map[string]tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			tb.Fatal(err)
		}
		out[h.Name] = *h
	}
}
