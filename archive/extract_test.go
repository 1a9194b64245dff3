package archive_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	platform "github.com/micro/platform"
	"github.com/micro/platform/archive"
)

// entry describes one tar entry for the test archives.
type entry struct {
	name     string
	typ      byte
	body     string
	linkname string
	mode     int64
	size     int64 // overrides len(body) when set, for oversized entries
}

// rawTar returns the uncompressed tar of entries.
func rawTar(tb testing.TB, entries ...entry) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		hdr := &tar.Header{Name: e.name, Typeflag: typ, Linkname: e.linkname, Mode: mode}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
			if e.size > 0 {
				hdr.Size = e.size
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			tb.Fatalf("write header %q: %v", e.name, err)
		}
		if e.size > 0 {
			if _, err := io.CopyN(tw, zeros{}, e.size); err != nil {
				tb.Fatal(err)
			}
		} else if _, err := io.WriteString(tw, e.body); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// gz compresses b.
func gz(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// tgz returns the tar.gz of entries.
func tgz(tb testing.TB, entries ...entry) []byte {
	tb.Helper()
	return gz(tb, rawTar(tb, entries...))
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestExtractRejects(t *testing.T) {
	t.Parallel()
	small := archive.Limits{MaxBytes: 1 << 20, MaxFiles: 5}
	tests := []struct {
		name    string
		archive []byte
		limits  archive.Limits
		want    string
	}{
		{"absolute path", tgz(t, entry{name: "/etc/passwd", body: "x"}), small,
			`archive entry "/etc/passwd": absolute paths are not allowed`},
		{"dot-dot traversal", tgz(t, entry{name: "a/../../evil", body: "x"}), small,
			`archive entry "a/../../evil": path escapes the archive root`},
		{"dot-dot that stays inside is still refused", tgz(t, entry{name: "a/../b", body: "x"}), small,
			`archive entry "a/../b": path escapes the archive root`},
		{"backslash", tgz(t, entry{name: `..\evil`, body: "x"}), small,
			`archive entry "..\\evil": backslashes are not allowed in paths`},
		{"absolute symlink", tgz(t, entry{name: "l", typ: tar.TypeSymlink, linkname: "/etc"}), small,
			`archive entry "l": symlink target "/etc" is absolute`},
		{"escaping symlink", tgz(t, entry{name: "d/l", typ: tar.TypeSymlink, linkname: "../../etc"}), small,
			`archive entry "d/l": symlink target "../../etc" escapes the archive root`},
		{"write through symlink", tgz(t,
			entry{name: "l", typ: tar.TypeSymlink, linkname: "."},
			entry{name: "l/f", body: "x"}), small,
			`archive entry "l/f": path goes through symlink "l"`},
		{"symlink chain via self link", tgz(t,
			entry{name: "s", typ: tar.TypeSymlink, linkname: "."},
			entry{name: "s/s/t", typ: tar.TypeSymlink, linkname: "../../x"}), small,
			`archive entry "s/s/t": path goes through symlink "s"`},
		{"hardlink outside", tgz(t, entry{name: "h", typ: tar.TypeLink, linkname: "../../etc/passwd"}), small,
			`archive entry "h": hard link target "../../etc/passwd" escapes the archive root`},
		{"hardlink absolute", tgz(t, entry{name: "h", typ: tar.TypeLink, linkname: "/etc/passwd"}), small,
			`archive entry "h": hard link target "/etc/passwd" escapes the archive root`},
		{"hardlink to symlink", tgz(t,
			entry{name: "l", typ: tar.TypeSymlink, linkname: "x"},
			entry{name: "h", typ: tar.TypeLink, linkname: "l"}), small,
			`archive entry "h": hard link target "l" is not a regular file earlier in the archive`},
		{"char device", tgz(t, entry{name: "null", typ: tar.TypeChar}), small,
			`archive entry "null": device files are not allowed`},
		{"block device", tgz(t, entry{name: "sda", typ: tar.TypeBlock}), small,
			`archive entry "sda": device files are not allowed`},
		{"fifo", tgz(t, entry{name: "p", typ: tar.TypeFifo}), small,
			`archive entry "p": named pipes (fifo) are not allowed`},
		{"duplicate", tgz(t, entry{name: "f", body: "1"}, entry{name: "./f", body: "2"}), small,
			`archive entry "./f": duplicate entry`},
		{"too many files", tgz(t,
			entry{name: "1"}, entry{name: "2"}, entry{name: "3"}, entry{name: "4"}, entry{name: "5"}, entry{name: "6"}), small,
			`archive entry "6": archive has more than 5 entries`},
		{"gzip bomb", tgz(t, entry{name: "bomb", size: 8 << 20}), small,
			`archive entry "bomb": archive exceeds the 1 MiB size limit (compressed and extracted bytes together)`},
		{"not gzip", []byte("PK\x03\x04 this is a zip"), small,
			`archive is not a gzip-compressed tar file: gzip: invalid header`},
		{"truncated", tgz(t, entry{name: "f", body: strings.Repeat("x", 4096)})[:40], small,
			`archive is not a valid tar.gz file: unexpected EOF`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			dest := filepath.Join(base, "dest")
			err := archive.Extract(bytes.NewReader(tt.archive), dest, tt.limits)
			if platform.ErrorCode(err) != platform.EINVALID {
				t.Fatalf("Extract error = %v, want code %s", err, platform.EINVALID)
			}
			if got := platform.ErrorMessage(err); got != tt.want {
				t.Errorf("message:\n got  %s\n want %s", got, tt.want)
			}
			assertContained(t, base, dest)
		})
	}
}

func TestExtractBombStopsEarly(t *testing.T) {
	t.Parallel()
	data := tgz(t, entry{name: "bomb", size: 32 << 20})
	dest := t.TempDir()
	err := archive.Extract(bytes.NewReader(data), dest, archive.Limits{MaxBytes: 1 << 20})
	if platform.ErrorCode(err) != platform.EINVALID {
		t.Fatalf("Extract error = %v, want EINVALID", err)
	}
	info, err := os.Stat(filepath.Join(dest, "bomb"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() > 1<<20 {
		t.Errorf("wrote %d bytes of the bomb, want at most the 1 MiB limit", info.Size())
	}
}

func TestExtractAccepts(t *testing.T) {
	t.Parallel()
	data := tgz(t,
		entry{name: "./", typ: tar.TypeDir},
		entry{name: "main.go", body: "package main\n"},
		entry{name: "bin/run", body: "#!/bin/sh\n", mode: 0o4755},
		entry{name: "deep/a/b/c.txt", body: "c"},
		entry{name: "deep/link", typ: tar.TypeSymlink, linkname: "a/b/c.txt"},
		entry{name: "deep/a/up", typ: tar.TypeSymlink, linkname: "../../main.go"},
		entry{name: "hard", typ: tar.TypeLink, linkname: "main.go"},
		entry{name: "empty/", typ: tar.TypeDir},
	)
	dest := filepath.Join(t.TempDir(), "dest")
	if err := archive.Extract(bytes.NewReader(data), dest, archive.Limits{}); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	files := map[string]string{
		"main.go": "package main\n", "bin/run": "#!/bin/sh\n", "deep/a/b/c.txt": "c",
		"deep/link": "c", "deep/a/up": "package main\n", "hard": "package main\n",
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dest, name))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	info, err := os.Stat(filepath.Join(dest, "bin/run"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o755 || info.Mode()&fs.ModeSetuid != 0 {
		t.Errorf("bin/run mode = %v, want -rwxr-xr-x without setuid", info.Mode())
	}
	if info, err := os.Stat(filepath.Join(dest, "empty")); err != nil || !info.IsDir() {
		t.Errorf("empty dir: %v, %v", info, err)
	}
}

// assertContained fails if anything but dest exists in base, or if a symlink under dest
// resolves outside it.
func assertContained(t testing.TB, base, dest string) {
	t.Helper()
	top, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range top {
		if e.Name() != filepath.Base(dest) {
			t.Fatalf("Extract wrote %s outside dest", e.Name())
		}
	}
	realDest, err := filepath.EvalSymlinks(dest)
	if err != nil {
		return // dest was never created
	}
	err = filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return err
		}
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		dir, err := filepath.EvalSymlinks(filepath.Dir(p))
		if err != nil {
			return err
		}
		resolved := filepath.Join(dir, target)
		if filepath.IsAbs(target) || !strings.HasPrefix(resolved+"/", realDest+"/") {
			t.Errorf("symlink %s -> %s resolves outside dest", p, target)
		}
		if real, err := filepath.EvalSymlinks(p); err == nil && !strings.HasPrefix(real+"/", realDest+"/") {
			t.Errorf("symlink %s resolves to %s, outside dest", p, real)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// FuzzExtract feeds mutated tar streams (gzipped by the harness, so mutations reach the
// tar layer rather than breaking the gzip checksum) to Extract and checks that nothing is
// ever written, or linked to, outside dest.
func FuzzExtract(f *testing.F) {
	seeds := [][]entry{
		{{name: "main.go", body: "package main"}},
		{{name: "../evil", body: "x"}},
		{{name: "/abs", body: "x"}},
		{{name: "l", typ: tar.TypeSymlink, linkname: "../outside"}, {name: "l/f", body: "x"}},
		{{name: "s", typ: tar.TypeSymlink, linkname: "."}, {name: "s/s/t", typ: tar.TypeSymlink, linkname: "../../x"}},
		{{name: "a/b", typ: tar.TypeSymlink, linkname: "../.."}},
		{{name: "t", typ: tar.TypeSymlink, linkname: "s/s/../.."}, {name: "s", typ: tar.TypeSymlink, linkname: "."}},
		{{name: "f", body: "x"}, {name: "h", typ: tar.TypeLink, linkname: "../f"}},
		{{name: "d", typ: tar.TypeDir}, {name: "d", typ: tar.TypeSymlink, linkname: ".."}},
		{{name: "dev", typ: tar.TypeChar}, {name: "fifo", typ: tar.TypeFifo}},
		{{name: "big", size: 4 << 10}},
	}
	for _, s := range seeds {
		f.Add(rawTar(f, s...))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		base := t.TempDir()
		dest := filepath.Join(base, "dest")
		err := archive.Extract(bytes.NewReader(gz(t, raw)), dest, archive.Limits{MaxBytes: 1 << 16, MaxFiles: 32})
		if err != nil && platform.ErrorCode(err) != platform.EINVALID {
			t.Errorf("Extract error = %v, want nil or EINVALID", err)
		}
		assertContained(t, base, dest)
	})
}
