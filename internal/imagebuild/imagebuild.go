// Package imagebuild makes the platform's own image (the control plane and the mesh both
// run it) without Docker and without pulling a base image: go-containerregistry writes it
// from files of the machine that builds it.
//
// # The image
//
//	layer 1   the Go toolchain (Options.GoRoot, shipped as /usr/local/go without its
//	          tests: test/, testdata/ and *_test.go are skipped), the CA certificates
//	          (/etc/ssl/certs/ca-certificates.crt), /etc/passwd and /etc/group with the
//	          user 65532 (nonroot), /tmp (1777)
//	layer 2   the static platform binary, /usr/local/bin/platform
//	config    entrypoint ["/usr/local/bin/platform"], user 65532:65532,
//	          PATH=/usr/local/bin:/usr/local/go/bin:/usr/bin:/bin, os linux, architecture
//	          of the building machine, created 1970-01-01, label
//	          org.opencontainers.image.revision when Options.Revision is set
//
// The toolchain is there because the control plane compiles services with `go build`
// (package builder); the mesh needs only the binary. The toolchain layer comes first, so
// a new binary on the same toolchain changes only the second layer. Every entry has the
// mtime 1970-01-01 and owner root, so the same inputs give the same digest.
//
// [WriteTarball] writes a tarball for `ctr -n k8s.io images import` (or `docker load`);
// [Push] sends the image to a registry with the credentials of ~/.docker/config.json.
// deploy/kubernetes/build-image runs both.
package imagebuild

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Paths and identity inside the image.
const (
	BinaryPath = "/usr/local/bin/platform"
	GoRootPath = "/usr/local/go"
	CACertPath = "/etc/ssl/certs/ca-certificates.crt"
	User       = "65532:65532"
	Path       = "/usr/local/bin:/usr/local/go/bin:/usr/bin:/bin"
)

// Options says what goes into the image.
type Options struct {
	// Binary is the static platform binary (CGO_ENABLED=0). Required.
	Binary string
	// GoRoot is the Go toolchain to ship (`go env GOROOT`); empty ships none, an image
	// fit only for `platform mesh`.
	GoRoot string
	// CACerts is the CA bundle to ship; empty ships none.
	CACerts string
	// Dir holds the layers while the image is used (they are files, not memory).
	// Required; the caller removes it.
	Dir string
	// Revision is the source's commit, for the org.opencontainers.image.revision label.
	Revision string
	// Arch is the image's architecture; empty is the building machine's.
	Arch string
}

// Build makes the image from opts. The layers are written under opts.Dir.
func Build(opts Options) (v1.Image, error) {
	if opts.Binary == "" || opts.Dir == "" {
		return nil, errors.New("imagebuild: Binary and Dir are required")
	}
	base, err := writeLayer(filepath.Join(opts.Dir, "base.tar.gz"), func(tw *tarWriter) error { return baseEntries(tw, opts) })
	if err != nil {
		return nil, fmt.Errorf("base layer: %w", err)
	}
	bin, err := writeLayer(filepath.Join(opts.Dir, "binary.tar.gz"), func(tw *tarWriter) error {
		if err := tw.dirs("usr/local/bin/"); err != nil {
			return err
		}
		return tw.file(strings.TrimPrefix(BinaryPath, "/"), opts.Binary, 0o755)
	})
	if err != nil {
		return nil, fmt.Errorf("binary layer: %w", err)
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), base, bin)
	if err != nil {
		return nil, err
	}
	arch := opts.Arch
	if arch == "" {
		arch = runtime.GOARCH
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config = v1.Config{
		Entrypoint: []string{BinaryPath},
		User:       User,
		Env:        []string{"PATH=" + Path},
		WorkingDir: "/",
		Labels:     map[string]string{"org.opencontainers.image.source": "https://github.com/micro/platform"},
	}
	if opts.Revision != "" {
		cf.Config.Labels["org.opencontainers.image.revision"] = opts.Revision
	}
	return mutate.ConfigFile(img, cf)
}

// WriteTarball writes img tagged ref to the file p, as `ctr images import` reads it.
func WriteTarball(p, ref string, img v1.Image) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("image reference: %w", err)
	}
	return tarball.WriteToFile(p, tag, img)
}

