package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/micro/platform"
)

var _ platform.NamespaceStore = (*Store)(nil)

func namespaceNotFound(name string) error {
	return platform.Errorf(platform.ENOTFOUND, "namespace %q not found", name).
		WithHint("create it with `platform namespaces create %s`", name)
}

// CreateNamespace stores ns, setting CreatedAt when zero and Org to DefaultOrg when
// empty. Returns EINVALID for a bad name or regions, ENOTFOUND for an unknown org,
// ECONFLICT if it exists or if its name was ever used by another organisation (see
// namespace_names in migration 00006).
func (s *Store) CreateNamespace(ctx context.Context, ns *platform.Namespace) error {
	var problems []string
	if p := nameProblem("namespace", ns.Name); p != "" {
		problems = append(problems, p)
	}
	problems = append(problems, placementProblems("namespace regions", ns.Regions)...)
	if err := invalid(problems); err != nil {
		return err
	}
	regions, err := encodeRegions(ns.Regions)
	if err != nil {
		return wrap("create namespace "+ns.Name, err)
	}
	org := ns.Org
	if org == "" {
		org = platform.DefaultOrg
	}
	created := orNow(ns.CreatedAt)
	err = s.inTx(ctx, func(tx conn) error {
		// namespaces.org has no foreign key (see migration 00004): check it here.
		if err := orgExists(ctx, tx, org); err != nil {
			return err
		}
		if err := claimNamespaceName(ctx, tx, ns.Name, org, created); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `INSERT INTO namespaces (name, org, regions, dev, created_at) VALUES (?, ?, ?, ?, ?)`,
			ns.Name, org, regions, ns.Dev, micros(created))
		if isUniqueViolation(err) {
			return platform.Errorf(platform.ECONFLICT, "namespace %q already exists", ns.Name)
		}
		return err
	})
	if err != nil {
		return wrap("create namespace "+ns.Name, err)
	}
	ns.CreatedAt, ns.Org = created, org
	return nil
}

