package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/micro/platform"
)

var _ platform.RegionStore = (*Store)(nil)

const regionColumns = `name, provider, location, gateway_endpoint, kubeconfig_ref, token_hash, last_seen, agent_version,
	created_at, updated_at`

func regionNotFound(name string) error {
	return platform.Errorf(platform.ENOTFOUND, "region %q not found", name)
}

func regionTokenTaken() error {
	// Which region holds the hash is not said: the hash stands for a secret.
	return platform.Errorf(platform.ECONFLICT, "another region has this token")
}

// PutRegion creates or replaces the region named r.Name, keeping the CreatedAt of an
// existing one, and its TokenHash, LastSeen and AgentVersion when r leaves them empty:
// `platform infra apply` registers its regions again, and that must not disconnect
// their agents. EINVALID for a bad region, ECONFLICT when another region has r's
// TokenHash.
func (s *Store) PutRegion(ctx context.Context, r *platform.Region) error {
	if err := r.Validate(); err != nil {
		return err
	}
	now := orNow(r.UpdatedAt)
	created := orNow(r.CreatedAt)
	_, err := s.w.exec(ctx, `INSERT INTO regions (`+regionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET provider = excluded.provider, location = excluded.location,
			gateway_endpoint = excluded.gateway_endpoint, kubeconfig_ref = excluded.kubeconfig_ref,
			token_hash = CASE WHEN excluded.token_hash = '' THEN regions.token_hash ELSE excluded.token_hash END,
			last_seen = COALESCE(excluded.last_seen, regions.last_seen),
			agent_version = CASE WHEN excluded.agent_version = '' THEN regions.agent_version ELSE excluded.agent_version END,
			updated_at = excluded.updated_at`,
		r.Name, r.Provider, r.Location, r.GatewayEndpoint, r.KubeconfigRef, r.TokenHash, nullMicros(r.LastSeen),
		r.AgentVersion, micros(created), micros(now))
	if isUniqueViolation(err) {
		return regionTokenTaken()
	}
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
	r, err := scanRegion(s.r.queryRow(ctx, `SELECT `+regionColumns+` FROM regions WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, regionNotFound(name)
	}
	if err != nil {
		return nil, fmt.Errorf("get region %s: %w", name, err)
	}
	return r, nil
}

// ListRegions returns all regions ordered by name.
func (s *Store) ListRegions(ctx context.Context) ([]*platform.Region, error) {
	rows, err := s.r.query(ctx, `SELECT `+regionColumns+` FROM regions ORDER BY name`)
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
	err := s.w.execOne(ctx, regionNotFound(name), `DELETE FROM regions WHERE name = ?`, name)
	return wrap("delete region "+name, err)
}

// SetRegionToken sets the hash of the region's token, "" revoking it, and sets its
// UpdatedAt. Returns ENOTFOUND if absent, ECONFLICT when another region has the hash.
func (s *Store) SetRegionToken(ctx context.Context, name, hash string) error {
	err := s.w.execOne(ctx, regionNotFound(name), `UPDATE regions SET token_hash = ?, updated_at = ? WHERE name = ?`,
		hash, micros(now()), name)
	if isUniqueViolation(err) {
		err = regionTokenTaken()
	}
	return wrap("set region token "+name, err)
}

// RegionByTokenHash returns the region whose token has this hash; ENOTFOUND if none has,
// and always for "", which no agent may present.
func (s *Store) RegionByTokenHash(ctx context.Context, hash string) (*platform.Region, error) {
	notFound := platform.Errorf(platform.ENOTFOUND, "no region has this token")
	if hash == "" {
		return nil, notFound
	}
	r, err := scanRegion(s.r.queryRow(ctx, `SELECT `+regionColumns+` FROM regions WHERE token_hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound
	}
	if err != nil {
		return nil, fmt.Errorf("region by token: %w", err)
	}
	return r, nil
}

// TouchRegion records that the region's agent, of version agentVersion, was connected at
// seen. It leaves UpdatedAt alone: that says when the region was last configured.
// Returns ENOTFOUND if absent.
func (s *Store) TouchRegion(ctx context.Context, name string, seen time.Time, agentVersion string) error {
	err := s.w.execOne(ctx, regionNotFound(name), `UPDATE regions SET last_seen = ?, agent_version = ? WHERE name = ?`,
		nullMicros(&seen), agentVersion, name)
	return wrap("touch region "+name, err)
}

func scanRegion(row scanner) (*platform.Region, error) {
	var r platform.Region
	var created, updated int64
	var lastSeen sql.NullInt64
	err := row.Scan(&r.Name, &r.Provider, &r.Location, &r.GatewayEndpoint, &r.KubeconfigRef, &r.TokenHash, &lastSeen,
		&r.AgentVersion, &created, &updated)
	if err != nil {
		return nil, err
	}
	r.LastSeen = timePtr(lastSeen)
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &r, nil
}

// placementProblems reports what is wrong with a list of region names: a bad name or
// one named twice.
func placementProblems(what string, regions []string) []string {
	var problems []string
	seen := make(map[string]bool, len(regions))
	for _, name := range regions {
		if p := nameProblem("region", name); p != "" {
			problems = append(problems, what+": "+p)
		} else if seen[name] {
			problems = append(problems, fmt.Sprintf("%s: region %q appears twice", what, name))
		}
		seen[name] = true
	}
	return problems
}

// encodeRegions is how a list of region names is stored: a JSON array, "" for none.
func encodeRegions(regions []string) (string, error) {
	return marshalJSON(regions, len(regions) == 0)
}

// decodeRegions is the inverse of encodeRegions; nil for none.
func decodeRegions(raw string) ([]string, error) {
	var list []string
	if err := unmarshalJSON(raw, &list); err != nil {
		return nil, fmt.Errorf("regions: %w", err)
	}
	return list, nil
}
