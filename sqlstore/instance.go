package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math"

	"github.com/micro/platform"
)

var _ platform.InstanceStore = (*Store)(nil)

const instanceColumns = `id, region, namespace, service, release_id, version, state, restarts, exit_code, message,
	registered, started_at, cpu_percent, memory_bytes`

// ReplaceInstances sets the instances of a service in one region to exactly list, in one
// transaction; the service's instances in other regions stay. Each instance's Region,
// Namespace and Service are set from the arguments. Returns EINVALID without a region or
// for an instance without an ID or a duplicate ID, ENOTFOUND if the service does not
// exist, ECONFLICT if an instance's ID is the service's in another region (IDs are
// unique across regions).
func (s *Store) ReplaceInstances(ctx context.Context, namespace, service, region string, list []*platform.Instance) error {
	var problems []string
	if region == "" {
		problems = append(problems, "instances need a region")
	}
	seen := make(map[string]bool, len(list))
	for i, in := range list {
		switch {
		case in.ID == "":
			problems = append(problems, fmt.Sprintf("instance %d has no ID", i))
		case seen[in.ID]:
			problems = append(problems, fmt.Sprintf("instance ID %q appears twice", in.ID))
		}
		seen[in.ID] = true
	}
	if err := invalid(problems); err != nil {
		return err
	}
	err := s.inTx(ctx, func(tx conn) error {
		_, err := tx.exec(ctx, `DELETE FROM instances WHERE namespace = ? AND service = ? AND region = ?`,
			namespace, service, region)
		if err != nil {
			return err
		}
		for _, in := range list {
			mem := int64(min(in.MemoryBytes, math.MaxInt64))
			_, err := tx.exec(ctx, `INSERT INTO instances (`+instanceColumns+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				in.ID, region, namespace, service, in.ReleaseID, in.Version, string(in.State), in.Restarts, in.ExitCode,
				in.Message, in.Registered, nullMicros(&in.StartedAt), in.CPUPercent, mem)
			if isForeignKeyViolation(err) {
				return serviceNotFound(namespace, service)
			}
			if isUniqueViolation(err) {
				return platform.Errorf(platform.ECONFLICT, "instance %q of service %q in namespace %q is in another region",
					in.ID, service, namespace)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return wrap("replace instances", err)
	}
	for _, in := range list {
		in.Region, in.Namespace, in.Service = region, namespace, service
	}
	return nil
}

// ListInstances returns a service's instances, of every region, ordered by region then
// ID; with service "" those of the namespace and with namespace "" every instance, also
// ordered by region then ID.
func (s *Store) ListInstances(ctx context.Context, namespace, service string) ([]*platform.Instance, error) {
	q := `SELECT ` + instanceColumns + ` FROM instances`
	var args []any
	switch {
	case namespace != "" && service != "":
		q += ` WHERE namespace = ? AND service = ? ORDER BY region, id`
		args = append(args, namespace, service)
	case namespace != "":
		q += ` WHERE namespace = ? ORDER BY region, id, service`
		args = append(args, namespace)
	default:
		q += ` ORDER BY region, id, namespace, service`
	}
	rows, err := s.r.query(ctx, q, args...)
	if err != nil {
		return nil, wrap("list instances", err)
	}
	defer rows.Close()
	list := []*platform.Instance{}
	for rows.Next() {
		var in platform.Instance
		var state string
		var started sql.NullInt64
		var mem int64
		err := rows.Scan(&in.ID, &in.Region, &in.Namespace, &in.Service, &in.ReleaseID, &in.Version, &state, &in.Restarts,
			&in.ExitCode, &in.Message, &in.Registered, &started, &in.CPUPercent, &mem)
		if err != nil {
			return nil, wrap("list instances", err)
		}
		in.State = platform.InstanceState(state)
		in.StartedAt = timeOrZero(started)
		in.MemoryBytes = uint64(mem)
		list = append(list, &in)
	}
	return list, wrap("list instances", rows.Err())
}
