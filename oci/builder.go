// Package oci turns the static binary a platform.Builder makes into an OCI image and
// pushes it to a registry, without a Docker daemon and without pulling a base image:
// the image is scratch plus one layer, built with go-containerregistry. Its subpackage
// registry is the platform's own registry.
//
// # The image
//
//	layer     one: /app/ (0755) and /app/<service> (0755), owned by root, mtime 1970-01-01
//	config    entrypoint ["/app/<service>"], user 65532:65532, workdir /app, no env,
//	          os linux, architecture from the binary's ELF header, created 1970-01-01
//	labels    org.opencontainers.image.{title,version,revision,source} and
//	          dev.micro.platform.{namespace,service,version,commit,archive}
//	tag       <registry>/<namespace>/<service>:<version>
//	artifact  <registry>/<namespace>/<service>@sha256:<manifest digest>
//
// Nothing in the image depends on when or where it was built, so the same binary and
// labels always give the same digest.
//
// # Reuse
//
// The compressed layer of a binary is cached under Options.Dir by the binary's hash, so
// an unchanged binary costs one hash, not a compression. Before pushing, the builder asks
// the registry (HEAD) for the tag: if it already names this digest, nothing is uploaded
// and nothing is pushed ("image unchanged, reused"). Otherwise blobs the registry already
// holds are skipped (HEAD per blob), so a new version of an unchanged binary uploads only
// its config (the version label changed) and manifest, and a changed binary one layer.
package oci

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	platform "github.com/micro/platform"
)

var _ platform.Builder = (*Builder)(nil)

// Label keys the builder sets. The org.opencontainers.image ones are the standard
// annotations; the dev.micro.platform ones are what the platform reads back.
const (
	LabelTitle    = "org.opencontainers.image.title"
	LabelVersion  = "org.opencontainers.image.version"
	LabelRevision = "org.opencontainers.image.revision"
	LabelSource   = "org.opencontainers.image.source"

	LabelPlatformNamespace = "dev.micro.platform.namespace"
	LabelPlatformService   = "dev.micro.platform.service"
	LabelPlatformVersion   = "dev.micro.platform.version"
	LabelPlatformCommit    = "dev.micro.platform.commit"
	LabelPlatformArchive   = "dev.micro.platform.archive"
)

// DefaultUser is the numeric user and group images run as: not root, and the same as
// distroless's "nonroot", so volume permissions set up for those images work too.
const DefaultUser = "65532:65532"

// Options configure a Builder.
type Options struct {
	// Registry is the reference prefix images are pushed under: host[:port][/path], as
	// in "127.0.0.1:5000" or "ghcr.io/acme/platform". Required. The repository of a
	// service is <Registry>/<namespace>/<service>.
	Registry string
	// Auth is the push credential, for the platform's own registry
	// (registry.PushCredential) or a token given in the configuration.
	Auth authn.Authenticator
	// Keychain, used when Auth is nil, finds the credential for the registry, e.g.
	// authn.DefaultKeychain (docker's config.json and credential helpers). Both nil
	// means anonymous.
	Keychain authn.Keychain
	// Insecure allows plain HTTP to a registry that is not on loopback or a private
	// network (go-containerregistry already uses HTTP for those).
	Insecure bool
	// Dir holds the layer cache. Required.
	Dir string
	// User is the user:group the image runs as. Empty means DefaultUser. It must be
	// numeric: scratch has no /etc/passwd to resolve a name.
	User string
	// Transport is the HTTP transport to the registry. Nil means remote.DefaultTransport.
	Transport http.RoundTripper
	// Logger receives the builder's own diagnostics. Nil discards them.
	Logger *slog.Logger
}

// Builder decorates a platform.Builder that produces a static Linux binary: it packs
// the binary into an image and returns the image's reference by digest as the artifact.
// It is safe for concurrent use.
type Builder struct {
	inner  platform.Builder
	opts   Options
	layers *layerCache
	log    *slog.Logger
}

