// Package builder turns a service's source into a static binary with the Go toolchain:
// it implements platform.Builder for the local runtime.
//
// Sources are uploaded archives (StoreArchive keeps them content-addressed under
// Dir/archives) or git repositories cloned with go-git, so a machine with only Go
// installed can deploy from git. Each build compiles in a fresh work directory with a
// clean environment (CGO_ENABLED=0, GOFLAGS=-mod=mod, GOTOOLCHAIN=local, plus
// Options.Env) and writes Dir/artifacts/<build id>/<service>.
//
// # Layout under Options.Dir
//
//	archives/<sha256>.tar.gz   uploaded sources
//	artifacts/<build>/<svc>    one binary per successful build
//	artifacts/index.json       source key → build that produced it (the reuse cache)
//	work/                      scratch directories, removed after each build
//
// A Builder owns Dir: New removes what a builder killed mid-build left behind (work
// directories, half-written uploads), so there must be one Builder per Dir at a time
// (the server's data dir lock sees to it).
//
// A build the server's disk has no room for (ENOSPC: the build dir or the Go caches are
// full) fails with EUNAVAILABLE saying so, not as a compile error of the service.
//
// # Endpoint docs
//
// go-micro reads a handler method's doc comment (a description, and an "@example" JSON
// body) from the handler's source file at run time. A binary built with -trimpath and run
// without its source finds none, so each build reads them itself (docs.go) and returns
// them in Build.Docs for the control plane to serve with the service's endpoints. Docs
// never fail a build.
//
// # Reuse
//
// A build of an archive digest, or of a git commit and path, that was already built with
// the same Go toolchain and environment reuses the earlier binary (hard-linked, or
// copied across file systems) instead of compiling again, so re-deploying unchanged
// source is instant. Nothing is garbage-collected: removing a build's artifact directory
// is safe at any time, and a missing artifact simply causes a fresh compile.
package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/archive"
)

var _ platform.Builder = (*Builder)(nil)

// Defaults for Options.
const (
	DefaultMaxArchiveBytes = 64 << 20
	DefaultBuildTimeout    = 10 * time.Minute
)

// passthroughEnv lists the variables DefaultOptions copies from the server's environment
// into Options.Env: what the go command needs to find itself, its module proxy and
// certificates, and nothing else.
var passthroughEnv = []string{
	"HOME", "PATH", "TMPDIR",
	"GOPROXY", "GONOPROXY", "GOPRIVATE", "GOSUMDB", "GONOSUMDB", "GONOSUMCHECK", "GOINSECURE", "GOAUTH",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
	"SSL_CERT_FILE", "SSL_CERT_DIR",
}

// Options configure a Builder.
type Options struct {
	// Dir holds archives, work directories and artifacts. Required.
	Dir string
	// GoBinary is the go command: a path, or a name looked up in the PATH of Env.
	// Empty means "go".
	GoBinary string
	// GoCache and GoModCache are the build and module caches. Empty means the host's,
	// as reported by `go env`, so a first deploy does not download the world again. A
	// relative path is taken relative to Dir.
	GoCache, GoModCache string
	// Env is the whole environment of the go command apart from the variables the
	// builder sets itself (CGO_ENABLED, GOFLAGS, GOTOOLCHAIN, GOCACHE, GOMODCACHE), as
	// KEY=value pairs. DefaultOptions fills it from the server's environment.
	Env []string
	// MaxArchiveBytes bounds an uploaded archive. Zero means DefaultMaxArchiveBytes.
	MaxArchiveBytes int64
	// ExtractLimits bound the unpacked source. A zero field means 16 times
	// MaxArchiveBytes and 50000 entries.
	ExtractLimits archive.Limits
	// BuildTimeout bounds one build, clone included. Zero means DefaultBuildTimeout.
	BuildTimeout time.Duration
	// Logger receives the builder's own diagnostics. Nil discards them.
	Logger *slog.Logger
}

// DefaultOptions returns options that pass the server's PATH, HOME, proxy and Go module
// settings through to the go command; the caller sets Dir. It is the only place this
// package reads the process environment.
func DefaultOptions() Options {
	var env []string
	for _, k := range passthroughEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return Options{GoBinary: "go", Env: env}
}

// Builder builds services with the Go toolchain. It is safe for concurrent use.
type Builder struct {
	opts      Options
	goBin     string
	goVersion string
	log       *slog.Logger
	cache     *cache
}

