package platform

import (
	"context"
	"net/url"
	"strings"
	"time"
)

// Region is one addressable runtime environment the control plane can deploy to: the
// embedded local region of `platform server`, or a cluster created by `platform infra
// apply` and registered with its outputs.
type Region struct {
	Name     string `json:"name"`
	Provider string `json:"provider"` // local, digitalocean, aws, azure, gcp
	Location string `json:"location,omitempty"`
	// GatewayEndpoint is the URL of the region's gateway.
	GatewayEndpoint string `json:"gateway_endpoint,omitempty"`
	// KubeconfigRef names where the region's kubeconfig is kept (a path or a secret
	// reference), never the kubeconfig itself.
	KubeconfigRef string `json:"kubeconfig_ref,omitempty"`
	// Isolation says how the region's runtime confines tenants' code: "sandboxed", or
	// "partial: " and what the host lacks. Reported by the region, not stored.
	Isolation string `json:"isolation,omitempty"`
	// TokenHash is the hex SHA-256 of the region token its agent presents; "" when no
	// token was issued (no agent may connect). Never serialised.
	TokenHash string `json:"-"`
	// LastSeen is when its agent was last connected; AgentVersion the version it runs.
	LastSeen     *time.Time `json:"last_seen,omitempty"`
	AgentVersion string     `json:"agent_version,omitempty"`
	// Health is reported by the control plane, not stored: connected, lost (its agent
	// was connected and is not), or waiting (no agent has connected yet).
	Health RegionHealth `json:"health,omitempty"`
	// Services is how many services are placed in the region (reported, not stored).
	Services int `json:"services"`
	// Runtime and Capacity are what the agent reported when it connected (not stored).
	Runtime   string    `json:"runtime,omitempty"`
	CPUMillis int64     `json:"cpu_millis,omitempty"`
	MemoryMB  int64     `json:"memory_mb,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// RegionHealth is whether a region's agent is connected.
type RegionHealth string

// Region healths.
const (
	RegionConnected RegionHealth = "connected"
	RegionLost      RegionHealth = "lost"
	RegionWaiting   RegionHealth = "waiting"
)

// Validate reports every problem with r at once (EINVALID).
func (r *Region) Validate() error {
	var problems []string
	if err := ValidateName("region", r.Name); err != nil {
		problems = append(problems, ErrorMessage(err))
	}
	switch r.Provider {
	case "local", "digitalocean", "aws", "azure", "gcp":
	default:
		problems = append(problems, "provider "+quote(r.Provider)+": want one of local, digitalocean, aws, azure, gcp")
	}
	if r.GatewayEndpoint != "" {
		u, err := url.Parse(r.GatewayEndpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			problems = append(problems, "gateway_endpoint "+quote(r.GatewayEndpoint)+": want an http(s) URL")
		}
	}
	if len(problems) > 0 {
		return Errorf(EINVALID, "invalid region: %s", strings.Join(problems, "; "))
	}
	return nil
}

func quote(s string) string { return `"` + s + `"` }

// RegionStore keeps regions.
type RegionStore interface {
	// PutRegion creates or replaces the region named r.Name (EINVALID for a bad region),
	// keeping CreatedAt of an existing one.
	PutRegion(ctx context.Context, r *Region) error
	// GetRegion returns ENOTFOUND if absent.
	GetRegion(ctx context.Context, name string) (*Region, error)
	// ListRegions returns all regions ordered by name.
	ListRegions(ctx context.Context) ([]*Region, error)
	// DeleteRegion returns ENOTFOUND if absent.
	DeleteRegion(ctx context.Context, name string) error
	// SetRegionToken sets the hash of the region's token ("" revokes it); ENOTFOUND if
	// absent.
	SetRegionToken(ctx context.Context, name, hash string) error
	// RegionByTokenHash returns the region whose token has this hash (ENOTFOUND if none).
	RegionByTokenHash(ctx context.Context, hash string) (*Region, error)
	// TouchRegion records that the region's agent (of version agentVersion) was connected
	// at seen; ENOTFOUND if absent.
	TouchRegion(ctx context.Context, name string, seen time.Time, agentVersion string) error
}
