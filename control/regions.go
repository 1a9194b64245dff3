package control

import (
	"context"

	platform "github.com/micro/platform"
)

// RegisterRegion implements platform.ControlPlane.
func (p *Plane) RegisterRegion(ctx context.Context, r *platform.Region) (*platform.Region, error) {
	if err := platform.Authorize(ctx, ""); err != nil {
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
	return &reg, nil
}

// ListRegions implements platform.ControlPlane.
func (p *Plane) ListRegions(ctx context.Context) ([]*platform.Region, error) {
	if platform.TokenFromContext(ctx) == nil {
		return nil, platform.Authorize(ctx, "")
	}
	return p.store.ListRegions(ctx)
}

// DeleteRegion implements platform.ControlPlane.
func (p *Plane) DeleteRegion(ctx context.Context, name string) error {
	if err := platform.Authorize(ctx, ""); err != nil {
		return err
	}
	return p.store.DeleteRegion(ctx, name)
}
