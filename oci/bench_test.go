package oci_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/archive"
	"github.com/micro/platform/builder"
)

// BenchmarkImage measures a rebuild of examples/helloworld (go-micro, a realistic
// service binary) through the real builder and the image builder, pushing to the
// platform's registry over loopback HTTP with warm Go caches. Reported per build:
// image-ms (packing, registry checks and push, without the compile), upload-bytes and
// manifest-puts counted by the registry, and new-layers (layer blobs committed).
//
//	unchanged        same source, same release version: the binary and image are reused
//	new-version      same source deployed as a new version: config and manifest only
//	one-line-change  a changed line: compile, pack and push one new layer
func BenchmarkImage(b *testing.B) {
	if testing.Short() {
		b.Skip("compiles examples/helloworld")
	}
	for _, mode := range []string{"unchanged", "new-version", "one-line-change"} {
		b.Run(mode, func(b *testing.B) {
			src := b.TempDir()
			copyDir(b, filepath.Join("..", "examples", "helloworld"), src)
			opts := builder.DefaultOptions()
			opts.Dir = b.TempDir()
			inner, err := builder.New(opts)
			if err != nil {
				b.Fatal(err)
			}
			timed := &timedBuilder{inner: inner}
			host, c := registryServer(b)
			img := newBuilder(b, timed, host)
			build := func(id, version, digest string) string {
				bd := &platform.Build{ID: id, Namespace: "acme", Service: "helloworld", Version: version,
					Source: platform.Source{Kind: platform.SourceArchive, Archive: digest}}
				log := &buildLog{}
				artifact, _, err := img.Build(context.Background(), bd, log)
				if err != nil {
					b.Fatalf("build %s: %v\n%s", version, err, log)
				}
				return artifact
			}
			digest := storeSource(b, inner, src)
			build("b-first", "v0", digest) // first deploy: compile and push everything
			c.reset()
			timed.reset()
			var imageTime time.Duration
			for i := 0; b.Loop(); i++ {
				version := "v0"
				switch mode {
				case "new-version":
					version = fmt.Sprintf("v%d", i+1)
				case "one-line-change":
					version = fmt.Sprintf("v%d", i+1)
					b.StopTimer()
					editLine(b, filepath.Join(src, "main.go"), fmt.Sprintf("change %d", i))
					digest = storeSource(b, inner, src)
					b.StartTimer()
				}
				start := time.Now()
				build(fmt.Sprintf("b%d", i), version, digest)
				imageTime += time.Since(start) - timed.last()
			}
			got := c.snapshot()
			n := float64(b.N)
			b.ReportMetric(float64(imageTime.Milliseconds())/n, "image-ms/op")
			b.ReportMetric(float64(got.uploadBytes)/n, "upload-bytes/op")
			b.ReportMetric(float64(got.manifestPuts)/n, "manifest-puts/op")
			// Every manifest pushed comes with its own config blob; the other blobs are layers.
			b.ReportMetric(float64(len(got.blobsCommited)-got.manifestPuts)/n, "new-layers/op")
		})
	}
}

// timedBuilder records how long the inner build of the last call took.
type timedBuilder struct {
	inner platform.Builder
	mu    sync.Mutex
	d     time.Duration
}

func (t *timedBuilder) Build(ctx context.Context, b *platform.Build, log platform.LogWriter) (string, string, error) {
	start := time.Now()
	a, c, err := t.inner.Build(ctx, b, log)
	t.mu.Lock()
	t.d = time.Since(start)
	t.mu.Unlock()
	return a, c, err
}

func (t *timedBuilder) last() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.d
}

func (t *timedBuilder) reset() {
	t.mu.Lock()
	t.d = 0
	t.mu.Unlock()
}

func storeSource(tb testing.TB, b *builder.Builder, dir string) string {
	tb.Helper()
	var buf bytes.Buffer
	if err := archive.Pack(dir, &buf); err != nil {
		tb.Fatal(err)
	}
	d, err := b.StoreArchive(&buf)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// editLine changes the service's log format string: a one-line change of the source.
func editLine(tb testing.TB, file, marker string) {
	tb.Helper()
	data, err := os.ReadFile(file)
	must(tb, err)
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if strings.Contains(l, `log.Printf("Helloworld.Call`) {
			lines[i] = fmt.Sprintf("\tlog.Printf(\"Helloworld.Call (%s) name=%%q\", req.Name)", marker)
			must(tb, os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o644))
			return
		}
	}
	tb.Fatalf("no line to change in %s", file)
}

func copyDir(tb testing.TB, from, to string) {
	tb.Helper()
	entries, err := os.ReadDir(from)
	must(tb, err)
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		must(tb, err)
		must(tb, os.WriteFile(filepath.Join(to, e.Name()), data, 0o644))
	}
}
