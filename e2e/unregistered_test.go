package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	platform "github.com/micro/platform"
)

// TestServiceWithoutInitIsExplained deploys a go-micro service that never calls
// service.Init(): it never joins its namespace, and the user is told why.
func TestServiceWithoutInitIsExplained(t *testing.T) {
	skipShort(t)
	t.Parallel()
	s := startServer(t, t.TempDir(), "--rollout-timeout", "12s")
	s.must(t, "namespaces", "create", "acme")

	src := filepath.Join(t.TempDir(), "noinit")
	must(t, os.CopyFS(src, os.DirFS("../examples/helloworld")))
	main, err := os.ReadFile(filepath.Join(src, "main.go"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(src, "main.go"), bytes.Replace(main, []byte("\tservice.Init()\n"), nil, 1), 0o644))

	r := s.platform(t, "deploy", src, "-n", "acme")
	if r.code == 0 {
		t.Fatalf("deploy of a service that never registers succeeded: %s", r)
	}
	if !strings.Contains(r.stdout+r.stderr, "service.Init()") {
		t.Errorf("deploy output does not say why:\n%s", r)
	}
	events := s.must(t, "events", "-n", "acme")
	for _, want := range []string{"instance.unregistered", "release.failed"} {
		if !strings.Contains(events, want) {
			t.Errorf("events lack %s:\n%s", want, events)
		}
	}
}

// TestBadArchiveChangesNothing uploads archives a CLI would never make.
func TestBadArchiveChangesNothing(t *testing.T) {
	skipShort(t)
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.must(t, "namespaces", "create", "acme")
	c := s.client()
	tests := []struct {
		name    string
		entries []tar.Header
		want    string
	}{
		{"path traversal", []tar.Header{{Name: "../../etc/evil", Typeflag: tar.TypeReg, Mode: 0o644}}, "../../etc/evil"},
		{"absolute path", []tar.Header{{Name: "/tmp/evil", Typeflag: tar.TypeReg, Mode: 0o644}}, "/tmp/evil"},
		{"symlink out of the tree", []tar.Header{{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "../../../etc/passwd", Mode: 0o777}}, "link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			gz := gzip.NewWriter(&buf)
			tw := tar.NewWriter(gz)
			for _, h := range tt.entries {
				must(t, tw.WriteHeader(&h))
			}
			tw.Close()
			gz.Close()
			_, err := c.UploadSource(context.Background(), "acme", &buf)
			if platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("upload: %v, want invalid naming %q", err, tt.want)
			}
		})
	}
	t.Run("larger than the limit", func(t *testing.T) {
		big := bytes.Repeat([]byte{0xff}, 65<<20)
		_, err := c.UploadSource(context.Background(), "acme", bytes.NewReader(big))
		if platform.ErrorCode(err) != platform.EINVALID {
			t.Errorf("oversized upload: %v, want invalid", err)
		}
	})
	archives, _ := os.ReadDir(filepath.Join(s.dir, "builds", "archives"))
	if len(archives) != 0 {
		t.Errorf("refused archives were stored: %v", archives)
	}
	if svcs := s.must(t, "services", "-n", "acme"); strings.Count(strings.TrimSpace(svcs), "\n") > 0 {
		t.Errorf("services after refused uploads:\n%s", svcs)
	}
}
