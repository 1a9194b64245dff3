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
	Regions   []string  `json:"regions,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
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
	Deploy(ctx context.Context, b *Build, r *Release) error
	// GetRelease returns ENOTFOUND if absent.
	GetRelease(ctx context.Context, id string) (*Release, error)
	// ListReleases returns the releases of a service, newest first.
	ListReleases(ctx context.Context, namespace, service string, limit int) ([]*Release, error)
	// UpdateRelease writes Status, Reason and Artifact.
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
}
