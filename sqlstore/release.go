package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/micro/platform"
)

var _ platform.ReleaseStore = (*Store)(nil)

const releaseColumns = `id, namespace, service, version, build_id, replicas, size, env, status, reason, artifact,
	regions, created_at, updated_at, digest, canary, origin`

func releaseNotFound(id string) error {
	return platform.Errorf(platform.ENOTFOUND, "release %q not found", id)
}

func scanRelease(sc scanner) (*platform.Release, error) {
	var r platform.Release
	var env, status, size, regions string
	var created, updated int64
	var origin sql.NullString
	err := sc.Scan(&r.ID, &r.Namespace, &r.Service, &r.Version, &r.BuildID, &r.Replicas, &size, &env, &status,
		&r.Reason, &r.Artifact, &regions, &created, &updated, &r.Digest, &r.Canary, &origin)
	if err != nil {
		return nil, err
	}
	if origin.Valid && origin.String != "" {
		r.Origin = new(platform.ReleaseOrigin)
		if err := unmarshalJSON(origin.String, r.Origin); err != nil {
			return nil, fmt.Errorf("release %s origin: %w", r.ID, err)
		}
	}
	if err := unmarshalJSON(env, &r.Env); err != nil {
		return nil, fmt.Errorf("release %s env: %w", r.ID, err)
	}
	if r.Regions, err = decodeRegions(regions); err != nil {
		return nil, fmt.Errorf("release %s: %w", r.ID, err)
	}
	r.Size = platform.Size(size)
	r.Status = platform.ReleaseStatus(status)
	r.CreatedAt = fromMicros(created)
	r.UpdatedAt = fromMicros(updated)
	return &r, nil
}

// Deploy records a new desired state in one transaction: it creates the service if it
// does not exist (or revives a deleted one), inserts b and r, marks the service's earlier
// unfinished (pending, building, rolling_out and canary) releases superseded, and sets
// the service's DesiredRelease to r.ID, its status to deploying and its Regions to
// r.Regions when r has any (a deploy naming no regions keeps the service's placement; a
// new service gets none).
//
// With b nil nothing is built: r reuses the build r.BuildID, which must be a succeeded
// build of r's service, and keeps the Artifact and Digest the caller copied into it (a
// rollback). Everything else is as for a deploy with a build.
//
// Empty fields are filled in and written back: IDs (platform.NewID), b's namespace and
// service from r, r.BuildID, statuses (queued, pending), timestamps, and r.Version as
// "v<N+1>" where N is the highest "v<number>" version the service ever had, so versions
// never repeat while the service row exists. Reviving a deleted service clears its
// CurrentRelease, since the reconciler stopped what served.
//
// Returns EINVALID for bad names (of r's regions too), an unknown size, a canary share
// outside 0..99, mismatched b and r, or with b nil a build that is unknown, of another
// service or not succeeded; ENOTFOUND if the namespace does not exist, ECONFLICT for a
// duplicate user-given version or a duplicate ID. Concurrent deploys to one service are
// serialised by the service row, written before any release is read.
func (s *Store) Deploy(ctx context.Context, b *platform.Build, r *platform.Release) error {
	if err := prepareDeploy(b, r); err != nil {
		return err
	}
	var version string
	err := s.inTx(ctx, func(tx conn) error {
		var err error
		version, err = deployTx(ctx, tx, b, r)
		return err
	})
	if err != nil {
		return wrap("deploy", err)
	}
	r.Version = version
	return nil
}

// prepareDeploy validates b (which may be nil) and r, reporting every problem at once,
// and fills in their empty fields.
func prepareDeploy(b *platform.Build, r *platform.Release) error {
	if b != nil {
		if b.Namespace == "" {
			b.Namespace = r.Namespace
		}
		if b.Service == "" {
			b.Service = r.Service
		}
		if b.ID == "" {
			b.ID = platform.NewID("b")
		}
		if r.BuildID == "" {
			r.BuildID = b.ID
		}
	}
	if r.ID == "" {
		r.ID = platform.NewID("r")
	}
	var problems []string
	for _, p := range []string{nameProblem("namespace", r.Namespace), nameProblem("service", r.Service)} {
		if p != "" {
			problems = append(problems, p)
		}
	}
	switch {
	case b == nil && r.BuildID == "":
		problems = append(problems, "a release deployed without a build must name the build it reuses")
	case b == nil:
	case b.Namespace != r.Namespace || b.Service != r.Service:
		problems = append(problems, fmt.Sprintf("build is for %s/%s but release is for %s/%s",
			b.Namespace, b.Service, r.Namespace, r.Service))
	case r.BuildID != b.ID:
		problems = append(problems, fmt.Sprintf("release names build %q but the build is %q", r.BuildID, b.ID))
	}
	if r.Canary < 0 || r.Canary > 99 {
		problems = append(problems, fmt.Sprintf("canary must be a percent from 1 to 99 (0 for none), got %d", r.Canary))
	}
	if r.Replicas < 0 {
		problems = append(problems, fmt.Sprintf("replicas must not be negative, got %d", r.Replicas))
	}
	if err := r.Size.Validate(); err != nil {
		problems = append(problems, platform.ErrorMessage(err))
	}
	if r.Version != "" && strings.TrimSpace(r.Version) != r.Version {
		problems = append(problems, fmt.Sprintf("version %q must not start or end with spaces", r.Version))
	}
	problems = append(problems, placementProblems("release regions", r.Regions)...)
	if err := invalid(problems); err != nil {
		return err
	}
	if r.Status == "" {
		r.Status = platform.ReleasePending
	}
	if b != nil {
		if b.Status == "" {
			b.Status = platform.BuildQueued
		}
		b.CreatedAt = orNow(b.CreatedAt)
	}
	r.CreatedAt = orNow(r.CreatedAt)
	r.UpdatedAt = r.CreatedAt
	return nil
}

