package oci_test

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	platform "github.com/micro/platform"
	"github.com/micro/platform/oci"
)

// TestImage builds and pushes an image of a real static program to the platform's
// registry over HTTP, pulls it back and checks what a cluster would see: the manifest,
// the config and labels, the single layer, and the program running from it the way the
// config says (entrypoint, user, working directory, no environment).
func TestImage(t *testing.T) {
	host, c := registryServer(t)
	bin := mustHello(t, "hello v1")
	b := newBuilder(t, &fileBuilder{path: bin, commit: "0123456789abcdef"}, host)
	log := &buildLog{}
	artifact, commit, err := b.Build(context.Background(), testBuild("v1"), log)
	if err != nil {
		t.Fatalf("Build: %v\nlog:\n%s", err, log)
	}
	if commit != "0123456789abcdef" {
		t.Errorf("commit %q, want the inner builder's", commit)
	}
	if !strings.HasPrefix(artifact, host+"/acme/hello@sha256:") {
		t.Fatalf("artifact %q, want %s/acme/hello@sha256:…", artifact, host)
	}
	ref, err := name.ParseReference(artifact)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref) // anonymous: pulls are open on loopback
	if err != nil {
		t.Fatalf("pull %s: %v", artifact, err)
	}

	t.Run("manifest", func(t *testing.T) {
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
			t.Errorf("media types %s / %s, want OCI manifest and config", m.MediaType, m.Config.MediaType)
		}
		if len(m.Layers) != 1 || m.Layers[0].MediaType != types.OCILayer {
			t.Fatalf("layers %+v, want one %s", m.Layers, types.OCILayer)
		}
		d, _ := img.Digest()
		if artifact != ref.Context().Digest(d.String()).String() {
			t.Errorf("artifact %s does not name the pulled digest %s", artifact, d)
		}
		tagged, err := remote.Head(ref.Context().Tag("v1"))
		if err != nil || tagged.Digest != d {
			t.Errorf("tag v1: %v, %v; want %s", tagged, err, d)
		}
	})

	t.Run("config", func(t *testing.T) {
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH {
			t.Errorf("platform %s/%s, want linux/%s", cfg.OS, cfg.Architecture, runtime.GOARCH)
		}
		if !cfg.Created.Time.Equal(time.Unix(0, 0)) {
			t.Errorf("created %s, want the epoch (reproducible)", cfg.Created)
		}
		got := cfg.Config
		if !reflect.DeepEqual(got.Entrypoint, []string{"/app/hello"}) || got.Cmd != nil {
			t.Errorf("entrypoint %q cmd %q, want [/app/hello] and none", got.Entrypoint, got.Cmd)
		}
		if got.User != "65532:65532" || got.WorkingDir != "/app" || len(got.Env) != 0 {
			t.Errorf("user %q workdir %q env %q, want 65532:65532, /app, none", got.User, got.WorkingDir, got.Env)
		}
		want := map[string]string{
			"org.opencontainers.image.title":    "hello",
			"org.opencontainers.image.version":  "v1",
			"org.opencontainers.image.revision": "0123456789abcdef",
			"org.opencontainers.image.source":   "https://git.example.com/acme/hello.git",
			"dev.micro.platform.namespace":      "acme",
			"dev.micro.platform.service":        "hello",
			"dev.micro.platform.version":        "v1",
			"dev.micro.platform.commit":         "0123456789abcdef",
		}
		if !reflect.DeepEqual(got.Labels, want) {
			t.Errorf("labels\n got %v\nwant %v", got.Labels, want)
		}
		if len(cfg.RootFS.DiffIDs) != 1 {
			t.Errorf("rootfs diff ids %v, want one", cfg.RootFS.DiffIDs)
		}
	})

	t.Run("layer", func(t *testing.T) {
		entries, root := extract(t, img)
		want := []string{"app/ dir 0755 0:0", "app/hello file 0755 0:0"}
		if !reflect.DeepEqual(entries, want) {
			t.Fatalf("layer entries %q, want %q", entries, want)
		}
		if got, want := sha256File(t, filepath.Join(root, "app", "hello")), sha256File(t, bin); got != want {
			t.Fatalf("binary in the image %s differs from the build's %s", got, want)
		}
		cfg, _ := img.ConfigFile()
		out := runAsImage(t, root, cfg.Config)
		if !strings.HasPrefix(out, "hello v1 ") {
			t.Fatalf("the binary in the image printed %q, want the greeting", out)
		}
	})

	t.Run("log", func(t *testing.T) {
		text := log.String()
		t.Logf("build log:\n%s", text)
		for _, want := range []string{"compiled hello", "packed", "pushing: ", "uploaded (", "pushed " + host + "/acme/hello:v1", "image " + artifact} {
			if !strings.Contains(text, want) {
				t.Errorf("build log lacks %q:\n%s", want, text)
			}
		}
		if strings.Contains(text, "s3cret") {
			t.Errorf("build log shows the git credential:\n%s", text)
		}
		got := c.snapshot()
		if len(got.blobsCommited) != 2 || got.manifestPuts != 1 {
			t.Errorf("first push committed %d blobs and %d manifests, want 2 (layer, config) and 1", len(got.blobsCommited), got.manifestPuts)
		}
	})
}