// Push sends img to ref's registry with the credentials of the default keychain
// (~/.docker/config.json). A registry on loopback or a private address is spoken to over
// plain HTTP, as go-containerregistry does by default.
func Push(ctx context.Context, ref string, img v1.Image) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("image reference: %w", err)
	}
	return remote.Write(tag, img, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))
}

// baseEntries writes layer 1.
func baseEntries(tw *tarWriter, opts Options) error {
	passwd := "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group := "root:x:0:\nnonroot:x:65532:\n"
	if err := tw.dirs("etc/"); err != nil {
		return err
	}
	if err := tw.bytes("etc/passwd", []byte(passwd), 0o644); err != nil {
		return err
	}
	if err := tw.bytes("etc/group", []byte(group), 0o644); err != nil {
		return err
	}
	if err := tw.dir("tmp/", 0o1777); err != nil {
		return err
	}
	if opts.CACerts != "" {
		if err := tw.dirs("etc/ssl/", "etc/ssl/certs/"); err != nil {
			return err
		}
		if err := tw.file(strings.TrimPrefix(CACertPath, "/"), opts.CACerts, 0o644); err != nil {
			return err
		}
	}
	if opts.GoRoot == "" {
		return nil
	}
	if err := tw.dirs("usr/", "usr/local/"); err != nil {
		return err
	}
	return copyGoRoot(tw, opts.GoRoot, strings.TrimPrefix(GoRootPath, "/"))
}

// copyGoRoot writes the toolchain at root under dst, without what `go build` never reads:
// tests and their data, the docs and the API files.
func copyGoRoot(tw *tarWriter, root, dst string) error {
	skipTop := map[string]bool{"test": true, "doc": true, "api": true, "misc": true, ".git": true}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		name := path.Join(dst, rel)
		if rel == "." {
			return tw.dir(name+"/", 0o755)
		}
		if d.IsDir() {
			if (!strings.Contains(rel, "/") && skipTop[rel]) || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return tw.dir(name+"/", 0o755)
		}
		if strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return tw.header(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777})
		case info.Mode().IsRegular():
			// Readable by all, executable by all where it was executable at all.
			mode := fs.FileMode(0o644)
			if info.Mode().Perm()&0o111 != 0 {
				mode = 0o755
			}
			return tw.file(name, p, mode)
		}
		return nil
	})
}

// writeLayer writes the gzipped tar fill makes to the file p and returns it as a layer.
func writeLayer(p string, fill func(*tarWriter) error) (v1.Layer, error) {
	f, err := os.Create(p)
	if err != nil {
		return nil, err
	}
	zw, err := gzip.NewWriterLevel(f, gzip.BestSpeed)
	if err != nil {
		f.Close()
		return nil, err
	}
	tw := &tarWriter{w: tar.NewWriter(zw), seen: map[string]bool{}}
	err = fill(tw)
	for _, c := range []io.Closer{tw.w, zw, f} {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return nil, err
	}
	return tarball.LayerFromFile(p, tarball.WithMediaType(types.OCILayer))
}

// tarWriter writes entries owned by root with the mtime 1970-01-01, each path once.
type tarWriter struct {
	w    *tar.Writer
	seen map[string]bool
}

func (t *tarWriter) header(h *tar.Header) error {
	if t.seen[h.Name] {
		return nil
	}
	t.seen[h.Name] = true
	h.ModTime, h.Uid, h.Gid, h.Format = time.Unix(0, 0), 0, 0, tar.FormatPAX
	return t.w.WriteHeader(h)
}

func (t *tarWriter) dir(name string, mode int64) error {
	return t.header(&tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: mode})
}

func (t *tarWriter) dirs(names ...string) error {
	for _, n := range names {
		if err := t.dir(n, 0o755); err != nil {
			return err
		}
	}
	return nil
}

func (t *tarWriter) bytes(name string, data []byte, mode int64) error {
	if err := t.header(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(data))}); err != nil {
		return err
	}
	_, err := t.w.Write(data)
	return err
}

func (t *tarWriter) file(name, src string, mode fs.FileMode) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if err := t.header(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: int64(mode), Size: info.Size()}); err != nil {
		return err
	}
	_, err = io.Copy(t.w, f)
	return err
}