// New validates opts, resolves the go binary and the host caches, and creates the
// directory layout under opts.Dir.
func New(opts Options) (*Builder, error) {
	if opts.Dir == "" {
		return nil, platform.Errorf(platform.EINVALID, "builder: Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("builder: %w", err)
	}
	opts.Dir = dir
	if opts.MaxArchiveBytes <= 0 {
		opts.MaxArchiveBytes = DefaultMaxArchiveBytes
	}
	if opts.ExtractLimits.MaxBytes <= 0 {
		opts.ExtractLimits.MaxBytes = 16 * opts.MaxArchiveBytes
	}
	if opts.ExtractLimits.MaxFiles <= 0 {
		opts.ExtractLimits.MaxFiles = 50000
	}
	if opts.BuildTimeout <= 0 {
		opts.BuildTimeout = DefaultBuildTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	for _, sub := range []string{"archives", "artifacts", "work"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("builder: %w", err)
		}
	}
	b := &Builder{opts: opts, log: opts.Logger, cache: &cache{file: filepath.Join(dir, "artifacts", "index.json")}}
	b.removeStale()
	if b.goBin, err = lookGo(opts.GoBinary, opts.Env); err != nil {
		return nil, err
	}
	if err := b.resolveCaches(); err != nil {
		return nil, err
	}
	return b, nil
}

// removeStale removes what builds and uploads of an earlier builder on Dir left behind
// when its process died (kill -9, a crash, a power cut): every work directory, as no
// build runs before New returns, and uploads never renamed into place. A file that
// cannot be removed is logged and left.
func (b *Builder) removeStale() {
	var stale []string
	work := filepath.Join(b.opts.Dir, "work")
	if entries, err := os.ReadDir(work); err == nil {
		for _, e := range entries {
			stale = append(stale, filepath.Join(work, e.Name()))
		}
	}
	uploads, _ := filepath.Glob(filepath.Join(b.opts.Dir, "archives", ".upload-*"))
	stale = append(stale, uploads...)
	for _, p := range stale {
		if err := os.RemoveAll(p); err != nil {
			b.log.Warn("remove what an earlier build left", "path", p, "err", err)
		}
	}
	if len(stale) > 0 {
		b.log.Info("removed what earlier builds left behind", "paths", len(stale))
	}
}

// resolveCaches fills GoCache and GoModCache from `go env` when empty, and records the
// toolchain version that is part of every reuse key.
func (b *Builder) resolveCaches() error {
	cmd := exec.Command(b.goBin, "env", "GOVERSION", "GOCACHE", "GOMODCACHE")
	cmd.Env = append(append([]string{}, b.opts.Env...), "GOTOOLCHAIN=local")
	cmd.Dir = b.opts.Dir
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("builder: %s env: %w", b.goBin, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 {
		return fmt.Errorf("builder: unexpected `go env` output %q", out)
	}
	b.goVersion = lines[0]
	for i, p := range []*string{&b.opts.GoCache, &b.opts.GoModCache} {
		switch {
		case *p == "" && lines[i+1] == "":
			return fmt.Errorf("builder: go env reports no %s; set it in Options", []string{"GOCACHE", "GOMODCACHE"}[i])
		case *p == "":
			*p = lines[i+1]
		case !filepath.IsAbs(*p):
			*p = filepath.Join(b.opts.Dir, *p)
		}
		if err := os.MkdirAll(*p, 0o755); err != nil {
			return fmt.Errorf("builder: %w", err)
		}
	}
	return nil
}

// lookGo resolves the go binary, searching the PATH given in env rather than the
// process's own.
func lookGo(name string, env []string) (string, error) {
	if name == "" {
		name = "go"
	}
	if strings.ContainsRune(name, filepath.Separator) {
		return name, nil
	}
	var pathVar string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathVar = v
		}
	}
	for _, dir := range filepath.SplitList(pathVar) {
		p := filepath.Join(dir, name)
		if info, err := os.Stat(p); err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("builder: %q not found in the PATH of Options.Env (%q)", name, pathVar)
}

// Options returns the builder's options with defaults and caches resolved.
func (b *Builder) Options() Options { return b.opts }

// safeName matches build IDs usable as one path element.
var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// validate reports every problem of a build request at once.
func validate(bd *platform.Build) error {
	var problems []string
	if !safeName.MatchString(bd.ID) {
		problems = append(problems, fmt.Sprintf("build id %q is not a valid name", bd.ID))
	}
	if err := platform.ValidateName("service", bd.Service); err != nil {
		problems = append(problems, platform.ErrorMessage(err))
	}
	switch bd.Source.Kind {
	case platform.SourceArchive:
		if !isDigest(bd.Source.Archive) {
			problems = append(problems, fmt.Sprintf("archive %q is not a sha256 digest", bd.Source.Archive))
		}
		if _, err := cleanSubdir(bd.Source.Path); err != nil {
			problems = append(problems, err.Error())
		}
	case platform.SourceGit:
		if err := checkGitURL(bd.Source.URL); err != nil {
			problems = append(problems, err.Error())
		}
		if _, err := cleanSubdir(bd.Source.Path); err != nil {
			problems = append(problems, err.Error())
		}
	default:
		problems = append(problems, fmt.Sprintf("source kind %q is not %q or %q", bd.Source.Kind, platform.SourceArchive, platform.SourceGit))
	}
	if len(problems) > 0 {
		return platform.Errorf(platform.EINVALID, "%s", strings.Join(problems, "; "))
	}
	return nil
}

// Build implements platform.Builder. It fetches the source into a fresh work directory,
// reuses an earlier artifact of the same source when there is one, and otherwise
// compiles the main package at the source's path. It returns the absolute path of the
// binary and, for git sources, the resolved commit, and sets bd.Docs to the endpoint docs
// of the source's handler doc comments (endpointDocs), which the binary cannot read at
// run time.
func (b *Builder) Build(ctx context.Context, bd *platform.Build, log platform.LogWriter) (artifact, commit string, err error) {
	defer func() {
		// The log is what a user follows: end it with why the build failed.
		if err != nil && platform.ErrorCode(err) != platform.EUNAVAILABLE && isNoSpace(err) {
			err = b.noSpaceError(bd, err)
		}
		if err != nil && platform.ErrorCode(err) != platform.EINTERNAL {
			log.WriteLine("build failed: " + platform.ErrorMessage(err))
		}
	}()
	if err := validate(bd); err != nil {
		return "", "", err
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.BuildTimeout)
	defer cancel()
	start := time.Now()

	work, err := os.MkdirTemp(filepath.Join(b.opts.Dir, "work"), bd.ID+"-")
	if err != nil {
		return "", "", fmt.Errorf("build %s: %w", bd.ID, err)
	}
	defer func() {
		if rmErr := os.RemoveAll(work); rmErr != nil {
			b.log.Warn("remove build work dir", "build", bd.ID, "err", rmErr)
		}
	}()

	src, key, commit, err := b.fetch(ctx, bd, work, log)
	if err != nil {
		return "", commit, timeoutError(ctx, err, b.opts.BuildTimeout)
	}
	docs := endpointDocs(ctx, src)
	if len(docs) > 0 {
		log.WriteLine(fmt.Sprintf("read the docs of %d endpoints", len(docs)))
	}
	artifact = filepath.Join(b.opts.Dir, "artifacts", bd.ID, bd.Service)
	if from, ok := b.cache.reuse(key, artifact); ok {
		log.WriteLine(fmt.Sprintf("reused artifact of build %s", from))
		bd.Docs = docs
		return artifact, commit, nil
	}
	if err := b.compile(ctx, src, work, artifact, bd.Dev, log); err != nil {
		return "", commit, timeoutError(ctx, err, b.opts.BuildTimeout)
	}
	if info, err := os.Stat(artifact); err == nil {
		log.WriteLine(fmt.Sprintf("built in %s, %s", time.Since(start).Round(100*time.Millisecond), formatMB(info.Size())))
	}
	if err := b.cache.record(key, bd.ID, artifact); err != nil {
		b.log.Warn("record artifact for reuse", "build", bd.ID, "err", err)
	}
	bd.Docs = docs
	return artifact, commit, nil
}

// fetch puts the source of bd under work and returns the directory of its main
// package, the reuse key and, for git, the commit.
func (b *Builder) fetch(ctx context.Context, bd *platform.Build, work string, log platform.LogWriter) (src, key, commit string, err error) {
	checkout := filepath.Join(work, "src")
	switch bd.Source.Kind {
	case platform.SourceArchive:
		log.WriteLine(fmt.Sprintf("extracting archive %s", shortDigest(bd.Source.Archive)))
		if err := b.extractStored(bd.Source.Archive, checkout); err != nil {
			return "", "", "", err
		}
		sub, _ := cleanSubdir(bd.Source.Path) // validated already
		if src, err = subdirIn(checkout, sub); err != nil {
			return "", "", "", err
		}
		key = "archive:" + bd.Source.Archive
		if sub != "." {
			// One archive of a repository builds each of its services.
			key += ":" + sub
		}
	default:
		commit, err = b.clone(ctx, bd.Source, checkout, log)
		if err != nil {
			return "", "", commit, err
		}
		sub, _ := cleanSubdir(bd.Source.Path) // validated already
		if src, err = subdirIn(checkout, sub); err != nil {
			return "", "", commit, err
		}
		key = fmt.Sprintf("git:%s@%s:%s", bd.Source.URL, commit, sub)
	}
	if err := findGoMod(src, checkout); err != nil {
		return "", "", commit, err
	}
	if bd.Dev {
		key += ":dev" // linked without symbols and DWARF: another binary
	}
	return src, b.reuseKey(key), commit, nil
}

// reuseKey qualifies a source key with everything else that shapes the binary, hashed
// so that secrets in Env (a proxy password) never reach the index file.
func (b *Builder) reuseKey(source string) string {
	sum := sha256.Sum256([]byte(strings.Join(append([]string{source, b.goVersion}, b.env()...), "\x00")))
	return hex.EncodeToString(sum[:])
}

// findGoMod checks that src or a parent up to root holds a go.mod.
func findGoMod(src, root string) error {
	for dir := src; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return nil
		}
		if dir == root || len(dir) <= len(root) {
			break
		}
	}
	rel, _ := filepath.Rel(root, src)
	return platform.Errorf(platform.EINVALID, "no go.mod found in %s or above it: the service must be a Go module", filepath.ToSlash(rel)).
		WithHint("run `go mod init <module path>` in the service directory and deploy again")
}