var numericUser = regexp.MustCompile(`^[0-9]+(:[0-9]+)?$`)

// New checks opts and returns a Builder around inner. A bad registry prefix or user is
// EINVALID.
func New(inner platform.Builder, opts Options) (*Builder, error) {
	if inner == nil {
		return nil, platform.Errorf(platform.EINVALID, "image builder: an inner builder is required")
	}
	return newBuilder(inner, opts)
}

// NewPacker checks opts and returns a Builder with no inner builder: it packs binaries
// made elsewhere (Pack), such as the ones a region fetches from its control plane, and
// its Build refuses.
func NewPacker(opts Options) (*Builder, error) { return newBuilder(nil, opts) }

func newBuilder(inner platform.Builder, opts Options) (*Builder, error) {
	var problems []string
	if opts.Dir == "" {
		problems = append(problems, "Dir is required")
	}
	if opts.User == "" {
		opts.User = DefaultUser
	}
	if !numericUser.MatchString(opts.User) {
		problems = append(problems, fmt.Sprintf("user %q is not numeric uid[:gid]", opts.User))
	}
	opts.Registry = strings.TrimSuffix(opts.Registry, "/")
	if err := checkRegistry(opts.Registry, opts.Insecure); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return nil, platform.Errorf(platform.EINVALID, "image builder: %s", strings.Join(problems, "; ")).
			WithHint("the registry is a reference prefix host[:port][/path], e.g. 127.0.0.1:5000 or ghcr.io/acme")
	}
	dir := filepath.Join(opts.Dir, "layers")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("image builder: %w", err)
	}
	if opts.Transport == nil {
		opts.Transport = remote.DefaultTransport
	}
	if opts.Auth == nil && opts.Keychain == nil {
		opts.Auth = authn.Anonymous
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Builder{inner: inner, opts: opts, layers: &layerCache{dir: dir}, log: opts.Logger}, nil
}

// checkRegistry validates a reference prefix by parsing a repository under it.
func checkRegistry(prefix string, insecure bool) error {
	if prefix == "" {
		return errors.New("Registry is required")
	}
	if strings.Contains(prefix, "://") || strings.ContainsAny(prefix, "@") {
		return fmt.Errorf("registry %q is not a reference prefix (no scheme, tag or digest)", prefix)
	}
	if _, err := name.NewRepository(prefix+"/ns/svc", nameOpts(insecure)...); err != nil {
		return fmt.Errorf("registry %q is not a valid reference prefix: %v", prefix, err)
	}
	return nil
}

func nameOpts(insecure bool) []name.Option {
	opts := []name.Option{name.StrictValidation}
	if insecure {
		opts = append(opts, name.Insecure)
	}
	return opts
}

// Build implements platform.Builder: the inner builder makes the binary, which is
// packed and pushed. The artifact is <registry>/<namespace>/<service>@sha256:<digest>.
// Besides the inner builder's errors, a binary that cannot run on scratch is EINVALID,
// a registry that cannot be reached EUNAVAILABLE, and one that refuses the credential
// EFORBIDDEN.
func (b *Builder) Build(ctx context.Context, bd *platform.Build, log platform.LogWriter) (artifact, commit string, err error) {
	if b.inner == nil {
		return "", "", platform.Errorf(platform.EINTERNAL, "image builder: a packer builds nothing, it packs (Pack)")
	}
	binary, commit, err := b.inner.Build(ctx, bd, log)
	if err != nil {
		return "", commit, err
	}
	artifact, err = b.Pack(ctx, bd, binary, commit, log)
	return artifact, commit, err
}

