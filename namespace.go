package platform

import (
	"context"
	"time"
)

// Namespace is a tenant's isolated space: its services, its own go-micro registry, broker
// and RPC transport (one NATS account), its events, logs and usage.
type Namespace struct {
	Name string `json:"name"`
	// Org owns the namespace ("" is read as DefaultOrg). Namespace names are unique
	// across organisations: they name NATS accounts and gateway host prefixes.
	Org string `json:"org,omitempty"`
	// Regions are where the namespace's services run unless a deploy names its own;
	// empty means the platform's default region.
	Regions []string `json:"regions,omitempty"`
	// Dev marks a namespace for development (`platform namespaces create --dev`,
	// `platform dev`): its releases are built without debug information and replace the
	// running one as soon as they are registered and answer their health check, without
	// MinReady or the drain delay. A dev deploy (DeployRequest.Dev) is refused elsewhere.
	Dev       bool      `json:"dev,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// NamespaceStore keeps namespaces.
type NamespaceStore interface {
	// CreateNamespace stores ns (in DefaultOrg when ns.Org is ""). Returns EINVALID for a
	// bad name, ENOTFOUND for an unknown org, ECONFLICT if it exists or if its name was
	// ever used by another organisation: credentials and image repositories are derived
	// from the name, so a name never passes from one organisation to another.
	CreateNamespace(ctx context.Context, ns *Namespace) error
	// GetNamespace returns ENOTFOUND if there is no such namespace.
	GetNamespace(ctx context.Context, name string) (*Namespace, error)
	// ListNamespaces returns all namespaces ordered by name.
	ListNamespaces(ctx context.Context) ([]*Namespace, error)
	// DeleteNamespace removes the namespace and everything stored under it (services,
	// builds, releases, instances, events, usage), removes it from the tokens narrowed
	// to it and deletes those narrowed to it alone. Returns ENOTFOUND if absent.
	DeleteNamespace(ctx context.Context, name string) error
	// SetNamespaceRegions replaces the namespace's default regions; ENOTFOUND if absent.
	SetNamespaceRegions(ctx context.Context, name string, regions []string) error
	// SetNamespaceDev turns the namespace's dev mode (Namespace.Dev) on or off; ENOTFOUND
	// if absent.
	SetNamespaceDev(ctx context.Context, name string, dev bool) error
}
