package control

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	platform "github.com/micro/platform"
	"github.com/micro/platform/authz"
)

// RegisterRegion implements platform.ControlPlane.
func (p *Plane) RegisterRegion(ctx context.Context, r *platform.Region) (*platform.Region, error) {
	if err := p.authorize(ctx, authz.RegionManage); err != nil {
		return nil, err
	}
	reg := *r
	reg.UpdatedAt = p.opts.Clock.Now().UTC()
	if reg.CreatedAt.IsZero() {
		reg.CreatedAt = reg.UpdatedAt
	}
	if err := p.store.PutRegion(ctx, &reg); err != nil {
		return nil, err
	}
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditRegionRegister, Target: "region/" + reg.Name, Detail: reg.Provider + " " + reg.Location})
	return &reg, nil
}

// ListRegions implements platform.ControlPlane.
func (p *Plane) ListRegions(ctx context.Context) ([]*platform.Region, error) {
	if err := p.authorize(ctx, authz.RegionRead); err != nil {
		return nil, err
	}
	list, err := p.store.ListRegions(ctx)
	if err != nil {
		return nil, err
	}
	svcs, err := p.store.ListServices(ctx, "")
	if err != nil {
		return nil, err
	}
	nss, err := p.store.ListNamespaces(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]*platform.Namespace{}
	for _, ns := range nss {
		byName[ns.Name] = ns
	}
	for _, r := range list {
		st := p.links.status(r.Name, "")
		r.Health = st.health
		if st.health == platform.RegionConnected {
			now := p.opts.Clock.Now().UTC()
			r.LastSeen = &now
		}
		if info := st.info; info != nil {
			r.Isolation, r.Runtime = info.GetIsolation(), info.GetRuntime()
			r.CPUMillis, r.MemoryMB = info.GetCapacity().GetCpuMillis(), info.GetCapacity().GetMemoryBytes()>>20
			if info.GetAgentVersion() != "" {
				r.AgentVersion = info.GetAgentVersion()
			}
			if r.GatewayEndpoint == "" {
				r.GatewayEndpoint = info.GetGatewayEndpoint()
			}
		}
		for _, s := range svcs {
			if !s.Deleted && slices.Contains(p.placement(s, byName[s.Namespace]), r.Name) {
				r.Services++
			}
		}
	}
	return list, nil
}

// DesiredStatesSent returns how many desired states this process sent to regions: a
// region gets one when it connects and when what it must run changes, none otherwise.
func (p *Plane) DesiredStatesSent() int64 { return p.links.sent() }

// DeleteRegion implements platform.ControlPlane.
func (p *Plane) DeleteRegion(ctx context.Context, name string) error {
	if err := p.authorize(ctx, authz.RegionManage); err != nil {
		return err
	}
	if err := p.store.DeleteRegion(ctx, name); err != nil {
		return err
	}
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditRegionDelete, Target: "region/" + name})
	return nil
}

// RegionSeed is a region the control plane is told of at start rather than through the
// API: `platform infra apply` writes one per agent region of platform.yaml into the
// control region's cluster (the Secret platform-region-tokens), with the hash of the
// token it gave that region's agent.
type RegionSeed struct {
	Name     string `json:"-"`
	Provider string `json:"provider"`
	Location string `json:"location,omitempty"`
	// TokenHash is the hex SHA-256 of the region's agent token; never the token.
	TokenHash string `json:"hash"`
}

// ParseRegionSeeds decodes a region tokens file: a JSON object from region name to
// {"hash", "provider", "location"}. It returns the seeds sorted by name, or EINVALID
// listing every problem.
func ParseRegionSeeds(data []byte) ([]RegionSeed, error) {
	var m map[string]RegionSeed
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, platform.Errorf(platform.EINVALID, "region tokens: want a JSON object of region name to {\"hash\", \"provider\", \"location\"}: %v", err)
	}
	var problems []string
	seeds := make([]RegionSeed, 0, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		s := m[name]
		s.Name = name
		if !tokenHashRE.MatchString(s.TokenHash) {
			problems = append(problems, fmt.Sprintf("region %q: hash: want the hex SHA-256 of its token (64 lowercase hexadecimal characters)", name))
		}
		if err := (&platform.Region{Name: name, Provider: s.Provider}).Validate(); err != nil {
			problems = append(problems, fmt.Sprintf("region %q: %s", name, strings.TrimPrefix(platform.ErrorMessage(err), "invalid region: ")))
		}
		seeds = append(seeds, s)
	}
	if len(problems) > 0 {
		return nil, platform.Errorf(platform.EINVALID, "region tokens:\n%s", strings.Join(problems, "\n"))
	}
	return seeds, nil
}

var tokenHashRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// BootstrapRegions creates or updates each seeded region and sets the hash of its agent's
// token, so that agents installed by `platform infra apply` connect without anyone
// issuing them a token through the API. A seed's provider and location replace the
// region's; its other fields (gateway endpoint, kubeconfig reference) are kept. A seed's
// hash wins over a token issued through the API for that region, which is revoked (and
// its agent disconnected); that is logged, and neither the token nor its hash ever is.
// Running it again with the same seeds changes nothing. It acts as the platform itself,
// not as a caller: run it at start only. EINVALID for a seed named after the in-process
// region or an invalid one, ECONFLICT when another region already has a seed's hash.
func (p *Plane) BootstrapRegions(ctx context.Context, seeds []RegionSeed) error {
	var first error
	var problems []string
	for _, s := range seeds {
		if err := p.bootstrapRegion(ctx, s); err != nil {
			first = cmp.Or(first, err)
			problems = append(problems, fmt.Sprintf("region %s: %s", s.Name, platform.ErrorMessage(err)))
		}
	}
	if first != nil {
		return platform.Errorf(platform.ErrorCode(first), "bootstrap regions:\n%s", strings.Join(problems, "\n"))
	}
	return nil
}

func (p *Plane) bootstrapRegion(ctx context.Context, s RegionSeed) error {
	if s.Name == p.opts.LocalRegion {
		return platform.Errorf(platform.EINVALID, "%q is the control plane's own region, which runs no agent", s.Name).
			WithHint("rename the region in platform.yaml")
	}
	now := p.opts.Clock.Now().UTC()
	reg := &platform.Region{Name: s.Name, CreatedAt: now}
	old, err := p.store.GetRegion(ctx, s.Name)
	switch {
	case err == nil:
		if old.Provider == s.Provider && old.Location == s.Location && old.TokenHash == s.TokenHash {
			return nil
		}
		reg = old
	case !platform.IsNotFound(err):
		return err
	}
	replaced := reg.TokenHash != "" && reg.TokenHash != s.TokenHash
	reg.Provider, reg.Location, reg.TokenHash, reg.UpdatedAt = s.Provider, s.Location, s.TokenHash, now
	if err := p.store.PutRegion(ctx, reg); err != nil {
		return err
	}
	if replaced {
		p.logger.Warn("region token replaced by the one platform infra apply gave its agent; the token issued through the API no longer works", "region", s.Name)
		p.links.disconnect(s.Name)
	} else {
		p.logger.Info("region bootstrapped with the token platform infra apply gave its agent", "region", s.Name)
	}
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditRegionToken, Target: "region/" + s.Name, Detail: "from the region tokens file"})
	return nil
}