// noSpaceText is how the system and the go command report ENOSPC.
const noSpaceText = "no space left on device"

// isNoSpace reports whether err comes from a disk with no space left.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || strings.HasSuffix(err.Error(), noSpaceText)
}

// noSpaceError is the error of a build that ran out of disk space: the server's
// trouble, not the service's. The paths are logged for the operator, not shown.
func (b *Builder) noSpaceError(bd *platform.Build, cause error) error {
	b.log.Warn("build ran out of disk space", "build", bd.ID, "dir", b.opts.Dir, "gocache", b.opts.GoCache,
		"gomodcache", b.opts.GoModCache, "err", cause)
	return platform.Errorf(platform.EUNAVAILABLE, "the server ran out of disk space during the build (%s); the service itself may be fine", noSpaceText).
		WithHint("the disk of the server's build directory or Go build cache is full: free space on it, then deploy again")
}

// timeoutError turns a failure caused by the build deadline into ETIMEOUT.
func timeoutError(ctx context.Context, err error, limit time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return platform.Errorf(platform.ETIMEOUT, "build did not finish within %s", limit).
			WithHint("a first build downloads dependencies; try again, or raise the build timeout")
	}
	return err
}

func formatMB(n int64) string {
	return fmt.Sprintf("%.0f MB", float64(n)/1e6)
}

func shortDigest(d string) string {
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

// isDir reports whether p is an existing directory.
func isDir(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.IsDir()
}

// RemoveBuild removes what build bd left: its artifact directory. An artifact another
// build reused is a link of its own (linkOrCopy), so removing this one leaves theirs; the
// reuse index entry that pointed here becomes a miss and is forgotten at its next use.
func (b *Builder) RemoveBuild(_ context.Context, bd *platform.Build) error {
	if bd.ID == "" || strings.ContainsAny(bd.ID, `/\`) || bd.ID == "." || bd.ID == ".." {
		return platform.Errorf(platform.EINVALID, "build id %q", bd.ID)
	}
	if err := os.RemoveAll(filepath.Join(b.opts.Dir, "artifacts", bd.ID)); err != nil {
		return fmt.Errorf("remove the artifact of %s: %w", bd.ID, err)
	}
	return nil
}