// Pack packs the binary of bd (built from commit, "" for an uploaded archive) into an
// image and pushes it, unless the registry already has it under its tag. The artifact is
// <registry>/<namespace>/<service>@sha256:<digest>; the errors are Build's.
func (b *Builder) Pack(ctx context.Context, bd *platform.Build, binary, commit string, log platform.LogWriter) (artifact string, err error) {
	defer func() {
		if err != nil && platform.ErrorCode(err) != platform.EINTERNAL {
			log.WriteLine("image failed: " + platform.ErrorMessage(err))
		}
	}()
	start := time.Now()
	repo, err := name.NewRepository(b.opts.Registry+"/"+bd.Namespace+"/"+bd.Service, nameOpts(b.opts.Insecure)...)
	if err != nil {
		return "", platform.Errorf(platform.EINVALID, "image repository for %s/%s: %v", bd.Namespace, bd.Service, err)
	}
	img, layer, err := b.image(bd, commit, binary, log)
	if err != nil {
		return "", err
	}
	digest, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("image digest: %w", err)
	}
	ref := repo.Tag(tagFor(bd))
	artifact = repo.Digest(digest.String()).String()

	existing, err := remote.Head(ref, b.remoteOpts(ctx, b.opts.Transport)...)
	switch {
	case err == nil && existing.Digest == digest:
		log.WriteLine(fmt.Sprintf("image unchanged, reused: %s", artifact))
		return artifact, nil
	case err != nil && !isNotFound(err):
		return "", registryError(b.opts.Registry, err)
	}

	if err := b.push(ctx, ref, img, layer, log); err != nil {
		return "", err
	}
	log.WriteLine(fmt.Sprintf("pushed %s in %s", ref, time.Since(start).Round(10*time.Millisecond)))
	log.WriteLine("image " + artifact)
	return artifact, nil
}

// push writes img to ref, uploading only the blobs the registry lacks, and logs the
// progress and what was really sent.
func (b *Builder) push(ctx context.Context, ref name.Tag, img v1.Image, layer *diskLayer, log platform.LogWriter) error {
	stats := &pushStats{}
	progress := make(chan v1.Update, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		logProgress(progress, log)
	}()
	werr := remote.Write(ref, img, append(b.remoteOpts(ctx, &countingTransport{inner: b.opts.Transport, stats: stats}), remote.WithProgress(progress))...)
	if werr != nil {
		// Write closes progress when it returns, unless it refused its options first.
		select {
		case <-done:
		case <-time.After(time.Second):
		}
		return registryError(b.opts.Registry, werr)
	}
	<-done
	ld, _ := layer.Digest()
	if stats.uploaded(ld.String()) {
		log.WriteLine(fmt.Sprintf("layer %s uploaded (%s)", shortHash(ld), formatBytes(layer.size)))
	} else {
		log.WriteLine(fmt.Sprintf("layer %s already in the registry, not uploaded", shortHash(ld)))
	}
	log.WriteLine(fmt.Sprintf("uploaded %s: %d blob(s), %d manifest", formatBytes(stats.bytes()), stats.blobCount(), stats.manifestCount()))
	return nil
}

// image assembles the image of bd from the binary.
func (b *Builder) image(bd *platform.Build, commit, binary string, log platform.LogWriter) (v1.Image, *diskLayer, error) {
	bin, err := inspectBinary(binary, bd.Service)
	if err != nil {
		return nil, nil, err
	}
	layer, reused, err := b.layers.layer(binary, bd.Service, bin)
	if err != nil {
		return nil, nil, fmt.Errorf("image layer: %w", err)
	}
	if reused {
		log.WriteLine(fmt.Sprintf("image layer %s reused (binary unchanged)", shortHash(layer.digest)))
	} else {
		log.WriteLine(fmt.Sprintf("image layer %s packed: %s binary, %s compressed", shortHash(layer.digest), formatBytes(bin.size), formatBytes(layer.size)))
	}
	cfg := &v1.ConfigFile{
		Architecture: bin.arch,
		OS:           "linux",
		Created:      v1.Time{Time: epoch},
		Config: v1.Config{
			Entrypoint: []string{entrypoint(bd.Service)},
			User:       b.opts.User,
			WorkingDir: "/" + appDir,
			Labels:     Labels(bd, commit),
		},
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.ConfigFile(base, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("image config: %w", err)
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "micro platform: " + entrypoint(bd.Service), Comment: "static binary"},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("image: %w", err)
	}
	return img, layer, nil
}

