package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/internal/testenv"
)

// writeDevTree writes files (slash-separated paths → content) under a new temp dir.
func writeDevTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const devMain = "package main\n\nfunc main() {}\n"

func TestDevIgnored(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rel   string
		dir   bool
		want  bool
		about string
	}{
		{"main.go", false, false, "source"},
		{"handler/handler.go", false, false, "source below"},
		{"go.mod", false, false, "module"},
		{"static/index.html", false, false, "embedded asset"},
		{".git/index", false, true, "version control"},
		{".git", true, true, "version control dir"},
		{".main.go.swp", false, true, "vim swap"},
		{".#main.go", false, true, "emacs lock"},
		{"main.go~", false, true, "backup"},
		{"#main.go#", false, true, "emacs autosave"},
		{"4913", false, true, "vim's write test"},
		{"main.go___jb_tmp___", false, true, "JetBrains safe write"},
		{"x.tmp", false, true, "temp file"},
		{"bin/helloworld", false, true, "build output dir"},
		{"bin", true, true, "build output dir itself"},
		{"helloworld.test", false, true, "test binary"},
		{"node_modules/a/b.js", false, true, "tool dependencies"},
		{".idea/workspace.xml", false, true, "hidden dir"},
		{"bin.go", false, false, "a file named like an ignored dir's prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.about, func(t *testing.T) {
			if got := devIgnored(tt.rel, tt.dir); got != tt.want {
				t.Errorf("devIgnored(%q, dir=%v) = %v, want %v", tt.rel, tt.dir, got, tt.want)
			}
		})
	}
}

// nextBatch waits for the watcher's next batch.
func nextBatch(t *testing.T, w *devWatcher) devBatch {
	t.Helper()
	select {
	case b := <-w.batches:
		return b
	case <-time.After(5 * time.Second):
		t.Fatal("no batch within 5s")
		return devBatch{}
	}
}

// noBatch checks that the watcher sends nothing for a while.
func noBatch(t *testing.T, w *devWatcher, d time.Duration) {
	t.Helper()
	select {
	case b := <-w.batches:
		t.Fatalf("unexpected batch %q", b.paths)
	case <-time.After(d):
	}
}