// TestReuse rebuilds with the registry counting on its side: unchanged source uploads
// and pushes nothing; a new version of the same binary uploads only its config and
// manifest; a one-line change uploads exactly one new layer.
func TestReuse(t *testing.T) {
	host, c := registryServer(t)
	inner := &fileBuilder{path: mustHello(t, "hello v1")}
	b := newBuilder(t, inner, host)
	first, _, err := b.Build(context.Background(), testBuild("v1"), &buildLog{})
	if err != nil {
		t.Fatal(err)
	}
	firstLayer := layerDigest(t, first)

	t.Run("unchanged source", func(t *testing.T) {
		c.reset()
		log := &buildLog{}
		again, _, err := b.Build(context.Background(), testBuild("v1"), log)
		if err != nil {
			t.Fatal(err)
		}
		if again != first {
			t.Errorf("rebuild gave %s, want the same %s", again, first)
		}
		got := c.snapshot()
		if got.uploadStarts != 0 || got.uploadBytes != 0 || len(got.blobsCommited) != 0 || got.manifestPuts != 0 {
			t.Errorf("rebuild sent %d uploads (%d bytes), %d blobs, %d manifests; want nothing", got.uploadStarts, got.uploadBytes, len(got.blobsCommited), got.manifestPuts)
		}
		if !strings.Contains(log.String(), "image unchanged, reused: "+first) || !strings.Contains(log.String(), "reused (binary unchanged)") {
			t.Errorf("log does not say the image was reused:\n%s", log)
		}
	})

	t.Run("a fresh builder on the same registry", func(t *testing.T) {
		c.reset()
		other := newBuilder(t, inner, host) // empty layer cache: packs again, same bytes
		again, _, err := other.Build(context.Background(), testBuild("v1"), &buildLog{})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.snapshot(); again != first || got.manifestPuts != 0 || got.uploadBytes != 0 {
			t.Errorf("fresh builder gave %s (want %s), %d manifests, %d bytes; want the same image, nothing sent", again, first, got.manifestPuts, got.uploadBytes)
		}
	})

	t.Run("new version of the same binary", func(t *testing.T) {
		c.reset()
		log := &buildLog{}
		v2, _, err := b.Build(context.Background(), testBuild("v2"), log)
		if err != nil {
			t.Fatal(err)
		}
		if v2 == first || layerDigest(t, v2) != firstLayer {
			t.Errorf("v2 is %s with layer %s; want a new image on the same layer %s", v2, layerDigest(t, v2), firstLayer)
		}
		got := c.snapshot()
		if len(got.blobsCommited) != 1 || got.blobsCommited[firstLayer.String()] != 0 || got.manifestPuts != 1 || got.uploadBytes > 4096 {
			t.Errorf("v2 committed %v (%d bytes), %d manifests; want only the config, under 4 kB, and one manifest", got.blobsCommited, got.uploadBytes, got.manifestPuts)
		}
		if !strings.Contains(log.String(), "already in the registry, not uploaded") {
			t.Errorf("log does not say the layer was reused:\n%s", log)
		}
	})

	t.Run("one-line change", func(t *testing.T) {
		c.reset()
		inner.path = mustHello(t, "hello v3")
		v3, _, err := b.Build(context.Background(), testBuild("v3"), &buildLog{})
		if err != nil {
			t.Fatal(err)
		}
		newLayer := layerDigest(t, v3)
		if newLayer == firstLayer {
			t.Fatal("a changed binary kept the old layer")
		}
		got := c.snapshot()
		if got.blobsCommited[newLayer.String()] != 1 || len(got.blobsCommited) != 2 || got.manifestPuts != 1 {
			t.Errorf("v3 committed %v, %d manifests; want the new layer %s, its config and one manifest", got.blobsCommited, got.manifestPuts, newLayer)
		}
		st, _ := os.Stat(inner.path)
		if got.uploadBytes <= 0 || got.uploadBytes > st.Size() {
			t.Errorf("v3 uploaded %d bytes, want the compressed layer (binary is %d)", got.uploadBytes, st.Size())
		}
	})
}

