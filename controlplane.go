package platform

import (
	"context"
	"io"
	"time"
)

// ControlPlane is what every entry point (HTTP API, CLI through it, dashboard) can ask of
// the platform. Each method authorises the caller from the token in ctx with Authorize,
// so no transport can forget the policy. Implemented by package control.
type ControlPlane interface {
	// CreateNamespace: EINVALID bad name, ECONFLICT exists; admin only.
	CreateNamespace(ctx context.Context, name string) (*Namespace, error)
	// ListNamespaces returns the namespaces the caller may access.
	ListNamespaces(ctx context.Context) ([]*Namespace, error)
	// DeleteNamespace stops every service in it and removes it; admin only.
	DeleteNamespace(ctx context.Context, name string) error

	// UploadSource stores a tar.gz source archive for a later Deploy and returns its
	// sha256 (Source.Archive). EINVALID for a bad archive (traversal, symlink out of the
	// tree, too large: the message says which entry and why).
	UploadSource(ctx context.Context, namespace string, archive io.Reader) (string, error)
	// Deploy records a new release and returns at once; the reconciler builds and rolls
	// it out. Follow progress with SubscribeEvents and BuildLog.
	Deploy(ctx context.Context, req DeployRequest) (*Release, error)
	ListServices(ctx context.Context, namespace string) ([]*ServiceView, error)
	GetService(ctx context.Context, namespace, name string) (*ServiceView, error)
	// DeleteService marks the service deleted; the reconciler stops its instances.
	DeleteService(ctx context.Context, namespace, name string) error
	GetRelease(ctx context.Context, namespace, id string) (*Release, error)
	ListReleases(ctx context.Context, namespace, service string) ([]*Release, error)
	GetBuild(ctx context.Context, namespace, id string) (*Build, error)
	// BuildLog streams a build's output lines; with follow, until the build ends.
	BuildLog(ctx context.Context, namespace, id string, follow bool) (<-chan string, error)

	// Call makes one RPC into a namespace (see Mesh.Call).
	Call(ctx context.Context, req CallRequest) ([]byte, error)
	// Logs streams a service's instance output.
	Logs(ctx context.Context, q LogQuery) (<-chan LogEntry, error)
	// Events lists stored events.
	Events(ctx context.Context, f EventFilter) ([]*Event, error)
	// SubscribeEvents sends stored events after f.AfterID, then live ones, until ctx ends.
	SubscribeEvents(ctx context.Context, f EventFilter) (<-chan *Event, error)

	// RegisterRegion creates or updates a region (what `platform infra apply` does for
	// each region it creates); admin only. EINVALID for a bad region.
	RegisterRegion(ctx context.Context, r *Region) (*Region, error)
	// ListRegions returns every region; any authenticated caller may list them.
	ListRegions(ctx context.Context) ([]*Region, error)
	// DeleteRegion unregisters a region; admin only. ENOTFOUND if absent.
	DeleteRegion(ctx context.Context, name string) error

	// CreateToken creates a token and returns its secret, shown once; admin only.
	CreateToken(ctx context.Context, req CreateTokenRequest) (*Token, string, error)
	ListTokens(ctx context.Context) ([]*Token, error)
	DeleteToken(ctx context.Context, id string) error
}

// CreateTokenRequest describes a new token.
type CreateTokenRequest struct {
	Name       string        `json:"name"`
	Admin      bool          `json:"admin"`
	Namespaces []string      `json:"namespaces,omitempty"`
	TTL        time.Duration `json:"ttl,omitempty"`
}

// Authenticator resolves a bearer secret to its token: EUNAUTHENTICATED for an unknown,
// expired or revoked secret. Implementations cache, so gateway requests do not hit the
// store on the hot path.
type Authenticator interface {
	Authenticate(ctx context.Context, secret string) (*Token, error)
}