func TestDevWatcher(t *testing.T) {
	t.Parallel()
	dir := writeDevTree(t, map[string]string{"main.go": devMain, "handler/h.go": "package handler\n", ".git/HEAD": "ref"})
	w, err := newDevWatcher(dir, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("a burst is one batch", func(t *testing.T) {
		start := time.Now()
		for i := range 5 {
			write("main.go", devMain+strings.Repeat("//\n", i))
			write("handler/h.go", "package handler\n"+strings.Repeat("//\n", i))
			time.Sleep(10 * time.Millisecond)
		}
		b := nextBatch(t, w)
		if !slices.Equal(b.paths, []string{"handler/h.go", "main.go"}) {
			t.Errorf("batch = %q, want handler/h.go and main.go", b.paths)
		}
		if b.at.Before(start) || time.Since(b.at) < 50*time.Millisecond {
			t.Errorf("batch at %v: want the first change's time, before the debounce", b.at)
		}
		noBatch(t, w, 150*time.Millisecond)
	})
	t.Run("ignored files send nothing", func(t *testing.T) {
		write(".git/HEAD", "ref2")
		write(".main.go.swp", "x")
		write("main.go~", "x")
		write("4913", "")
		write("bin/svc", "ELF")
		noBatch(t, w, 250*time.Millisecond)
	})
	t.Run("a new directory is watched", func(t *testing.T) {
		write("store/store.go", "package store\n")
		b := nextBatch(t, w)
		if !slices.Contains(b.paths, "store/store.go") {
			t.Fatalf("batch = %q, want store/store.go", b.paths)
		}
		write("store/store.go", "package store\n\n// changed\n")
		if b := nextBatch(t, w); !slices.Equal(b.paths, []string{"store/store.go"}) {
			t.Errorf("batch = %q, want store/store.go", b.paths)
		}
	})
	t.Run("a rename into place (atomic save) counts", func(t *testing.T) {
		write("main.go.new", devMain+"// renamed\n")
		nextBatch(t, w) // the temp file itself
		if err := os.Rename(filepath.Join(dir, "main.go.new"), filepath.Join(dir, "main.go")); err != nil {
			t.Fatal(err)
		}
		if b := nextBatch(t, w); !slices.Contains(b.paths, "main.go") {
			t.Errorf("batch = %q, want main.go", b.paths)
		}
	})
}

func TestDevProject(t *testing.T) {
	t.Parallel()
	t.Run("single service", func(t *testing.T) {
		dir := writeDevTree(t, map[string]string{"hello/main.go": devMain})
		p, err := loadDevProject(filepath.Join(dir, "hello"), "")
		if err != nil {
			t.Fatal(err)
		}
		if len(p.services) != 1 || p.services[0] != (devService{Name: "hello"}) {
			t.Fatalf("services = %+v, want hello at the root", p.services)
		}
		if got := p.affected([]string{"README.md"}); len(got) != 1 {
			t.Errorf("affected = %+v, want hello for any change", got)
		}
	})
	t.Run("micro.mu project", func(t *testing.T) {
		dir := writeDevTree(t, map[string]string{
			"micro.mu":        "service users\n    path ./users\n\nservice web\n    path ./web\n    depends users\n\nenv development\n    STORE mem://\n",
			"users/main.go":   devMain,
			"web/main.go":     devMain,
			"shared/lib.go":   "package shared\n",
			"docs/index.md":   "docs",
			"go.mod":          "module shop\n",
			"web/static/a.js": "",
		})
		p, err := loadDevProject(dir, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(p.services) != 2 || p.services[0].Name != "users" || p.services[1] != (devService{Name: "web", Path: "web"}) {
			t.Fatalf("services = %+v, want users then web", p.services)
		}
		if p.env["STORE"] != "mem://" {
			t.Errorf("env = %v, want the development block", p.env)
		}
		names := func(s []devService) []string {
			var out []string
			for _, x := range s {
				out = append(out, x.Name)
			}
			return out
		}
		for _, tt := range []struct {
			changed []string
			want    []string
		}{
			{[]string{"web/main.go"}, []string{"web"}},
			{[]string{"web/static/a.js"}, []string{"web"}},
			{[]string{"users/main.go", "web/main.go"}, []string{"users", "web"}},
			{[]string{"shared/lib.go"}, []string{"users", "web"}},
			{[]string{"go.mod"}, []string{"users", "web"}},
			{[]string{"micro.mu"}, []string{"users", "web"}},
			{[]string{"docs/index.md"}, nil},
		} {
			if got := names(p.affected(tt.changed)); !slices.Equal(got, tt.want) {
				t.Errorf("affected(%q) = %q, want %q", tt.changed, got, tt.want)
			}
		}
	})
}

// TestDevProjectImports: once `go list` has read what each service of a micro.mu
// project builds from, a change to shared code redeploys only the services that import
// it, and a change to code no service imports none.
func TestDevProjectImports(t *testing.T) {
	t.Parallel()
	dir := writeDevTree(t, map[string]string{
		"micro.mu":             "service users\n    path ./users\n\nservice web\n    path ./web\n",
		"go.mod":               "module shop\n\ngo 1.22\n",
		"users/main.go":        "package main\n\nimport \"shop/shared\"\n\nfunc main() { shared.Hello() }\n",
		"web/main.go":          "package main\n\nimport \"shop/users/model\"\n\nfunc main() { _ = model.User{} }\n",
		"users/model/model.go": "package model\n\ntype User struct{}\n",
		"shared/lib.go":        "package shared\n\nfunc Hello() {}\n",
		"tools/gen.go":         "package tools\n",
		"users/README.md":      "users",
	})
	p, err := loadDevProject(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	p.readImports(t.Context())
	deadline := time.Now().Add(time.Minute)
	for p.imports.get() == nil {
		if time.Now().After(deadline) {
			t.Fatal("go list gave no imports within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, tt := range []struct {
		changed []string
		want    []string
	}{
		{[]string{"shared/lib.go"}, []string{"users"}},
		{[]string{"users/model/model.go"}, []string{"users", "web"}},
		{[]string{"users/README.md"}, []string{"users"}},
		{[]string{"web/main.go"}, []string{"web"}},
		{[]string{"tools/gen.go"}, nil},
		{[]string{"go.mod"}, []string{"users", "web"}},
	} {
		var got []string
		for _, s := range p.affected(tt.changed) {
			got = append(got, s.Name)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("affected(%q) = %q, want %q", tt.changed, got, tt.want)
		}
	}
}

// devFake is an API with a dev namespace (acme-dev) and an ordinary one (acme) that
// answers deploys with numbered releases and ends each as script says.
type devFake struct {
	*httptest.Server
	// script returns the events that end a deploy of the archive with content body: a
	// build failure when it holds "BROKEN", else a rollout.
	mu       sync.Mutex
	deploys  []platform.DeployRequest
	uploads  int
	archives map[string][]byte
	nextID   int64
	events   chan *platform.Event
}

func newDevFake(t *testing.T) *devFake {
	f := &devFake{archives: map[string][]byte{}, events: make(chan *platform.Event, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/namespaces", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"namespaces": []platform.Namespace{{Name: "acme", CreatedAt: t0}, {Name: "acme-dev", Dev: true, CreatedAt: t0}}})
	})
	mux.HandleFunc("POST /v1/namespaces", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Name string `json:"name"`
			Dev  bool   `json:"dev"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		writeJSON(w, 201, platform.Namespace{Name: body.Name, Dev: body.Dev, CreatedAt: t0})
	})
	mux.HandleFunc("GET /v1/namespaces/{ns}/events", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("follow") != "true" {
			writeJSON(w, 200, map[string]any{"events": []*platform.Event{{ID: 1, Namespace: "acme-dev", Type: "namespace.created", Time: t0}}})
			return
		}
		st := startSSE(w)
		for {
			select {
			case e := <-f.events:
				st.send("event", strconv.FormatInt(e.ID, 10), e)
			case <-r.Context().Done():
				return
			}
		}
	})
	mux.HandleFunc("POST /v1/namespaces/{ns}/sources", func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(r.Body)
		sum := sha256.Sum256(buf.Bytes())
		d := hex.EncodeToString(sum[:])
		f.mu.Lock()
		f.uploads++
		f.archives[d] = buf.Bytes()
		f.mu.Unlock()
		writeJSON(w, 201, map[string]string{"archive": d})
	})
	mux.HandleFunc("POST /v1/namespaces/{ns}/deploys", func(w http.ResponseWriter, r *http.Request) {
		var req platform.DeployRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		f.deploys = append(f.deploys, req)
		n := len(f.deploys)
		f.mu.Unlock()
		rel := &platform.Release{ID: fmt.Sprintf("r-%d", n), BuildID: fmt.Sprintf("b-%d", n), Namespace: r.PathValue("ns"), Service: req.Service,
			Version: fmt.Sprintf("v%d", n), Status: platform.ReleasePending}
		writeJSON(w, 202, rel)
		go f.finish(rel, req)
	})
	mux.HandleFunc("GET /v1/namespaces/{ns}/services/{svc}/logs", func(w http.ResponseWriter, r *http.Request) {
		st := startSSE(w)
		st.send("log", "", platform.LogEntry{Time: time.Now().Add(time.Hour), Service: r.PathValue("svc"), InstanceID: "r-1-aabbccdd0011", Stream: platform.Stdout, Line: "listening on nats"})
		<-r.Context().Done()
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

// finish ends rel after a moment: a build failure when the deployed archive was packed
// from a tree with "BROKEN" in it, else a rollout.
func (f *devFake) finish(rel *platform.Release, req platform.DeployRequest) {
	time.Sleep(20 * time.Millisecond)
	f.mu.Lock()
	f.nextID++
	id := f.nextID + 10
	broken := bytes.Contains(gunzip(f.archives[req.Source.Archive]), []byte("BROKEN"))
	f.mu.Unlock()
	data := map[string]string{"release": rel.ID, "build": rel.BuildID, "version": rel.Version}
	e := &platform.Event{ID: id, Namespace: rel.Namespace, Service: rel.Service, Type: platform.EventReleaseRolledOut, Data: data, Time: t0,
		Message: rel.Service + " " + rel.Version + " is live"}
	if broken {
		e.Type, e.Message = platform.EventBuildFailed, fmt.Sprintf("build of %s %s failed: compile failed:\n./main.go:3:1: syntax error: non-declaration statement outside function body", rel.Service, rel.Version)
	}
	f.events <- e
}

func (f *devFake) deployed() []platform.DeployRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.deploys)
}

// startDev runs `platform dev` against f in the background; stop cancels it as Ctrl-C
// does and returns its exit status.
func startDev(t *testing.T, f *devFake, args ...string) (out *testenv.Buffer, waitFor func(string), stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = &testenv.Buffer{}
	var errb bytes.Buffer
	done := make(chan int, 1)
	env := []string{"HOME=" + t.TempDir(), "TZ=UTC", "PLATFORM_SERVER=" + f.URL, "PLATFORM_TOKEN=" + adminSecret}
	go func() { done <- Run(ctx, append([]string{"dev"}, args...), strings.NewReader(""), out, &errb, env) }()
	t.Cleanup(cancel)
	waitFor = func(want string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for !strings.Contains(out.String(), want) {
			select {
			case code := <-done:
				t.Fatalf("exited %d before printing %q:\n%s%s", code, want, out.String(), errb.String())
			case <-deadline:
				t.Fatalf("no %q after 10s:\n%s", want, out.String())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	stop = func() int {
		cancel()
		code := <-done
		if errb.Len() > 0 {
			t.Errorf("stderr: %s", errb.String())
		}
		return code
	}
	return out, waitFor, stop
}

func TestDev(t *testing.T) {
	t.Parallel()
	f := newDevFake(t)
	dir := writeDevTree(t, map[string]string{"hello/main.go": devMain, "hello/go.mod": "module hello\n"})
	svc := filepath.Join(dir, "hello")
	out, waitFor, stop := startDev(t, f, svc, "-n", "acme-dev", "--debounce", "20ms")

	waitFor("hello │ hello v1 live in ")
	waitFor("hello │ listening on nats")
	if err := os.WriteFile(filepath.Join(svc, "main.go"), []byte(devMain+"// v2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("hello │ hello v2 live in ")
	if err := os.WriteFile(filepath.Join(svc, "main.go"), []byte(devMain+"BROKEN\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("hello │ hello v3 build failed (v2 keeps serving):\nhello │   compile failed:\nhello │   ./main.go:3:1: syntax error")
	if code := stop(); code != 0 {
		t.Errorf("exit %d after Ctrl-C, want 0:\n%s", code, out.String())
	}
	if !strings.HasSuffix(out.String(), "Stopped watching "+svc+". hello v2 keeps running in acme-dev.\n") {
		t.Errorf("last line: want what keeps running:\n%s", out.String())
	}
	deploys := f.deployed()
	if len(deploys) != 3 {
		t.Fatalf("%d deploys, want 3: %+v", len(deploys), deploys)
	}
	for _, d := range deploys {
		if !d.Dev || d.Service != "hello" || d.Namespace != "acme-dev" || d.Source.Kind != platform.SourceArchive || d.Source.Path != "" {
			t.Errorf("deploy %+v: want a dev deploy of hello's archive", d)
		}
	}
}

func TestDevRefuses(t *testing.T) {
	t.Parallel()
	f := newDevFake(t)
	dir := writeDevTree(t, map[string]string{"hello/main.go": devMain, "lib/lib.go": "package lib\n"})
	env := []string{"PLATFORM_SERVER=" + f.URL, "PLATFORM_TOKEN=" + adminSecret}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no such directory", []string{"dev", filepath.Join(dir, "nope"), "-n", "acme-dev"}, ExitUsage, "is not a directory"},
		{"no main package", []string{"dev", filepath.Join(dir, "lib"), "-n", "acme-dev"}, ExitUsage, "has no main package"},
		{"unknown namespace", []string{"dev", filepath.Join(dir, "hello"), "-n", "nope"}, ExitError, `namespace "nope" not found`},
		{"not a dev namespace", []string{"dev", filepath.Join(dir, "hello"), "-n", "acme"}, ExitError, "namespace acme is not a dev namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, env, "", tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tt.code, tt.want)
			}
		})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.uploads != 0 || len(f.deploys) != 0 {
		t.Errorf("%d uploads and %d deploys after refusals, want none", f.uploads, len(f.deploys))
	}
}

// gunzip returns the uncompressed bytes of a gzip stream (nil if it is not one).
func gunzip(b []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil
	}
	out, _ := io.ReadAll(zr)
	return out
}

func TestNamespacesCreateDev(t *testing.T) {
	t.Parallel()
	f := newDevFake(t)
	env := []string{"PLATFORM_SERVER=" + f.URL, "PLATFORM_TOKEN=" + adminSecret}
	if r := runCLI(t, env, "", "namespaces", "create", "acme-dev", "--dev"); r.code != 0 || r.stdout != "Created dev namespace acme-dev.\n" {
		t.Errorf("create --dev: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, env, "", "namespaces", "create", "beta"); r.code != 0 || r.stdout != "Created namespace beta.\n" {
		t.Errorf("create: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	r := runCLI(t, env, "", "namespaces")
	if r.code != 0 || !strings.Contains(r.stdout, "acme-dev (dev)") || strings.Contains(r.stdout, "acme (dev)") {
		t.Errorf("namespaces: exit %d:\n%s", r.code, r.stdout)
	}
}
