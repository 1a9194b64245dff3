package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/micro/platform"
)

var _ platform.ServiceStore = (*Store)(nil)

const serviceColumns = `namespace, name, desired_release, current_release, status, reason, deleted, regions,
	created_at, updated_at`

func serviceNotFound(namespace, name string) error {
	return platform.Errorf(platform.ENOTFOUND, "service %q not found in namespace %q", name, namespace)
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

func scanService(sc scanner) (*platform.Service, error) {
	var svc platform.Service
	var status, regions string
	var created, updated int64
	err := sc.Scan(&svc.Namespace, &svc.Name, &svc.DesiredRelease, &svc.CurrentRelease, &status,
		&svc.Reason, &svc.Deleted, &regions, &created, &updated)
	if err != nil {
		return nil, err
	}
	if svc.Regions, err = decodeRegions(regions); err != nil {
		return nil, fmt.Errorf("service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	svc.Status = platform.ServiceStatus(status)
	svc.CreatedAt = fromMicros(created)
	svc.UpdatedAt = fromMicros(updated)
	return &svc, nil
}

// GetService returns ENOTFOUND if there is no such service.
func (s *Store) GetService(ctx context.Context, namespace, name string) (*platform.Service, error) {
	row := s.r.queryRow(ctx, `SELECT `+serviceColumns+` FROM services WHERE namespace = ? AND name = ?`, namespace, name)
	svc, err := scanService(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, serviceNotFound(namespace, name)
	}
	return svc, wrap("get service", err)
}

// ListServices returns the services of a namespace ordered by name; with namespace "" it
// returns every service of every namespace, ordered by namespace then name.
func (s *Store) ListServices(ctx context.Context, namespace string) ([]*platform.Service, error) {
	q := `SELECT ` + serviceColumns + ` FROM services`
	var args []any
	if namespace != "" {
		q += ` WHERE namespace = ?`
		args = append(args, namespace)
	}
	rows, err := s.r.query(ctx, q+` ORDER BY namespace, name`, args...)
	if err != nil {
		return nil, wrap("list services", err)
	}
	defer rows.Close()
	list := []*platform.Service{}
	for rows.Next() {
		svc, err := scanService(rows)
		if err != nil {
			return nil, wrap("list services", err)
		}
		list = append(list, svc)
	}
	return list, wrap("list services", rows.Err())
}

// UpdateService writes the status fields (CurrentRelease, Status, Reason, Deleted) of an
// existing service and sets its UpdatedAt; its DesiredRelease and Regions change only
// with Deploy. Returns ENOTFOUND if absent.
func (s *Store) UpdateService(ctx context.Context, svc *platform.Service) error {
	updated := now()
	err := s.w.execOne(ctx, serviceNotFound(svc.Namespace, svc.Name),
		`UPDATE services SET current_release = ?, status = ?, reason = ?, deleted = ?, updated_at = ?
		 WHERE namespace = ? AND name = ?`,
		svc.CurrentRelease, string(svc.Status), svc.Reason, svc.Deleted, micros(updated), svc.Namespace, svc.Name)
	if err != nil {
		return wrap("update service", err)
	}
	svc.UpdatedAt = updated
	return nil
}

// DeleteService removes the service row and, by cascading foreign keys, its builds,
// releases and instances. Returns ENOTFOUND if absent.
func (s *Store) DeleteService(ctx context.Context, namespace, name string) error {
	err := s.w.execOne(ctx, serviceNotFound(namespace, name),
		`DELETE FROM services WHERE namespace = ? AND name = ?`, namespace, name)
	return wrap("delete service", err)
}
