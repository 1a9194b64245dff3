package platform

import (
	"context"
	"time"
)

// ServiceStatus is what a user sees of a service as a whole.
type ServiceStatus string

// Service statuses.
const (
	ServiceDeploying ServiceStatus = "deploying" // a release is building or rolling out
	ServiceRunning   ServiceStatus = "running"   // the current release serves
	ServiceFailed    ServiceStatus = "failed"    // the last release failed and nothing serves
	ServiceCrashLoop ServiceStatus = "crashloop" // instances of the current release keep crashing
	ServiceDeleting  ServiceStatus = "deleting"  // delete requested; instances are being stopped
	ServiceDegraded  ServiceStatus = "degraded"  // a region of its placement is lost
)

// Service is the desired state of one service in a namespace: which release should run.
// The reconciler converges the runtime to it.
type Service struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// DesiredRelease is the release the user asked for last (by deploy).
	DesiredRelease string `json:"desired_release,omitempty"`
	// CurrentRelease is the release that serves now; it changes only when a rollout
	// completes, so a failed build or rollout leaves it untouched.
	CurrentRelease string        `json:"current_release,omitempty"`
	Status         ServiceStatus `json:"status"`
	// Reason says why the status is what it is, for failed and crashloop.
	Reason  string `json:"reason,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
	// Regions are where the service runs (its placement), in the order given.
	Regions   []string  `json:"regions,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ServiceStore keeps services.
type ServiceStore interface {
	// GetService returns ENOTFOUND if there is no such service.
	GetService(ctx context.Context, namespace, name string) (*Service, error)
	// ListServices returns the services of a namespace ordered by name; with namespace ""
	// it returns every service of every namespace (for the reconciler).
	ListServices(ctx context.Context, namespace string) ([]*Service, error)
	// UpdateService writes the status fields (CurrentRelease, Status, Reason, Deleted) of
	// an existing service. Returns ENOTFOUND if absent.
	UpdateService(ctx context.Context, svc *Service) error
	// DeleteService removes the service row and its builds, releases and instances (after
	// the reconciler has stopped everything). Returns ENOTFOUND if absent.
	DeleteService(ctx context.Context, namespace, name string) error
}

// ServiceView is a service as the API shows it: desired state joined with what runs.
type ServiceView struct {
	Service
	Version   string      `json:"version,omitempty"`
	Instances []*Instance `json:"instances"`
	// Endpoints are what the registry shows, with the "description" and "example"
	// metadata the release's build read from the source (Build.Docs) where the service
	// registers none.
	Endpoints []Endpoint     `json:"endpoints"`
	Release   *Release       `json:"release,omitempty"`
	Nodes     []RegistryNode `json:"nodes,omitempty"`
	// PerRegion is the service in each region of its placement.
	PerRegion []ServiceRegion `json:"per_region,omitempty"`
}

// ServiceRegion is a service in one region of its placement.
type ServiceRegion struct {
	Region string `json:"region"`
	// Status is running, deploying, failed, crashloop, or degraded when the region is
	// not connected (its instances are the last it reported).
	Status    ServiceStatus `json:"status"`
	Version   string        `json:"version,omitempty"`
	Instances int           `json:"instances"`
	Running   int           `json:"running"`
	Reason    string        `json:"reason,omitempty"`
}