// deployTx runs the statements of Deploy in tx and returns the release's version.
func deployTx(ctx context.Context, tx conn, b *platform.Build, r *platform.Release) (string, error) {
	var one int
	err := tx.queryRow(ctx, `SELECT 1 FROM namespaces WHERE name = ?`, r.Namespace).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return "", namespaceNotFound(r.Namespace)
	}
	if err != nil {
		return "", err
	}
	if b == nil {
		if err := checkReusedBuild(ctx, tx, r); err != nil {
			return "", err
		}
	}
	// Writing the service row first takes its row lock on PostgreSQL, which serialises
	// concurrent deploys to the service; SQLite has one writer anyway.
	ts := micros(r.CreatedAt)
	regions, err := encodeRegions(r.Regions)
	if err != nil {
		return "", err
	}
	_, err = tx.exec(ctx, `INSERT INTO services (namespace, name, desired_release, current_release, status, reason,
			deleted, regions, created_at, updated_at)
		VALUES (?, ?, ?, '', ?, '', ?, ?, ?, ?)
		ON CONFLICT (namespace, name) DO UPDATE SET
			desired_release = excluded.desired_release,
			current_release = CASE WHEN services.deleted THEN '' ELSE services.current_release END,
			status = excluded.status, reason = '', deleted = excluded.deleted,
			regions = CASE WHEN excluded.regions = '' THEN services.regions ELSE excluded.regions END,
			updated_at = excluded.updated_at`,
		r.Namespace, r.Service, r.ID, string(platform.ServiceDeploying), false, regions, ts, ts)
	if isForeignKeyViolation(err) {
		return "", namespaceNotFound(r.Namespace)
	}
	if err != nil {
		return "", err
	}
	seq, version, err := nextVersion(ctx, tx, r)
	if err != nil {
		return "", err
	}
	if b != nil {
		if err := insertBuild(ctx, tx, b, seq); err != nil {
			return "", err
		}
	}
	if err := insertRelease(ctx, tx, r, seq, version); err != nil {
		return "", err
	}
	// A canary runs beside the live release until promoted: a newer deploy replaces it
	// as it replaces a release still on its way.
	_, err = tx.exec(ctx, `UPDATE releases SET status = ?, updated_at = ?
		WHERE namespace = ? AND service = ? AND id <> ? AND status IN (?, ?, ?, ?)`,
		string(platform.ReleaseSuperseded), ts, r.Namespace, r.Service, r.ID,
		string(platform.ReleasePending), string(platform.ReleaseBuilding), string(platform.ReleaseRollingOut),
		string(platform.ReleaseCanary))
	return version, err
}

// checkReusedBuild returns EINVALID unless r.BuildID is a succeeded build of r's
// service: a release deployed without a build runs that build's artifact again.
func checkReusedBuild(ctx context.Context, tx conn, r *platform.Release) error {
	var namespace, service, status string
	err := tx.queryRow(ctx, `SELECT namespace, service, status FROM builds WHERE id = ?`, r.BuildID).
		Scan(&namespace, &service, &status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return platform.Errorf(platform.EINVALID, "build %s does not exist: nothing to roll back to", r.BuildID)
	case err != nil:
		return err
	case namespace != r.Namespace || service != r.Service:
		return platform.Errorf(platform.EINVALID, "build %s is of %s/%s, not %s/%s: a release reuses a build of its own service",
			r.BuildID, namespace, service, r.Namespace, r.Service)
	case platform.BuildStatus(status) != platform.BuildSucceeded:
		return platform.Errorf(platform.EINVALID, "build %s of %s/%s did not succeed (it is %s): nothing to roll back to",
			r.BuildID, r.Namespace, r.Service, status)
	}
	return nil
}

