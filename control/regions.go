package control

import (
	"context"
	"slices"

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
