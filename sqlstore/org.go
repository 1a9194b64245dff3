package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/micro/platform"
)

var _ platform.OrgStore = (*Store)(nil)

func orgNotFound(name string) error {
	return platform.Errorf(platform.ENOTFOUND, "organisation %q not found", name)
}

// orgExists returns ENOTFOUND unless the org exists.
func orgExists(ctx context.Context, c conn, name string) error {
	var n int
	err := c.queryRow(ctx, `SELECT 1 FROM orgs WHERE name = ?`, name).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return orgNotFound(name)
	}
	return err
}

// CreateOrg stores o, setting CreatedAt when zero: EINVALID bad name, ECONFLICT if it
// exists.
func (s *Store) CreateOrg(ctx context.Context, o *platform.Org) error {
	if err := platform.ValidateName("organisation", o.Name); err != nil {
		return err
	}
	created := orNow(o.CreatedAt)
	_, err := s.w.exec(ctx, `INSERT INTO orgs (name, display_name, created_at) VALUES (?, ?, ?)`, o.Name, o.DisplayName, micros(created))
	if isUniqueViolation(err) {
		return platform.Errorf(platform.ECONFLICT, "organisation %q already exists", o.Name)
	}
	if err != nil {
		return fmt.Errorf("create org %s: %w", o.Name, err)
	}
	o.CreatedAt = created
	return nil
}

// GetOrg returns ENOTFOUND if there is no such org.
func (s *Store) GetOrg(ctx context.Context, name string) (*platform.Org, error) {
	o := platform.Org{Name: name}
	var created int64
	err := s.r.queryRow(ctx, `SELECT display_name, created_at FROM orgs WHERE name = ?`, name).Scan(&o.DisplayName, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, orgNotFound(name)
	}
	if err != nil {
		return nil, fmt.Errorf("get org %s: %w", name, err)
	}
	o.CreatedAt = fromMicros(created)
	return &o, nil
}

// ListOrgs returns every org ordered by name.
func (s *Store) ListOrgs(ctx context.Context) ([]*platform.Org, error) {
	rows, err := s.r.query(ctx, `SELECT name, display_name, created_at FROM orgs ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list orgs: %w", err)
	}
	defer rows.Close()
	list := []*platform.Org{}
	for rows.Next() {
		var o platform.Org
		var created int64
		if err := rows.Scan(&o.Name, &o.DisplayName, &created); err != nil {
			return nil, fmt.Errorf("list orgs: %w", err)
		}
		o.CreatedAt = fromMicros(created)
		list = append(list, &o)
	}
	return list, wrap("list orgs", rows.Err())
}

// SetGitHubLinks replaces the org's GitHub links in one transaction: ENOTFOUND unknown
// org, EINVALID a bad or repeated link (every problem is listed).
func (s *Store) SetGitHubLinks(ctx context.Context, org string, links []*platform.GitHubLink) error {
	var problems []string
	seen := map[string]bool{}
	for i, l := range links {
		switch {
		case l.GitHubOrg == "" || l.Team == "":
			problems = append(problems, fmt.Sprintf("link %d: GitHub organisation and team are required", i+1))
		case !l.Role.Valid():
			problems = append(problems, fmt.Sprintf("link %s/%s: role %q: want viewer, developer, admin or owner", l.GitHubOrg, l.Team, l.Role))
		case seen[l.GitHubOrg+"/"+l.Team]:
			problems = append(problems, fmt.Sprintf("link %s/%s is given twice", l.GitHubOrg, l.Team))
		}
		seen[l.GitHubOrg+"/"+l.Team] = true
	}
	if err := invalid(problems); err != nil {
		return err
	}
	err := s.inTx(ctx, func(tx conn) error {
		if err := orgExists(ctx, tx, org); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM github_links WHERE org = ?`, org); err != nil {
			return err
		}
		for _, l := range links {
			if _, err := tx.exec(ctx, `INSERT INTO github_links (org, github_org, team, role) VALUES (?, ?, ?, ?)`,
				org, l.GitHubOrg, l.Team, string(l.Role)); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap("set github links", err)
}

// ListGitHubLinks returns the org's links (every org's for ""), ordered by org, GitHub
// org and team.
func (s *Store) ListGitHubLinks(ctx context.Context, org string) ([]*platform.GitHubLink, error) {
	q := `SELECT org, github_org, team, role FROM github_links`
	var args []any
	if org != "" {
		q += ` WHERE org = ?`
		args = append(args, org)
	}
	rows, err := s.r.query(ctx, q+` ORDER BY org, github_org, team`, args...)
	if err != nil {
		return nil, fmt.Errorf("list github links: %w", err)
	}
	defer rows.Close()
	list := []*platform.GitHubLink{}
	for rows.Next() {
		var l platform.GitHubLink
		if err := rows.Scan(&l.Org, &l.GitHubOrg, &l.Team, &l.Role); err != nil {
			return nil, fmt.Errorf("list github links: %w", err)
		}
		list = append(list, &l)
	}
	return list, wrap("list github links", rows.Err())
}
