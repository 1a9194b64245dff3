package platform

import (
	"context"
	"strings"
	"time"
)

// SourceKind says where a build's source comes from.
type SourceKind string

// Source kinds.
const (
	SourceArchive SourceKind = "archive" // a tar.gz uploaded by the CLI
	SourceGit     SourceKind = "git"     // a git URL + ref cloned by the server
)

// Source is where a build takes its code from.
type Source struct {
	Kind SourceKind `json:"kind"`
	// URL, Ref and Path describe a git source: clone URL, branch/tag/commit, and the
	// subdirectory holding the service's main package.
	URL  string `json:"url,omitempty"`
	Ref  string `json:"ref,omitempty"`
	Path string `json:"path,omitempty"`
	// Archive is the sha256 of an uploaded archive, kept in the data dir so a build can
	// be re-run after a restart.
	Archive string `json:"archive,omitempty"`
	// Commit is the resolved commit of a git source, set once cloned.
	Commit string `json:"commit,omitempty"`
	// SealedURL is, for a git URL holding credentials (a token as user or password, or
	// a query), the URL as given sealed by the control plane; URL then holds PublicURL.
	// Stores keep it as given; it is opened only to hand the builder the URL it clones,
	// and never serialised.
	SealedURL string `json:"-"`
}

// PublicURL returns the git URL without what may be a secret: the user information
// (https://user:token@host/...) and any query or fragment. It is what events, audit
// entries, image labels and API responses show.
func (s Source) PublicURL() string {
	raw := s.URL
	if i := strings.Index(raw, "://"); i >= 0 {
		rest := raw[i+3:]
		host := rest
		if j := strings.Index(rest, "/"); j >= 0 {
			host = rest[:j]
		}
		if at := strings.LastIndex(host, "@"); at >= 0 {
			rest = rest[at+1:]
		}
		raw = raw[:i+3] + rest
	}
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	return raw
}

// BuildStatus is the state of a build:
//
//	queued ──► running ──► succeeded
//	              └──────► failed
//
// A build left running by a crashed server is queued again on start.
type BuildStatus string

// Build statuses.
const (
	BuildQueued    BuildStatus = "queued"
	BuildRunning   BuildStatus = "running"
	BuildSucceeded BuildStatus = "succeeded"
	BuildFailed    BuildStatus = "failed"
)

// Build turns a Source into an Artifact.
type Build struct {
	ID        string `json:"id"`
	Namespace string `json:"namespace"`
	Service   string `json:"service"`
	Source    Source `json:"source"`
	// Version is the version of the release the build is for ("v3"), so a builder can
	// label what it makes. The release holds it: the control plane sets it on the build
	// before running it, and stores do not keep it.
	Version string `json:"version,omitempty"`
	// Dev asks for a development build, quicker to link: no symbol table and no DWARF
	// (`-ldflags=-s -w`). The control plane sets it for the builds of a dev namespace
	// (Namespace.Dev) before running them; stores do not keep it.
	Dev    bool        `json:"dev,omitempty"`
	Status BuildStatus `json:"status"`
	// Artifact locates the result: a binary path for the local driver, an image
	// reference for Kubernetes.
	Artifact string `json:"artifact,omitempty"`
	// Digest is the artifact's sha256 ("sha256:HEX"), set with Artifact.
	Digest string `json:"digest,omitempty"`
	// Docs are the endpoint docs the builder found in the source, by endpoint name
	// ("Helloworld.Call"), set with Artifact. A binary built with -trimpath and run
	// without its source cannot read its own doc comments, so the platform keeps them.
	Docs       map[string]EndpointDoc `json:"docs,omitempty"`
	Error      string                 `json:"error,omitempty"`
	CreatedAt  time.Time              `json:"created_at"`
	StartedAt  *time.Time             `json:"started_at,omitempty"`
	FinishedAt *time.Time             `json:"finished_at,omitempty"`
}

// EndpointDoc is what a handler method's doc comment says of its endpoint, in go-micro's
// format: the comment as Description, and the JSON body after an "@example" line as
// Example. They fill an endpoint's "description" and "example" metadata when the running
// service registers none of its own.
type EndpointDoc struct {
	Description string `json:"description,omitempty"`
	Example     string `json:"example,omitempty"`
}

// BuildStore keeps builds.
type BuildStore interface {
	// GetBuild returns ENOTFOUND if absent.
	GetBuild(ctx context.Context, id string) (*Build, error)
	// ListBuilds returns the builds of a service, newest first; with service "" those of
	// the namespace; with namespace "" every build (for the reconciler). Listed builds
	// leave Docs out: GetBuild and BuildDocs return them.
	ListBuilds(ctx context.Context, namespace, service string, limit int) ([]*Build, error)
	// BuildDocs returns the Docs of the builds with the given ids, by build id, in one
	// round trip; unknown builds and builds without docs are absent.
	BuildDocs(ctx context.Context, ids []string) (map[string]map[string]EndpointDoc, error)
	// UpdateBuild writes Status, Source.Commit, Artifact, Digest, Docs, Error, StartedAt,
	// FinishedAt.
	UpdateBuild(ctx context.Context, b *Build) error
	// SetBuildSourceURL replaces a build's Source.URL and Source.SealedURL, to take the
	// credentials out of a build recorded before they were sealed. ENOTFOUND if absent.
	SetBuildSourceURL(ctx context.Context, id, url, sealedURL string) error
}

// UploadStore records which namespace uploaded which source archive. Archives are kept
// once per content (by sha256), but a namespace may build only what it uploaded itself:
// knowing another namespace's digest must not let a tenant build its code.
type UploadStore interface {
	// RecordUpload notes that namespace uploaded the archive with the given sha256
	// digest; recording it again is a no-op. EINVALID for a digest that is not a
	// lower-case hex sha256, ENOTFOUND if the namespace does not exist.
	RecordUpload(ctx context.Context, namespace, digest string) error
	// HasUpload reports whether namespace uploaded the archive with the given digest.
	// Deleting a namespace forgets its uploads.
	HasUpload(ctx context.Context, namespace, digest string) (bool, error)
}

// Builder turns source into a runnable artifact.
type Builder interface {
	// Build runs b to completion, writing progress and compiler output to log. It returns
	// the artifact reference, and the resolved commit for git sources. A compile error is
	// EINVALID with the compiler's output in the message; a bad source (git URL, ref,
	// path) is EINVALID too. A builder that reads the endpoint docs of the source sets
	// b.Docs, which the control plane stores with the artifact; a decorator passes b on.
	Build(ctx context.Context, b *Build, log LogWriter) (artifact, commit string, err error)
}

// LogWriter receives build output line by line.
type LogWriter interface {
	WriteLine(line string)
}