// Labels returns the labels of the image of bd built from commit ("" for an uploaded
// archive). Nothing in them changes between two builds of the same source and version,
// so they never defeat reuse.
func Labels(bd *platform.Build, commit string) map[string]string {
	l := map[string]string{
		LabelTitle:             bd.Service,
		LabelPlatformNamespace: bd.Namespace,
		LabelPlatformService:   bd.Service,
	}
	if bd.Version != "" {
		l[LabelVersion] = bd.Version
		l[LabelPlatformVersion] = bd.Version
	}
	if commit == "" {
		commit = bd.Source.Commit
	}
	if commit != "" {
		l[LabelRevision] = commit
		l[LabelPlatformCommit] = commit
	}
	if bd.Source.Kind == platform.SourceGit {
		if src := bd.Source.PublicURL(); src != "" {
			l[LabelSource] = src
		}
	}
	if bd.Source.Archive != "" {
		l[LabelPlatformArchive] = "sha256:" + bd.Source.Archive
	}
	return l
}

var validTag = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

// tagFor is the release version when it is a valid tag, else "build-<id>".
func tagFor(bd *platform.Build) string {
	if validTag.MatchString(bd.Version) {
		return bd.Version
	}
	t := "build-" + bd.ID
	if !validTag.MatchString(t) {
		return "latest"
	}
	return t
}

func (b *Builder) remoteOpts(ctx context.Context, t http.RoundTripper) []remote.Option {
	auth := remote.WithAuth(b.opts.Auth)
	if b.opts.Auth == nil {
		auth = remote.WithAuthFromKeychain(b.opts.Keychain)
	}
	return []remote.Option{remote.WithContext(ctx), auth, remote.WithTransport(t), remote.WithJobs(2)}
}

func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}

// registryError gives a registry failure a code and a message a user can act on,
// without the credential.
func registryError(registry string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return platform.Errorf(platform.EFORBIDDEN, "registry %s refused the platform's credential (HTTP %d)", registry, te.StatusCode).
				WithHint("check the registry credential the platform server is configured with")
		}
		return platform.Errorf(platform.EUNAVAILABLE, "registry %s: %s", registry, transportMessage(te))
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return platform.Errorf(platform.EUNAVAILABLE, "registry %s unreachable: %v", registry, err).
		WithHint("check that the registry runs and that the server can reach it")
}

func transportMessage(te *transport.Error) string {
	if len(te.Errors) > 0 {
		return fmt.Sprintf("HTTP %d: %s", te.StatusCode, te.Errors[0].String())
	}
	return fmt.Sprintf("HTTP %d", te.StatusCode)
}

func shortHash(h v1.Hash) string {
	if len(h.Hex) > 12 {
		return h.Algorithm + ":" + h.Hex[:12]
	}
	return h.String()
}

func formatBytes(n int64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

// RemoveBuild deletes the image of build bd from the registry (by digest: the namespace's
// repository loses that manifest) and what the inner builder kept of it.
func (b *Builder) RemoveBuild(ctx context.Context, bd *platform.Build) error {
	var errs []error
	if bd.Artifact != "" && strings.Contains(bd.Artifact, "@sha256:") {
		ref, err := name.NewDigest(bd.Artifact, nameOpts(b.opts.Insecure)...)
		if err == nil {
			err = remote.Delete(ref, b.remoteOpts(ctx, b.opts.Transport)...)
		}
		if err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("delete image %s: %w", bd.Artifact, err))
		}
	}
	if r, ok := b.inner.(interface {
		RemoveBuild(context.Context, *platform.Build) error
	}); ok {
		errs = append(errs, r.RemoveBuild(ctx, bd))
	}
	return errors.Join(errs...)
}
