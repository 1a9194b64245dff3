package builder_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/archive"
	"github.com/micro/platform/builder"
)

// lines is a platform.LogWriter that keeps what it is given.
type lines struct {
	mu sync.Mutex
	l  []string
}

func (w *lines) WriteLine(line string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.l = append(w.l, line)
}

func (w *lines) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.l, "\n")
}

// has reports whether some line starts with prefix.
func (w *lines) has(prefix string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range w.l {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// newBuilder returns a builder under a temp dir using the host's Go caches.
func newBuilder(tb testing.TB, mutate ...func(*builder.Options)) *builder.Builder {
	tb.Helper()
	opts := builder.DefaultOptions()
	opts.Dir = tb.TempDir()
	for _, m := range mutate {
		m(&opts)
	}
	b, err := builder.New(opts)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return b
}

// writeService writes a stdlib-only main package printing msg into dir.
func writeService(tb testing.TB, dir, msg string) {
	tb.Helper()
	files := map[string]string{
		"go.mod":  "module example.com/hello\n\ngo 1.22\n",
		"main.go": "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(" + `"` + msg + `"` + ") }\n",
	}
	for name, body := range files {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// store packs dir and stores it in b.
func store(tb testing.TB, b *builder.Builder, dir string) string {
	tb.Helper()
	var buf bytes.Buffer
	if err := archive.Pack(dir, &buf); err != nil {
		tb.Fatalf("Pack: %v", err)
	}
	digest, err := b.StoreArchive(&buf)
	if err != nil {
		tb.Fatalf("StoreArchive: %v", err)
	}
	return digest
}

func archiveBuild(id, digest string) *platform.Build {
	return &platform.Build{ID: id, Namespace: "acme", Service: "hello",
		Source: platform.Source{Kind: platform.SourceArchive, Archive: digest}}
}

// run executes a built binary and returns its trimmed output.
func run(tb testing.TB, bin string) string {
	tb.Helper()
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil {
		tb.Fatalf("run %s: %v\n%s", bin, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestBuildArchiveAndReuse(t *testing.T) {
	t.Parallel()
	b := newBuilder(t)
	src := t.TempDir()
	writeService(t, src, "hello v1")
	digest := store(t, b, src)

	var log1 lines
	art, commit, err := b.Build(context.Background(), archiveBuild("b1", digest), &log1)
	if err != nil {
		t.Fatalf("Build: %v\nlog:\n%s", err, log1.String())
	}
	if want := filepath.Join(b.Options().Dir, "artifacts", "b1", "hello"); art != want || commit != "" {
		t.Errorf("Build = %q, %q; want %q, \"\"", art, commit, want)
	}
	if got := run(t, art); got != "hello v1" {
		t.Errorf("binary printed %q, want %q", got, "hello v1")
	}
	for _, want := range []string{"extracting archive " + digest[:12], "compiling .", "built in "} {
		if !log1.has(want) {
			t.Errorf("log has no line starting %q:\n%s", want, log1.String())
		}
	}

	t.Run("unchanged source reuses the artifact", func(t *testing.T) {
		var log lines
		art2, _, err := b.Build(context.Background(), archiveBuild("b2", store(t, b, src)), &log)
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		if !log.has("reused artifact of build b1") || log.has("compiling") {
			t.Errorf("log should say the artifact of b1 was reused without compiling:\n%s", log.String())
		}
		if art2 == art || run(t, art2) != "hello v1" {
			t.Errorf("reused artifact %s (first %s) does not run as the first build", art2, art)
		}
	})
	t.Run("changed source compiles again", func(t *testing.T) {
		writeService(t, src, "hello v2")
		var log lines
		art3, _, err := b.Build(context.Background(), archiveBuild("b3", store(t, b, src)), &log)
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		if log.has("reused") || !log.has("compiling .") {
			t.Errorf("changed source should compile:\n%s", log.String())
		}
		if got := run(t, art3); got != "hello v2" {
			t.Errorf("binary printed %q, want %q", got, "hello v2")
		}
		if got := run(t, art); got != "hello v1" {
			t.Errorf("first build's binary now prints %q, want it untouched", got)
		}
	})
	assertEmpty(t, filepath.Join(b.Options().Dir, "work"))
}

// TestBuildReadsEndpointDocs checks that a build, compiled or reusing an artifact, sets
// the docs of the source's handler comments on the build.
func TestBuildReadsEndpointDocs(t *testing.T) {
	t.Parallel()
	b := newBuilder(t)
	src := t.TempDir()
	writeService(t, src, "docs")
	handler := `package main

import "context"

type Request struct{ Name string }

type Response struct{ Message string }

// Greeter greets.
type Greeter struct{}

// Call greets a person.
//
// @example {"name": "Alice"}
func (g *Greeter) Call(ctx context.Context, req *Request, rsp *Response) error { return nil }
`
	if err := os.WriteFile(filepath.Join(src, "handler.go"), []byte(handler), 0o644); err != nil {
		t.Fatal(err)
	}
	want := map[string]platform.EndpointDoc{"Greeter.Call": {Description: "Call greets a person.", Example: `{"name": "Alice"}`}}
	for _, id := range []string{"d1", "d2"} {
		var log lines
		bd := archiveBuild(id, store(t, b, src))
		if _, _, err := b.Build(context.Background(), bd, &log); err != nil {
			t.Fatalf("Build %s: %v\nlog:\n%s", id, err, log.String())
		}
		if !reflect.DeepEqual(bd.Docs, want) {
			t.Errorf("build %s: Docs = %+v, want %+v", id, bd.Docs, want)
		}
		if !log.has("read the docs of 1 endpoints") {
			t.Errorf("build %s: log does not say it read the docs:\n%s", id, log.String())
		}
		if id == "d2" && !log.has("reused artifact of build d1") {
			t.Errorf("second build should reuse the first's artifact:\n%s", log.String())
		}
	}
}

func TestBuildFailures(t *testing.T) {
	t.Parallel()
	b := newBuilder(t)
	tests := []struct {
		name     string
		files    map[string]string
		contains []string
		hint     string
	}{
		{
			name:     "compile error",
			files:    map[string]string{"go.mod": "module example.com/bad\n\ngo 1.22\n", "main.go": "package main\n\nfunc main() { foo() }\n"},
			contains: []string{"compile failed:", "./main.go:3:15: undefined: foo"},
			hint:     "run `go build .` in the service directory to reproduce",
		},
		{
			name:     "no go.mod",
			files:    map[string]string{"main.go": "package main\n\nfunc main() {}\n"},
			contains: []string{"no go.mod found in . or above it: the service must be a Go module"},
			hint:     "run `go mod init <module path>` in the service directory and deploy again",
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := t.TempDir()
			for name, body := range tt.files {
				if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			id := "fail" + string(rune('a'+i))
			var log lines
			_, _, err := b.Build(context.Background(), archiveBuild(id, store(t, b, src)), &log)
			if platform.ErrorCode(err) != platform.EINVALID {
				t.Fatalf("Build error = %v, want EINVALID", err)
			}
			msg := platform.ErrorMessage(err)
			for _, want := range tt.contains {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not contain %q", msg, want)
				}
			}
			if strings.Contains(msg, b.Options().Dir) {
				t.Errorf("message leaks the server path %s: %q", b.Options().Dir, msg)
			}
			if !log.has("build failed: " + tt.contains[0]) {
				t.Errorf("build log does not end with the failure:\n%s", log.String())
			}
			if got := platform.ErrorHint(err); got != tt.hint {
				t.Errorf("hint = %q, want %q", got, tt.hint)
			}
			if _, err := os.Stat(filepath.Join(b.Options().Dir, "artifacts", id)); !os.IsNotExist(err) {
				t.Errorf("artifact dir of a failed build exists (stat err %v)", err)
			}
		})
	}
}

func TestBuildValidation(t *testing.T) {
	t.Parallel()
	b := newBuilder(t)
	bad := &platform.Build{ID: "../x", Service: "a/b", Source: platform.Source{Kind: platform.SourceArchive, Archive: "../../etc"}}
	_, _, err := b.Build(context.Background(), bad, &lines{})
	want := `build id "../x" is not a valid name; invalid service name "a/b": use 1-40 lowercase letters, digits and '-', starting with a letter and not ending with '-'; archive "../../etc" is not a sha256 digest`
	if platform.ErrorCode(err) != platform.EINVALID || platform.ErrorMessage(err) != want {
		t.Errorf("Build error = %v\nwant EINVALID %s", err, want)
	}

	missing := archiveBuild("m1", strings.Repeat("ab", 32))
	_, _, err = b.Build(context.Background(), missing, &lines{})
	if want := "source archive abababababab is not stored on the server"; platform.ErrorMessage(err) != want {
		t.Errorf("Build of a missing archive: %v, want %q", err, want)
	}
}

func TestStoreArchive(t *testing.T) {
	t.Parallel()
	b := newBuilder(t, func(o *builder.Options) { o.MaxArchiveBytes = 4 << 10 })
	archives := filepath.Join(b.Options().Dir, "archives")

	t.Run("oversized archive is refused and not stored", func(t *testing.T) {
		big := make([]byte, 5<<10)
		rand.Read(big)
		_, err := b.StoreArchive(bytes.NewReader(big))
		if platform.ErrorCode(err) != platform.EINVALID || platform.ErrorMessage(err) != "archive is larger than the 4 KiB limit" {
			t.Errorf("StoreArchive error = %v, want EINVALID \"archive is larger than the 4 KiB limit\"", err)
		}
		if !strings.Contains(platform.ErrorHint(err), ".platformignore") {
			t.Errorf("hint %q does not mention .platformignore", platform.ErrorHint(err))
		}
		assertEmpty(t, archives)
	})
	t.Run("bad archive names the entry and is not stored", func(t *testing.T) {
		_, err := b.StoreArchive(bytes.NewReader(evilArchive(t)))
		if want := `archive entry "../escape.go": path escapes the archive root`; platform.ErrorMessage(err) != want {
			t.Errorf("StoreArchive error = %v, want %q", err, want)
		}
		assertEmpty(t, archives)
	})
	t.Run("same content twice is one archive", func(t *testing.T) {
		src := t.TempDir()
		writeService(t, src, "x")
		d1, d2 := store(t, b, src), store(t, b, src)
		if d1 != d2 || !b.HasArchive(d1) {
			t.Errorf("digests %s, %s; HasArchive %v", d1, d2, b.HasArchive(d1))
		}
		entries, _ := os.ReadDir(archives)
		if len(entries) != 1 || entries[0].Name() != d1+".tar.gz" {
			t.Errorf("archives dir holds %v, want only %s.tar.gz", entries, d1)
		}
	})
	assertEmpty(t, filepath.Join(b.Options().Dir, "work"))
}

// assertEmpty fails unless dir exists and is empty.
func assertEmpty(tb testing.TB, dir string) {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	if len(entries) != 0 {
		names := make([]string, len(entries))
		for i, e := range entries {
			names[i] = e.Name()
		}
		tb.Errorf("%s is not empty: %v", dir, names)
	}
}

func TestBuildHelloworldExample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a go-micro service; skipped under -short")
	}
	t.Parallel()
	dir, err := filepath.Abs("../examples/helloworld")
	if err != nil {
		t.Fatal(err)
	}
	// A cold build downloads and compiles go-micro; bound it below the test timeout.
	b := newBuilder(t, func(o *builder.Options) { o.BuildTimeout = 5 * time.Minute })
	var log lines
	bd := archiveBuild("hw1", store(t, b, dir))
	art, _, err := b.Build(context.Background(), bd, &log)
	if err != nil {
		t.Fatalf("Build: %v\nlog:\n%s", err, log.String())
	}
	if info, err := os.Stat(art); err != nil || info.Mode()&0o111 == 0 {
		t.Fatalf("artifact %s: %v %v", art, info, err)
	}
	if got := bd.Docs["Helloworld.Call"]; got.Example != `{"name": "Alice"}` || got.Description == "" {
		t.Errorf("docs of Helloworld.Call = %+v, want its description and example", got)
	}
}

// evilArchive returns a tar.gz whose second entry climbs out of the root.
func evilArchive(tb testing.TB) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range []string{"main.go", "../escape.go"} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write([]byte("x")); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func TestNewOptions(t *testing.T) {
	t.Parallel()
	t.Run("caches relative to Dir", func(t *testing.T) {
		t.Parallel()
		b := newBuilder(t, func(o *builder.Options) { o.GoCache, o.GoModCache = "cache/build", "cache/mod" })
		o := b.Options()
		if want := filepath.Join(o.Dir, "cache", "build"); o.GoCache != want || !isDir(want) {
			t.Errorf("GoCache = %q, want existing %q", o.GoCache, want)
		}
		if want := filepath.Join(o.Dir, "cache", "mod"); o.GoModCache != want || !isDir(want) {
			t.Errorf("GoModCache = %q, want existing %q", o.GoModCache, want)
		}
		if o.MaxArchiveBytes != builder.DefaultMaxArchiveBytes || o.BuildTimeout != builder.DefaultBuildTimeout {
			t.Errorf("defaults not applied: %+v", o)
		}
	})
	t.Run("go not in the PATH of Env", func(t *testing.T) {
		t.Parallel()
		_, err := builder.New(builder.Options{Dir: t.TempDir(), Env: []string{"PATH=" + t.TempDir()}})
		if err == nil || !strings.Contains(err.Error(), `"go" not found in the PATH of Options.Env`) {
			t.Errorf("New error = %v, want go not found", err)
		}
	})
	t.Run("Dir is required", func(t *testing.T) {
		t.Parallel()
		_, err := builder.New(builder.Options{})
		if platform.ErrorCode(err) != platform.EINVALID {
			t.Errorf("New error = %v, want EINVALID", err)
		}
	})
}

func isDir(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.IsDir()
}

// TestArchivePathAndRemoveBuild: one archive of a repository builds each service from its
// own path (reused per path, not across them); RemoveBuild removes a build's artifact and
// leaves the one a later build reused from it.
func TestArchivePathAndRemoveBuild(t *testing.T) {
	t.Parallel()
	b := newBuilder(t)
	repo := t.TempDir()
	writeService(t, filepath.Join(repo, "svc", "one"), "one")
	writeService(t, filepath.Join(repo, "svc", "two"), "two")
	digest := store(t, b, repo)
	at := func(id, path string) *platform.Build {
		bd := archiveBuild(id, digest)
		bd.Source.Path = path
		return bd
	}
	var log lines
	one, _, err := b.Build(context.Background(), at("p1", "svc/one"), &log)
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, log.String())
	}
	two, _, err := b.Build(context.Background(), at("p2", "svc/two"), &log)
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, log.String())
	}
	if run(t, one) != "one" || run(t, two) != "two" {
		t.Fatalf("the services of one archive built the same binary")
	}
	if _, _, err := b.Build(context.Background(), at("p3", "../etc"), &log); platform.ErrorCode(err) != platform.EINVALID {
		t.Errorf("a path leaving the archive: %v", err)
	}
	again, _, err := b.Build(context.Background(), at("p4", "svc/one"), &log)
	if err != nil || run(t, again) != "one" {
		t.Fatalf("rebuild of svc/one: %v", err)
	}
	if err := b.RemoveBuild(context.Background(), &platform.Build{ID: "p1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(one)); !os.IsNotExist(err) {
		t.Errorf("the removed build's artifact is still there: %v", err)
	}
	if run(t, again) != "one" {
		t.Error("the build that reused the removed one lost its artifact")
	}
	if err := b.RemoveBuild(context.Background(), &platform.Build{ID: "../x"}); platform.ErrorCode(err) != platform.EINVALID {
		t.Errorf("RemoveBuild of a path: %v", err)
	}
}
