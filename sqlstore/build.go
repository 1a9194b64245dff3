package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/micro/platform"
)

var _ platform.BuildStore = (*Store)(nil)

const buildColumns = `id, namespace, service, source_kind, source_url, source_ref, source_path,
	source_archive, source_commit, status, artifact, error, created_at, started_at, finished_at, source_sealed_url, digest`

func buildNotFound(id string) error {
	return platform.Errorf(platform.ENOTFOUND, "build %q not found", id)
}

func scanBuild(sc scanner) (*platform.Build, error) {
	var b platform.Build
	var kind, status string
	var created int64
	var started, finished sql.NullInt64
	err := sc.Scan(&b.ID, &b.Namespace, &b.Service, &kind, &b.Source.URL, &b.Source.Ref, &b.Source.Path,
		&b.Source.Archive, &b.Source.Commit, &status, &b.Artifact, &b.Error, &created, &started, &finished, &b.Source.SealedURL,
		&b.Digest)
	if err != nil {
		return nil, err
	}
	b.Source.Kind = platform.SourceKind(kind)
	b.Status = platform.BuildStatus(status)
	b.CreatedAt = fromMicros(created)
	b.StartedAt = timePtr(started)
	b.FinishedAt = timePtr(finished)
	return &b, nil
}

// insertBuild stores b as the seq-th build of its service.
func insertBuild(ctx context.Context, tx conn, b *platform.Build, seq int64) error {
	_, err := tx.exec(ctx, `INSERT INTO builds (`+buildColumns+`, seq)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		b.ID, b.Namespace, b.Service, string(b.Source.Kind), b.Source.URL, b.Source.Ref, b.Source.Path,
		b.Source.Archive, b.Source.Commit, string(b.Status), b.Artifact, b.Error, micros(b.CreatedAt),
		nullMicros(b.StartedAt), nullMicros(b.FinishedAt), b.Source.SealedURL, b.Digest, seq)
	if isUniqueViolation(err) {
		return platform.Errorf(platform.ECONFLICT, "build %q already exists", b.ID)
	}
	return err
}

// GetBuild returns ENOTFOUND if absent.
func (s *Store) GetBuild(ctx context.Context, id string) (*platform.Build, error) {
	b, err := scanBuild(s.r.queryRow(ctx, `SELECT `+buildColumns+` FROM builds WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, buildNotFound(id)
	}
	return b, wrap("get build", err)
}

// ListBuilds returns the builds of a service, newest (last deployed) first; with service
// "" those of the namespace and with namespace "" every build, both newest created first.
// A limit of 0 or less returns all of them.
func (s *Store) ListBuilds(ctx context.Context, namespace, service string, limit int) ([]*platform.Build, error) {
	q := `SELECT ` + buildColumns + ` FROM builds`
	var args []any
	switch {
	case namespace != "" && service != "":
		q += ` WHERE namespace = ? AND service = ? ORDER BY seq DESC`
		args = append(args, namespace, service)
	case namespace != "":
		q += ` WHERE namespace = ? ORDER BY created_at DESC, id DESC`
		args = append(args, namespace)
	default:
		q += ` ORDER BY created_at DESC, id DESC`
	}
	rows, err := s.r.query(ctx, q+limitClause(limit), args...)
	if err != nil {
		return nil, wrap("list builds", err)
	}
	defer rows.Close()
	list := []*platform.Build{}
	for rows.Next() {
		b, err := scanBuild(rows)
		if err != nil {
			return nil, wrap("list builds", err)
		}
		list = append(list, b)
	}
	return list, wrap("list builds", rows.Err())
}

// UpdateBuild writes Status, Source.Commit, Artifact, Digest, Error, StartedAt and
// FinishedAt. Returns ENOTFOUND if absent.
func (s *Store) UpdateBuild(ctx context.Context, b *platform.Build) error {
	err := s.w.execOne(ctx, buildNotFound(b.ID),
		`UPDATE builds SET status = ?, source_commit = ?, artifact = ?, digest = ?, error = ?, started_at = ?,
			finished_at = ?
		 WHERE id = ?`,
		string(b.Status), b.Source.Commit, b.Artifact, b.Digest, b.Error, nullMicros(b.StartedAt),
		nullMicros(b.FinishedAt), b.ID)
	return wrap("update build", err)
}

// SetBuildSourceURL replaces a build's source URL and its sealed form. Returns
// ENOTFOUND if absent.
func (s *Store) SetBuildSourceURL(ctx context.Context, id, url, sealedURL string) error {
	err := s.w.execOne(ctx, buildNotFound(id), `UPDATE builds SET source_url = ?, source_sealed_url = ? WHERE id = ?`, url, sealedURL, id)
	return wrap("set build source", err)
}