func TestBuildErrors(t *testing.T) {
	host, _ := registryServer(t)
	hello := mustHello(t, "hello v1")
	script := filepath.Join(t.TempDir(), "script")
	must(t, os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o755))
	dynamic, _ := exec.LookPath("ls") // the system's ls is dynamically linked
	closed := closedAddr(t)

	tests := []struct {
		name     string
		inner    platform.Builder
		registry string
		noAuth   bool
		code     string
		want     string
	}{
		{"inner build failure", &fileBuilder{err: platform.Errorf(platform.EINVALID, "main.go:3: syntax error")}, host, false, platform.EINVALID, "syntax error"},
		{"missing binary", &fileBuilder{path: filepath.Join(t.TempDir(), "nothing")}, host, false, platform.EINTERNAL, "produced no binary"},
		{"not an executable", &fileBuilder{path: script}, host, false, platform.EINVALID, "not a Linux executable"},
		{"dynamically linked", &fileBuilder{path: dynamic}, host, false, platform.EINVALID, "dynamically linked"},
		{"registry unreachable", &fileBuilder{path: hello}, closed, false, platform.EUNAVAILABLE, "unreachable"},
		{"push without credential", &fileBuilder{path: hello}, host, true, platform.EFORBIDDEN, "refused the platform's credential"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "dynamically linked" && !isDynamic(dynamic) {
				t.Skip("no dynamically linked ls on this machine")
			}
			opts := oci.Options{Registry: tt.registry, Auth: pushCred, Dir: t.TempDir()}
			if tt.noAuth {
				opts.Auth = nil
			}
			b, err := oci.New(tt.inner, opts)
			if err != nil {
				t.Fatal(err)
			}
			log := &buildLog{}
			artifact, _, err := b.Build(context.Background(), testBuild("v1"), log)
			if err == nil || platform.ErrorCode(err) != tt.code || !strings.Contains(platform.ErrorMessage(err), tt.want) {
				t.Fatalf("Build = %q, %v; want %s %q", artifact, err, tt.code, tt.want)
			}
			if strings.Contains(err.Error(), testPassword) || strings.Contains(log.String(), testPassword) {
				t.Fatal("the credential leaked into the error or the log")
			}
		})
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	inner := &fileBuilder{}
	tests := []struct {
		name string
		opts oci.Options
		want string
	}{
		{"no registry", oci.Options{Dir: t.TempDir()}, "Registry is required"},
		{"scheme", oci.Options{Registry: "https://ghcr.io/acme", Dir: t.TempDir()}, "not a reference prefix"},
		{"upper case", oci.Options{Registry: "ghcr.io/Acme", Dir: t.TempDir()}, "not a valid reference prefix"},
		{"tag", oci.Options{Registry: "ghcr.io/acme:latest", Dir: t.TempDir()}, "not a valid reference prefix"},
		{"digest", oci.Options{Registry: "ghcr.io/acme@sha256:00", Dir: t.TempDir()}, "not a reference prefix"},
		{"no dir", oci.Options{Registry: "127.0.0.1:5000"}, "Dir is required"},
		{"user name", oci.Options{Registry: "127.0.0.1:5000", Dir: t.TempDir(), User: "nobody"}, "not numeric"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := oci.New(inner, tt.opts)
			if platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(platform.ErrorMessage(err), tt.want) {
				t.Fatalf("New: %v; want invalid %q", err, tt.want)
			}
		})
	}
	for _, ok := range []string{"127.0.0.1:5000", "ghcr.io/acme/platform", "registry.example.com:443/x/"} {
		if _, err := oci.New(inner, oci.Options{Registry: ok, Dir: t.TempDir()}); err != nil {
			t.Errorf("New(%q): %v", ok, err)
		}
	}
}

func TestLabels(t *testing.T) {
	tests := []struct {
		name   string
		build  platform.Build
		commit string
		want   map[string]string
	}{
		{
			"uploaded archive",
			platform.Build{Namespace: "acme", Service: "api", Version: "v7", Source: platform.Source{Kind: platform.SourceArchive, Archive: "ab12"}},
			"",
			map[string]string{oci.LabelTitle: "api", oci.LabelVersion: "v7", oci.LabelPlatformNamespace: "acme", oci.LabelPlatformService: "api", oci.LabelPlatformVersion: "v7", oci.LabelPlatformArchive: "sha256:ab12"},
		},
		{
			"git with credentials in the url",
			platform.Build{Namespace: "acme", Service: "api", Source: platform.Source{Kind: platform.SourceGit, URL: "ssh://git:tok@host:22/r.git#frag"}},
			"c0ffee",
			map[string]string{oci.LabelTitle: "api", oci.LabelPlatformNamespace: "acme", oci.LabelPlatformService: "api", oci.LabelRevision: "c0ffee", oci.LabelPlatformCommit: "c0ffee", oci.LabelSource: "ssh://host:22/r.git"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := oci.Labels(&tt.build, tt.commit); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Labels\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

// extract unpacks the image's single layer into a directory and lists its entries as
// "name type mode uid:gid", checking every time is the epoch.
func extract(t *testing.T, img v1.Image) ([]string, string) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	root := t.TempDir()
	must(t, os.Chmod(root, 0o755))
	var entries []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s has mtime %s, want the epoch", h.Name, h.ModTime)
		}
		kind := map[byte]string{tar.TypeDir: "dir", tar.TypeReg: "file"}[h.Typeflag]
		entries = append(entries, fmt.Sprintf("%s %s %04o %d:%d", h.Name, kind, h.Mode, h.Uid, h.Gid))
		target := filepath.Join(root, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			must(t, os.MkdirAll(target, os.FileMode(h.Mode)))
			must(t, os.Chmod(target, os.FileMode(h.Mode)))
		case tar.TypeReg:
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, os.FileMode(h.Mode))
			must(t, err)
			_, err = io.Copy(f, tr)
			must(t, err)
			must(t, f.Close())
		}
	}
	return entries, root
}