// nextVersion returns the sequence number of the service's next release and its version:
// r.Version if it is free (ECONFLICT if not), else one past the highest "v<N>" so far.
func nextVersion(ctx context.Context, tx conn, r *platform.Release) (int64, string, error) {
	var seq int64
	err := tx.queryRow(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM releases WHERE namespace = ? AND service = ?`,
		r.Namespace, r.Service).Scan(&seq)
	if err != nil {
		return 0, "", err
	}
	if r.Version != "" {
		var n int
		err := tx.queryRow(ctx, `SELECT COUNT(*) FROM releases WHERE namespace = ? AND service = ? AND version = ?`,
			r.Namespace, r.Service, r.Version).Scan(&n)
		if err != nil {
			return 0, "", err
		}
		if n > 0 {
			return 0, "", versionConflict(r)
		}
		return seq, r.Version, nil
	}
	rows, err := tx.query(ctx, `SELECT version FROM releases WHERE namespace = ? AND service = ? AND version LIKE 'v%'`,
		r.Namespace, r.Service)
	if err != nil {
		return 0, "", err
	}
	defer rows.Close()
	var highest int64
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return 0, "", err
		}
		if n, err := strconv.ParseInt(strings.TrimPrefix(v, "v"), 10, 64); err == nil && n > highest {
			highest = n
		}
	}
	if err := rows.Err(); err != nil {
		return 0, "", err
	}
	return seq, "v" + strconv.FormatInt(highest+1, 10), nil
}

func versionConflict(r *platform.Release) error {
	return platform.Errorf(platform.ECONFLICT, "service %q in namespace %q already has a release %q",
		r.Service, r.Namespace, r.Version).WithHint("choose another version or leave it empty to get the next one")
}

func insertRelease(ctx context.Context, tx conn, r *platform.Release, seq int64, version string) error {
	env, err := marshalJSON(r.Env, len(r.Env) == 0)
	if err != nil {
		return err
	}
	regions, err := encodeRegions(r.Regions)
	if err != nil {
		return err
	}
	origin, err := encodeOrigin(r.Origin)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, `INSERT INTO releases (`+releaseColumns+`, seq)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Namespace, r.Service, version, r.BuildID, r.Replicas, string(r.Size), env, string(r.Status), r.Reason,
		r.Artifact, regions, micros(r.CreatedAt), micros(r.UpdatedAt), r.Digest, r.Canary, origin, seq)
	if isUniqueViolation(err) {
		return platform.Errorf(platform.ECONFLICT, "release %q or version %q already exists", r.ID, version)
	}
	return err
}

// encodeOrigin stores a release's origin as JSON, NULL for none.
func encodeOrigin(o *platform.ReleaseOrigin) (sql.NullString, error) {
	if o == nil {
		return sql.NullString{}, nil
	}
	raw, err := marshalJSON(o, false)
	if err != nil {
		return sql.NullString{}, err
	}
	return sql.NullString{String: raw, Valid: true}, nil
}

// GetRelease returns ENOTFOUND if absent.
func (s *Store) GetRelease(ctx context.Context, id string) (*platform.Release, error) {
	r, err := scanRelease(s.r.queryRow(ctx, `SELECT `+releaseColumns+` FROM releases WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, releaseNotFound(id)
	}
	return r, wrap("get release", err)
}

// ListReleases returns the releases of a service, newest (last deployed) first. A limit
// of 0 or less returns all of them.
func (s *Store) ListReleases(ctx context.Context, namespace, service string, limit int) ([]*platform.Release, error) {
	rows, err := s.r.query(ctx, `SELECT `+releaseColumns+` FROM releases WHERE namespace = ? AND service = ?
		ORDER BY seq DESC`+limitClause(limit), namespace, service)
	if err != nil {
		return nil, wrap("list releases", err)
	}
	defer rows.Close()
	list := []*platform.Release{}
	for rows.Next() {
		r, err := scanRelease(rows)
		if err != nil {
			return nil, wrap("list releases", err)
		}
		list = append(list, r)
	}
	return list, wrap("list releases", rows.Err())
}

// UpdateRelease writes Status, Reason, Artifact and Digest and sets UpdatedAt. Returns
// ENOTFOUND if absent.
func (s *Store) UpdateRelease(ctx context.Context, r *platform.Release) error {
	updated := now()
	err := s.w.execOne(ctx, releaseNotFound(r.ID),
		`UPDATE releases SET status = ?, reason = ?, artifact = ?, digest = ?, updated_at = ? WHERE id = ?`,
		string(r.Status), r.Reason, r.Artifact, r.Digest, micros(updated), r.ID)
	if err != nil {
		return wrap("update release", err)
	}
	r.UpdatedAt = updated
	return nil
}
