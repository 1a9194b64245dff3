package oci_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	platform "github.com/micro/platform"
	"github.com/micro/platform/oci"
	"github.com/micro/platform/oci/registry"
)

var (
	testSecret   = []byte("test-secret-0123456789")
	testPassword = registry.PushCredential(testSecret).Password
	pushCred     = &authn.Basic{Username: registry.PushUsername, Password: testPassword}
)

// binDir holds the test programs, built once per test binary.
var (
	binDir  string
	binMu   sync.Mutex
	binPath = map[string]string{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "oci-test-bins-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// helloSource is a tiny real service: it prints its greeting, its working directory
// and its uid, so a test can see how the image runs it.
const helloSource = `package main

import (
	"fmt"
	"os"
)

func main() {
	wd, _ := os.Getwd()
	fmt.Printf("%s wd=%s uid=%d args=%v\n", greeting, wd, os.Getuid(), os.Args[1:])
}

const greeting = GREETING
`

// mustHello returns a static binary of helloSource printing greeting, built with the
// builder's flags (CGO_ENABLED=0, -trimpath). Two greetings are a one-line change.
func mustHello(tb testing.TB, greeting string) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("builds a Go program")
	}
	binMu.Lock()
	defer binMu.Unlock()
	if p, ok := binPath[greeting]; ok {
		return p
	}
	src := filepath.Join(binDir, fmt.Sprintf("src%d", len(binPath)))
	must(tb, os.MkdirAll(src, 0o755))
	must(tb, os.WriteFile(filepath.Join(src, "go.mod"), []byte("module example.com/hello\n\ngo 1.22\n"), 0o644))
	must(tb, os.WriteFile(filepath.Join(src, "main.go"), []byte(strings.Replace(helloSource, "GREETING", strconv.Quote(greeting), 1)), 0o644))
	out := filepath.Join(src, "hello")
	goBuild(tb, src, out)
	binPath[greeting] = out
	return out
}

// goBuild compiles the main package in src to out as the builder does.
func goBuild(tb testing.TB, src, out string) {
	tb.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod")
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, b)
	}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// fileBuilder is an inner builder whose "build" is a file already there.
type fileBuilder struct {
	path   string
	commit string
	err    error
}

func (f *fileBuilder) Build(_ context.Context, b *platform.Build, log platform.LogWriter) (string, string, error) {
	if f.err != nil {
		return "", "", f.err
	}
	log.WriteLine("compiled " + b.Service)
	return f.path, f.commit, nil
}

// buildLog collects a build's log lines.
type buildLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *buildLog) WriteLine(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
}

func (l *buildLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// tally is what the registry received, counted on the server side.
type tally struct {
	uploadStarts  int            // POST …/blobs/uploads/
	uploadBytes   int64          // bodies of PATCH and PUT to …/blobs/uploads/
	blobsCommited map[string]int // digest of each PUT …/blobs/uploads/…?digest=
	manifestPuts  int
}

// counts keeps a tally for a registry server.
type counts struct {
	mu sync.Mutex
	tally
}

func (c *counts) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tally = tally{blobsCommited: map[string]int{}}
}

func (c *counts) snapshot() tally {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := c.tally
	cp.blobsCommited = map[string]int{}
	for k, v := range c.blobsCommited {
		cp.blobsCommited[k] = v
	}
	return cp
}

func (c *counts) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		isUpload := strings.Contains(p, "/blobs/uploads/")
		c.mu.Lock()
		switch {
		case isUpload && r.Method == http.MethodPost:
			c.uploadStarts++
		case isUpload && r.Method == http.MethodPut && r.URL.Query().Get("digest") != "":
			c.blobsCommited[r.URL.Query().Get("digest")]++
		case strings.Contains(p, "/manifests/") && r.Method == http.MethodPut:
			c.manifestPuts++
		}
		c.mu.Unlock()
		if isUpload && r.Body != nil {
			r.Body = &countedBody{ReadCloser: r.Body, c: c}
		}
		next.ServeHTTP(w, r)
	})
}

type countedBody struct {
	io.ReadCloser
	c *counts
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.c.mu.Lock()
	b.c.uploadBytes += int64(n)
	b.c.mu.Unlock()
	return n, err
}

// registryServer serves a fresh platform registry over real HTTP on 127.0.0.1, counting
// requests, and returns its host:port.
func registryServer(tb testing.TB) (string, *counts) {
	tb.Helper()
	reg, err := registry.New(registry.Options{Dir: tb.TempDir(), Secret: testSecret})
	if err != nil {
		tb.Fatal(err)
	}
	c := &counts{}
	c.reset()
	srv := httptest.NewServer(c.middleware(reg))
	tb.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), c
}

// newBuilder returns an image builder pushing to host with the push credential.
func newBuilder(tb testing.TB, inner platform.Builder, host string) *oci.Builder {
	tb.Helper()
	b, err := oci.New(inner, oci.Options{Registry: host, Auth: pushCred, Dir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func testBuild(version string) *platform.Build {
	return &platform.Build{
		ID: "b-" + version, Namespace: "acme", Service: "hello", Version: version,
		Source: platform.Source{Kind: platform.SourceGit, URL: "https://user:s3cret@git.example.com/acme/hello.git?x=1", Ref: "main"},
	}
}

// startRegistry runs a registry with its own Start on dir at addr until the returned
// stop is called (or the test ends), and returns its host:port.
func startRegistry(tb testing.TB, dir, addr string) (string, func()) {
	tb.Helper()
	reg, err := registry.New(registry.Options{Dir: dir, Addr: addr, Secret: testSecret})
	if err != nil {
		tb.Fatal(err)
	}
	a, err := reg.Listen()
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- reg.Start(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("registry Start: %v", err)
			}
		})
	}
	tb.Cleanup(stop)
	return a.String(), stop
}
