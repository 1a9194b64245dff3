package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/micro/platform"
)

var _ platform.NamespaceStore = (*Store)(nil)

func namespaceNotFound(name string) error {
	return platform.Errorf(platform.ENOTFOUND, "namespace %q not found", name).
		WithHint("create it with `platform namespaces create %s`", name)
}

// CreateNamespace stores ns, setting CreatedAt when zero and Org to DefaultOrg when
// empty. Returns EINVALID for a bad name, ENOTFOUND for an unknown org, ECONFLICT if it
// exists.
func (s *Store) CreateNamespace(ctx context.Context, ns *platform.Namespace) error {
	if err := platform.ValidateName("namespace", ns.Name); err != nil {
		return err
	}
	org := ns.Org
	if org == "" {
		org = platform.DefaultOrg
	}
	created := orNow(ns.CreatedAt)
	err := s.inTx(ctx, func(tx conn) error {
		// namespaces.org has no foreign key (see migration 00004): check it here.
		if err := orgExists(ctx, tx, org); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `INSERT INTO namespaces (name, org, created_at) VALUES (?, ?, ?)`, ns.Name, org, micros(created))
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

// GetNamespace returns ENOTFOUND if there is no such namespace.
func (s *Store) GetNamespace(ctx context.Context, name string) (*platform.Namespace, error) {
	var created int64
	var org string
	err := s.r.queryRow(ctx, `SELECT org, created_at FROM namespaces WHERE name = ?`, name).Scan(&org, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, namespaceNotFound(name)
	}
	if err != nil {
		return nil, fmt.Errorf("get namespace %s: %w", name, err)
	}
	return &platform.Namespace{Name: name, Org: org, CreatedAt: fromMicros(created)}, nil
}

// ListNamespaces returns all namespaces ordered by name.
func (s *Store) ListNamespaces(ctx context.Context) ([]*platform.Namespace, error) {
	rows, err := s.r.query(ctx, `SELECT name, org, created_at FROM namespaces ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	defer rows.Close()
	list := []*platform.Namespace{}
	for rows.Next() {
		var ns platform.Namespace
		var created int64
		if err := rows.Scan(&ns.Name, &ns.Org, &created); err != nil {
			return nil, fmt.Errorf("list namespaces: %w", err)
		}
		ns.CreatedAt = fromMicros(created)
		list = append(list, &ns)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	return list, nil
}

// DeleteNamespace removes the namespace and everything stored under it in one
// transaction: services, builds, releases and instances go by cascading foreign keys,
// events and usage (which have no foreign key) explicitly. Returns ENOTFOUND if absent.
func (s *Store) DeleteNamespace(ctx context.Context, name string) error {
	err := s.inTx(ctx, func(tx conn) error {
		if _, err := tx.exec(ctx, `DELETE FROM events WHERE namespace = ?`, name); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM request_usage WHERE namespace = ?`, name); err != nil {
			return err
		}
		return tx.execOne(ctx, namespaceNotFound(name), `DELETE FROM namespaces WHERE name = ?`, name)
	})
	return wrap("delete namespace "+name, err)
}