func sha256File(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// layerDigest returns the digest of the single layer of the image at ref.
func layerDigest(t *testing.T, ref string) v1.Hash {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil || len(m.Layers) != 1 {
		t.Fatalf("manifest of %s: %v, %v", ref, m, err)
	}
	return m.Layers[0].Digest
}

// TestRegistryRestart pushes to the registry run by its own Start, restarts it on the
// same directory and address, and checks the image is still there: pullable, and a
// rebuild of the same source finds it and pushes nothing.
func TestRegistryRestart(t *testing.T) {
	bin := mustHello(t, "hello v1")
	dir := t.TempDir()
	host, stop := startRegistry(t, dir, "127.0.0.1:0")
	b := newBuilder(t, &fileBuilder{path: bin}, host)
	artifact, _, err := b.Build(context.Background(), testBuild("v1"), &buildLog{})
	if err != nil {
		t.Fatal(err)
	}
	stop()
	startRegistry(t, dir, host)

	ref, err := name.ParseReference(artifact)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("pull %s after restart: %v", artifact, err)
	}
	entries, root := extract(t, img)
	if len(entries) != 2 {
		t.Fatalf("layer after restart: %q", entries)
	}
	cfg, _ := img.ConfigFile()
	if out := runAsImage(t, root, cfg.Config); !strings.HasPrefix(out, "hello v1 ") {
		t.Fatalf("binary after restart printed %q", out)
	}
	log := &buildLog{}
	again, _, err := b.Build(context.Background(), testBuild("v1"), log)
	if err != nil || again != artifact || !strings.Contains(log.String(), "image unchanged, reused") {
		t.Fatalf("rebuild after restart: %s, %v; want %s reused\n%s", again, err, artifact, log)
	}
}

// recordingKeychain answers every registry with one credential and records which
// registries it was asked about.
type recordingKeychain struct {
	auth  authn.Authenticator
	mu    sync.Mutex
	asked []string
}

func (k *recordingKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.asked = append(k.asked, r.RegistryStr())
	return k.auth, nil
}

func TestKeychain(t *testing.T) {
	host, _ := registryServer(t)
	kc := &recordingKeychain{auth: pushCred}
	b, err := oci.New(&fileBuilder{path: mustHello(t, "hello v1")}, oci.Options{Registry: host, Keychain: kc, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Build(context.Background(), testBuild("v1"), &buildLog{}); err != nil {
		t.Fatalf("push with a keychain credential: %v", err)
	}
	if len(kc.asked) == 0 || kc.asked[0] != host {
		t.Fatalf("keychain asked for %q, want %s", kc.asked, host)
	}
}

// TestPacker packs a binary made elsewhere (as a region does with the binaries it fetches
// from its control plane) into the same image Build makes of it, and refuses to build.
func TestPacker(t *testing.T) {
	host, _ := registryServer(t)
	bin := mustHello(t, "hello v1")
	built, _, err := newBuilder(t, &fileBuilder{path: bin}, host).Build(context.Background(), testBuild("v1"), &buildLog{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := oci.NewPacker(oci.Options{Registry: host, Auth: pushCred, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	log := &buildLog{}
	packed, err := p.Pack(context.Background(), testBuild("v1"), bin, "", log)
	if err != nil {
		t.Fatalf("Pack: %v\nlog:\n%s", err, log)
	}
	if packed != built {
		t.Errorf("packed %s, built %s: want the same image for the same binary and labels", packed, built)
	}
	if !strings.Contains(log.String(), "image unchanged, reused") {
		t.Errorf("the registry already held the image; log:\n%s", log)
	}
	if _, _, err := p.Build(context.Background(), testBuild("v1"), &buildLog{}); err == nil {
		t.Error("a packer built: want an error, it has nothing to build with")
	}
	if _, err := p.Pack(context.Background(), testBuild("v1"), filepath.Join(t.TempDir(), "missing"), "", &buildLog{}); err == nil {
		t.Error("packed a missing binary")
	}
}
