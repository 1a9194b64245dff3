package control

import (
	"context"

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
	for _, r := range list {
		if r.Name == "local" && r.Provider == "local" {
			r.Isolation = p.opts.Isolation
		}
	}
	return list, nil
}

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
