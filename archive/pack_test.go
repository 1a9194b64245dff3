package archive_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/archive"
)

// writeTree creates files (name → content) under dir.
func writeTree(tb testing.TB, dir string, files map[string]string) {
	tb.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// list returns the entry names and headers of a tar.gz.
func list(tb testing.TB, data []byte) ([]string, []*tar.Header) {
	tb.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		tb.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var (
		names []string
		hdrs  []*tar.Header
	)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names, hdrs
		}
		if err != nil {
			tb.Fatal(err)
		}
		names = append(names, h.Name)
		hdrs = append(hdrs, h)
	}
}

func pack(tb testing.TB, dir string) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := archive.Pack(dir, &buf); err != nil {
		tb.Fatalf("Pack: %v", err)
	}
	return buf.Bytes()
}

func TestPackIgnoresAndIsDeterministic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"main.go":                 "package main\n",
		"go.mod":                  "module x\n",
		"handler/h.go":            "package handler\n",
		"handler/debug.log":       "noise",
		".git/config":             "[core]",
		".hg/store":               "x",
		"node_modules/a/index.js": "x",
		"bin/server":              "ELF",
		"cmd/bin/keep.go":         "package bin\n",
		"tmp/cache":               "x",
		"docs/tmp":                "a file named tmp is kept",
		"docs/manual.pdf":         "x",
		"docs/readme.md":          "x",
		archive.IgnoreFile:        "# build outputs\n*.log\nnode_modules\n/bin\ntmp/\n\ndocs/*.pdf\n",
	})
	if err := os.Chmod(filepath.Join(dir, "cmd/bin/keep.go"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("handler/h.go", filepath.Join(dir, "alias.go")); err != nil {
		t.Fatal(err)
	}

	first := pack(t, dir)
	names, hdrs := list(t, first)
	want := []string{
		archive.IgnoreFile, "alias.go", "cmd/", "cmd/bin/", "cmd/bin/keep.go", "docs/",
		"docs/readme.md", "docs/tmp", "go.mod", "handler/", "handler/h.go", "main.go",
	}
	if !slices.Equal(names, want) {
		t.Errorf("entries:\n got  %q\n want %q", names, want)
	}
	for _, h := range hdrs {
		if !h.ModTime.Equal(time.Unix(0, 0)) || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: mtime %v uid %d gid %d uname %q: want zeroed", h.Name, h.ModTime, h.Uid, h.Gid, h.Uname)
		}
		if h.Name == "cmd/bin/keep.go" && h.Mode != 0o755 {
			t.Errorf("%s mode = %o, want 755", h.Name, h.Mode)
		}
		if h.Name == "alias.go" && (h.Typeflag != tar.TypeSymlink || h.Linkname != "handler/h.go") {
			t.Errorf("alias.go = type %c -> %q, want symlink to handler/h.go", h.Typeflag, h.Linkname)
		}
	}

	// Touching every file changes mtimes but not the archive.
	later := time.Now().Add(time.Hour)
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, later, later)
	})
	if err != nil {
		t.Fatal(err)
	}
	if second := pack(t, dir); !bytes.Equal(first, second) {
		t.Error("packing the same tree twice gave different bytes")
	}

	// The archive round-trips through Extract.
	dest := filepath.Join(t.TempDir(), "out")
	if err := archive.Extract(bytes.NewReader(first), dest, archive.Limits{}); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(dest, "alias.go")); err != nil || string(got) != "package handler\n" {
		t.Errorf("alias.go = %q, %v", got, err)
	}
}

func TestPackRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{
			name: "symlink out of the tree",
			setup: func(t *testing.T, dir string) {
				if err := os.Symlink("../../secret", filepath.Join(dir, "sub", "leak")); err != nil {
					t.Fatal(err)
				}
			},
			want: "symlink sub/leak points to ../../secret, outside the directory being packed",
		},
		{
			name: "absolute symlink",
			setup: func(t *testing.T, dir string) {
				if err := os.Symlink("/etc/passwd", filepath.Join(dir, "passwd")); err != nil {
					t.Fatal(err)
				}
			},
			want: "symlink passwd points to the absolute path /etc/passwd; only relative links inside the directory can be packed",
		},
		{
			name: "socket",
			setup: func(t *testing.T, dir string) {
				l, err := net.Listen("unix", filepath.Join(dir, "sub", "s.sock"))
				if err != nil {
					t.Skipf("unix sockets unavailable: %v", err)
				}
				t.Cleanup(func() { l.Close() })
			},
			want: "sub/s.sock is a socket; only regular files, directories and symlinks can be packed",
		},
		{
			name: "bad ignore pattern",
			setup: func(t *testing.T, dir string) {
				writeTree(t, dir, map[string]string{archive.IgnoreFile: "ok\n[\n\n/x/[a\n"})
			},
			want: `.platformignore: line 2: bad pattern "["; line 4: bad pattern "/x/[a"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"sub/main.go": "package main\n"})
			tt.setup(t, dir)
			err := archive.Pack(dir, io.Discard)
			if platform.ErrorCode(err) != platform.EINVALID {
				t.Fatalf("Pack error = %v, want EINVALID", err)
			}
			if got := platform.ErrorMessage(err); got != tt.want {
				t.Errorf("message:\n got  %s\n want %s", got, tt.want)
			}
		})
	}
}

func TestFormatSize(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{
		512: "512 B", 2048: "2 KiB", 64 << 20: "64 MiB", 3 << 29: "1.5 GiB", 12_345_678: "12 MiB",
	} {
		if got := archive.FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