// claimNamespaceName records that org uses name, or returns ECONFLICT when another
// organisation used it before: credentials and image repositories are derived from the
// name, so handing it to a second organisation would hand over the first one's.
func claimNamespaceName(ctx context.Context, tx conn, name, org string, created time.Time) error {
	var owner string
	err := tx.queryRow(ctx, `SELECT org FROM namespace_names WHERE name = ?`, name).Scan(&owner)
	switch {
	case err == nil && owner == org:
		return nil
	case err == nil:
		return namespaceNameTaken(name)
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	_, err = tx.exec(ctx, `INSERT INTO namespace_names (name, org, created_at) VALUES (?, ?, ?)`, name, org, micros(created))
	if isUniqueViolation(err) {
		// Another organisation claimed the name at the same moment.
		return namespaceNameTaken(name)
	}
	return err
}

func namespaceNameTaken(name string) error {
	return platform.Errorf(platform.ECONFLICT, "namespace name %q belongs to another organisation", name).
		WithHint("namespace names are global and never reused across organisations; choose another name")
}

const namespaceColumns = `name, org, regions, dev, created_at`

func scanNamespace(sc scanner) (*platform.Namespace, error) {
	var ns platform.Namespace
	var regions string
	var created int64
	if err := sc.Scan(&ns.Name, &ns.Org, &regions, &ns.Dev, &created); err != nil {
		return nil, err
	}
	var err error
	if ns.Regions, err = decodeRegions(regions); err != nil {
		return nil, fmt.Errorf("namespace %s: %w", ns.Name, err)
	}
	ns.CreatedAt = fromMicros(created)
	return &ns, nil
}

// GetNamespace returns ENOTFOUND if there is no such namespace.
func (s *Store) GetNamespace(ctx context.Context, name string) (*platform.Namespace, error) {
	ns, err := scanNamespace(s.r.queryRow(ctx, `SELECT `+namespaceColumns+` FROM namespaces WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, namespaceNotFound(name)
	}
	if err != nil {
		return nil, fmt.Errorf("get namespace %s: %w", name, err)
	}
	return ns, nil
}

// ListNamespaces returns all namespaces ordered by name.
func (s *Store) ListNamespaces(ctx context.Context) ([]*platform.Namespace, error) {
	rows, err := s.r.query(ctx, `SELECT `+namespaceColumns+` FROM namespaces ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	defer rows.Close()
	list := []*platform.Namespace{}
	for rows.Next() {
		ns, err := scanNamespace(rows)
		if err != nil {
			return nil, fmt.Errorf("list namespaces: %w", err)
		}
		list = append(list, ns)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	return list, nil
}

// SetNamespaceRegions replaces the namespace's default regions (none: the platform's
// default region). Returns EINVALID for a bad or repeated region name, ENOTFOUND if the
// namespace is absent.
func (s *Store) SetNamespaceRegions(ctx context.Context, name string, regions []string) error {
	if err := invalid(placementProblems("namespace regions", regions)); err != nil {
		return err
	}
	raw, err := encodeRegions(regions)
	if err != nil {
		return wrap("set namespace regions "+name, err)
	}
	err = s.w.execOne(ctx, namespaceNotFound(name), `UPDATE namespaces SET regions = ? WHERE name = ?`, raw, name)
	return wrap("set namespace regions "+name, err)
}

// SetNamespaceDev turns the namespace's dev mode on or off. Returns ENOTFOUND if the
// namespace is absent.
func (s *Store) SetNamespaceDev(ctx context.Context, name string, dev bool) error {
	err := s.w.execOne(ctx, namespaceNotFound(name), `UPDATE namespaces SET dev = ? WHERE name = ?`, dev, name)
	return wrap("set namespace dev "+name, err)
}

// DeleteNamespace removes the namespace and everything stored under it in one
// transaction: services, builds, releases and instances go by cascading foreign keys,
// events and usage (which have no foreign key) explicitly. Tokens narrowed to the
// namespace lose it, and those left with no namespace are deleted (an empty list would
// mean every namespace). The name stays recorded as its organisation's. Returns
// ENOTFOUND if absent.
func (s *Store) DeleteNamespace(ctx context.Context, name string) error {
	err := s.inTx(ctx, func(tx conn) error {
		if _, err := tx.exec(ctx, `DELETE FROM events WHERE namespace = ?`, name); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM request_usage WHERE namespace = ?`, name); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM resource_usage WHERE namespace = ?`, name); err != nil {
			return err
		}
		if err := tx.execOne(ctx, namespaceNotFound(name), `DELETE FROM namespaces WHERE name = ?`, name); err != nil {
			return err
		}
		return unscopeTokens(ctx, tx, name)
	})
	return wrap("delete namespace "+name, err)
}

// unscopeTokens removes namespace name from every token narrowed to it, deleting the
// tokens narrowed to it alone.
func unscopeTokens(ctx context.Context, tx conn, name string) error {
	// Namespace names are DNS labels, so the JSON string cannot hold a LIKE wildcard.
	rows, err := tx.query(ctx, `SELECT id, namespaces FROM tokens WHERE namespaces LIKE ?`, `%"`+name+`"%`)
	if err != nil {
		return err
	}
	type scoped struct {
		id         string
		namespaces []string
	}
	var found []scoped
	for rows.Next() {
		var id, raw string
		if err := rows.Scan(&id, &raw); err != nil {
			rows.Close()
			return err
		}
		var list []string
		if err := unmarshalJSON(raw, &list); err != nil {
			rows.Close()
			return fmt.Errorf("token %s: %w", id, err)
		}
		found = append(found, scoped{id, list})
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, t := range found {
		rest := slices.DeleteFunc(t.namespaces, func(ns string) bool { return ns == name })
		if len(rest) == 0 {
			if _, err := tx.exec(ctx, `DELETE FROM tokens WHERE id = ?`, t.id); err != nil {
				return err
			}
			continue
		}
		raw, err := marshalJSON(rest, false)
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE tokens SET namespaces = ? WHERE id = ?`, raw, t.id); err != nil {
			return err
		}
	}
	return nil
}
