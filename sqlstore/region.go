package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/micro/platform"
)

var _ platform.RegionStore = (*Store)(nil)

// PutRegion creates or replaces the region named r.Name, keeping the CreatedAt of an
// existing one. EINVALID for a bad region.
func (s *Store) PutRegion(ctx context.Context, r *platform.Region) error {
	if err := r.Validate(); err != nil {
		return err
	}
	now := orNow(r.UpdatedAt)
	created := orNow(r.CreatedAt)
	_, err := s.w.exec(ctx, `INSERT INTO regions (name, provider, location, gateway_endpoint, kubeconfig_ref, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET provider = excluded.provider, location = excluded.location,
			gateway_endpoint = excluded.gateway_endpoint, kubeconfig_ref = excluded.kubeconfig_ref,
			updated_at = excluded.updated_at`,
		r.Name, r.Provider, r.Location, r.GatewayEndpoint, r.KubeconfigRef, micros(created), micros(now))
	if err != nil {
		return fmt.Errorf("put region %s: %w", r.Name, err)
	}
	stored, err := s.GetRegion(ctx, r.Name)
	if err != nil {
		return err
	}
	*r = *stored
	return nil
}

// GetRegion returns ENOTFOUND if absent.
func (s *Store) GetRegion(ctx context.Context, name string) (*platform.Region, error) {
	r, err := scanRegion(s.r.queryRow(ctx, `SELECT name, provider, location, gateway_endpoint, kubeconfig_ref, created_at, updated_at
		FROM regions WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, platform.Errorf(platform.ENOTFOUND, "region %q not found", name)
	}
	if err != nil {
		return nil, fmt.Errorf("get region %s: %w", name, err)
	}
	return r, nil
}

// ListRegions returns all regions ordered by name.
func (s *Store) ListRegions(ctx context.Context) ([]*platform.Region, error) {
	rows, err := s.r.query(ctx, `SELECT name, provider, location, gateway_endpoint, kubeconfig_ref, created_at, updated_at
		FROM regions ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list regions: %w", err)
	}
	defer rows.Close()
	list := []*platform.Region{}
	for rows.Next() {
		r, err := scanRegion(rows)
		if err != nil {
			return nil, fmt.Errorf("list regions: %w", err)
		}
		list = append(list, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list regions: %w", err)
	}
	return list, nil
}

// DeleteRegion returns ENOTFOUND if absent.
func (s *Store) DeleteRegion(ctx context.Context, name string) error {
	err := s.w.execOne(ctx, platform.Errorf(platform.ENOTFOUND, "region %q not found", name), `DELETE FROM regions WHERE name = ?`, name)
	return wrap("delete region "+name, err)
}

func scanRegion(row interface{ Scan(...any) error }) (*platform.Region, error) {
	var r platform.Region
	var created, updated int64
	if err := row.Scan(&r.Name, &r.Provider, &r.Location, &r.GatewayEndpoint, &r.KubeconfigRef, &created, &updated); err != nil {
		return nil, err
	}
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &r, nil
}
