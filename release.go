package platform

import (
	"context"
	"time"
)

// ReleaseStatus is the state of a release:
//
//	pending ──► building ──► rolling_out ──► live ──► superseded
//	   │           │              │
//	   └───────────┴──────────────┴──► failed   (old release keeps serving)
//
// superseded also ends a pending/building/rolling_out release that a newer deploy replaced.
type ReleaseStatus string

// Release statuses.
const (
	ReleasePending    ReleaseStatus = "pending"
	ReleaseBuilding   ReleaseStatus = "building"
	ReleaseRollingOut ReleaseStatus = "rolling_out"
	ReleaseLive       ReleaseStatus = "live"
	ReleaseFailed     ReleaseStatus = "failed"
	ReleaseSuperseded ReleaseStatus = "superseded"
	// ReleaseCanary is a release that runs beside the live one and takes Canary percent
	// of the gateway's calls until it is promoted (it then becomes live) or replaced.
	ReleaseCanary ReleaseStatus = "canary"
)

// Terminal reports whether no further transition happens from s.
func (s ReleaseStatus) Terminal() bool {
	return s == ReleaseFailed || s == ReleaseSuperseded
}

// Release is one deployed version of a service: a build plus how to run it.
type Release struct {
	ID        string `json:"id"`
	Namespace string `json:"namespace"`
	Service   string `json:"service"`
	// Version is "v1", "v2", ... assigned by the store per service, unless the user named one.
	Version  string `json:"version"`
	BuildID  string `json:"build_id"`
	Replicas int    `json:"replicas"`
	// Size is the size of each instance; empty (releases recorded before sizes) means
	// DefaultSize.
	Size   Size              `json:"size,omitempty"`
	Env    map[string]string `json:"env,omitempty"`
	Status ReleaseStatus     `json:"status"`
	Reason string            `json:"reason,omitempty"`
	// Artifact is copied from the build once it succeeds.
	Artifact string `json:"artifact,omitempty"`
	// Regions is the service's placement this release was deployed with.
	Regions []string `json:"regions,omitempty"`
	// Digest is the sha256 of the artifact ("sha256:HEX": the binary, or the image's
	// manifest digest), copied from the build once it succeeds.
	Digest string `json:"digest,omitempty"`
	// Canary, from 1 to 99, makes the release a canary: once rolled out it runs beside
	// the live release and takes this percent of the gateway's calls without a
	// Micro-Version header, until `platform promote`. 0: an ordinary release.
	Canary int `json:"canary,omitempty"`
	// Origin says what made the release: a CLI deploy, a push, a pull request, a
	// rollback. Nil for releases recorded before origins.
	Origin    *ReleaseOrigin `json:"origin,omitempty"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// OriginKind says what made a release.
type OriginKind string

// Origin kinds.
const (
	OriginDeploy      OriginKind = "deploy"       // platform deploy (CLI, API, GitHub Actions)
	OriginPush        OriginKind = "push"         // a push to a linked branch
	OriginPullRequest OriginKind = "pull_request" // a pull request's preview
	OriginRollback    OriginKind = "rollback"     // platform rollback: an earlier release's artifact
)

// ReleaseOrigin is what made a release, kept with it for `platform releases`.
type ReleaseOrigin struct {
	Kind OriginKind `json:"kind"`
	// Repo ("owner/name"), Ref, Commit, Author and Message describe the commit a push or
	// pull request deployed.
	Repo    string `json:"repo,omitempty"`
	Ref     string `json:"ref,omitempty"`
	Commit  string `json:"commit,omitempty"`
	Author  string `json:"author,omitempty"`
	Message string `json:"message,omitempty"`
	// PR is the pull request number of a preview.
	PR int `json:"pr,omitempty"`
	// Delivery is the GitHub webhook delivery that made the release; a delivery
	// processed again after a crash finds the releases it already made by it.
	Delivery string `json:"delivery,omitempty"`
	// RollbackOf is the version a rollback went back to.
	RollbackOf string `json:"rollback_of,omitempty"`
	// User is who asked (login), when a person did.
	User string `json:"user,omitempty"`
}

// ReleaseStore keeps releases.
type ReleaseStore interface {
	// Deploy records a new desired state in one transaction: it creates the service if it
	// does not exist (or revives a deleted one), inserts b and r (assigning r.Version when
	// empty), marks the service's earlier unfinished releases superseded and sets the
	// service's DesiredRelease to r.ID, its Regions to r.Regions (when r has any) and its
	// status to deploying. Returns EINVALID for
	// bad names, ENOTFOUND if the namespace does not exist, ECONFLICT for a duplicate
	// user-given version.
	//
	// With b nil the release reuses an earlier build, r.BuildID, which must be a
	// succeeded build of the same service (a rollback: nothing is built again); EINVALID
	// otherwise.
	Deploy(ctx context.Context, b *Build, r *Release) error
	// GetRelease returns ENOTFOUND if absent.
	GetRelease(ctx context.Context, id string) (*Release, error)
	// ListReleases returns the releases of a service, newest first.
	ListReleases(ctx context.Context, namespace, service string, limit int) ([]*Release, error)
	// UpdateRelease writes Status, Reason, Artifact and Digest; the rest of a release
	// never changes once recorded.
	UpdateRelease(ctx context.Context, r *Release) error
}

// DeployRequest is what a user asks for with `platform deploy`.
type DeployRequest struct {
	Namespace string `json:"namespace"`
	Service   string `json:"service"`
	Source    Source `json:"source"`
	Version   string `json:"version,omitempty"`
	Replicas  int    `json:"replicas,omitempty"`
	// Size is the size of each instance (see Sizes); empty keeps the service's current
	// size, DefaultSize for a new service.
	Size Size              `json:"size,omitempty"`
	Env  map[string]string `json:"env,omitempty"`
	// Regions places the service; empty keeps the service's placement, or for a new
	// service the namespace's regions (the platform's default region when it has none).
	Regions []string `json:"regions,omitempty"`
	// Canary, from 1 to 99, deploys the release as a canary taking that percent of the
	// gateway's calls until `platform promote` (see Release.Canary).
	Canary int `json:"canary,omitempty"`
	// Dev asks for a dev deploy (`platform dev`): the namespace must be a dev namespace
	// (Namespace.Dev), else the deploy is refused with EINVALID and nothing is recorded.
	// Every deploy into a dev namespace is built and rolled out the dev way; Dev only
	// makes sure a development loop never rolls out into an ordinary namespace that way
	// or the ordinary way.
	Dev bool `json:"dev,omitempty"`
	// Origin labels the release with the commit it was built from (a CI job sets Repo,
	// Ref and Commit). The control plane records Kind "deploy" and the caller's login
	// for every caller but the GitOps worker.
	Origin *ReleaseOrigin `json:"origin,omitempty"`
}
