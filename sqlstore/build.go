package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/micro/platform"
)

var _ platform.BuildStore = (*Store)(nil)

const buildColumns = `id, namespace, service, source_kind, source_url, source_ref, source_path,
	source_archive, source_commit, status, artifact, error, created_at, started_at, finished_at, source_sealed_url, digest`

func buildNotFound(id string) error {
	return platform.Errorf(platform.ENOTFOUND, "build %q not found", id)
}

// scanBuild scans buildColumns, then the columns a query adds after them into extra.
func scanBuild(sc scanner, extra ...any) (*platform.Build, error) {
	var b platform.Build
	var kind, status string
	var created int64
	var started, finished sql.NullInt64
	err := sc.Scan(append([]any{&b.ID, &b.Namespace, &b.Service, &kind, &b.Source.URL, &b.Source.Ref, &b.Source.Path,
		&b.Source.Archive, &b.Source.Commit, &status, &b.Artifact, &b.Error, &created, &started, &finished, &b.Source.SealedURL,
		&b.Digest}, extra...)...)
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
	docs, err := marshalJSON(b.Docs, len(b.Docs) == 0)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, `INSERT INTO builds (`+buildColumns+`, seq, docs)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		b.ID, b.Namespace, b.Service, string(b.Source.Kind), b.Source.URL, b.Source.Ref, b.Source.Path,
		b.Source.Archive, b.Source.Commit, string(b.Status), b.Artifact, b.Error, micros(b.CreatedAt),
		nullMicros(b.StartedAt), nullMicros(b.FinishedAt), b.Source.SealedURL, b.Digest, seq, docs)
	if isUniqueViolation(err) {
		return platform.Errorf(platform.ECONFLICT, "build %q already exists", b.ID)
	}
	return err
}

// GetBuild returns ENOTFOUND if absent.
func (s *Store) GetBuild(ctx context.Context, id string) (*platform.Build, error) {
	var docs string
	b, err := scanBuild(s.r.queryRow(ctx, `SELECT `+buildColumns+`, docs FROM builds WHERE id = ?`, id), &docs)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, buildNotFound(id)
	}
	if err != nil {
		return nil, wrap("get build", err)
	}
	if err := unmarshalJSON(docs, &b.Docs); err != nil {
		return nil, wrap("get build", err)
	}
	return b, nil
}

// buildDocsBatch bounds the ids of one BuildDocs query, well below the bound parameters
// SQLite and PostgreSQL accept.
const buildDocsBatch = 500

// BuildDocs returns the Docs of the builds with the given ids, by build id; unknown
// builds and builds without docs are absent.
func (s *Store) BuildDocs(ctx context.Context, ids []string) (map[string]map[string]platform.EndpointDoc, error) {
	out := map[string]map[string]platform.EndpointDoc{}
	seen := map[string]bool{}
	var uniq []string
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	for len(uniq) > 0 {
		batch := uniq[:min(len(uniq), buildDocsBatch)]
		uniq = uniq[len(batch):]
		args := make([]any, len(batch))
		for i, id := range batch {
			args[i] = id
		}
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(batch)), ", ")
		if err := s.scanDocs(ctx, out, `SELECT id, docs FROM builds WHERE docs <> '' AND id IN (`+marks+`)`, args); err != nil {
			return nil, wrap("build docs", err)
		}
	}
	return out, nil
}

// scanDocs adds the (id, docs) rows of query to out.
func (s *Store) scanDocs(ctx context.Context, out map[string]map[string]platform.EndpointDoc, query string, args []any) error {
	rows, err := s.r.query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, raw string
		if err := rows.Scan(&id, &raw); err != nil {
			return err
		}
		var docs map[string]platform.EndpointDoc
		if err := unmarshalJSON(raw, &docs); err != nil {
			return err
		}
		if len(docs) > 0 {
			out[id] = docs
		}
	}
	return rows.Err()
}

// ListBuilds returns the builds of a service, newest (last deployed) first; with service
// "" those of the namespace and with namespace "" every build, both newest created first.
// A limit of 0 or less returns all of them. Docs are left out (GetBuild has them).
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

// UpdateBuild writes Status, Source.Commit, Artifact, Digest, Docs, Error, StartedAt and
// FinishedAt. Returns ENOTFOUND if absent.
func (s *Store) UpdateBuild(ctx context.Context, b *platform.Build) error {
	docs, err := marshalJSON(b.Docs, len(b.Docs) == 0)
	if err != nil {
		return wrap("update build", err)
	}
	err = s.w.execOne(ctx, buildNotFound(b.ID),
		`UPDATE builds SET status = ?, source_commit = ?, artifact = ?, digest = ?, docs = ?, error = ?,
			started_at = ?, finished_at = ?
		 WHERE id = ?`,
		string(b.Status), b.Source.Commit, b.Artifact, b.Digest, docs, b.Error, nullMicros(b.StartedAt),
		nullMicros(b.FinishedAt), b.ID)
	return wrap("update build", err)
}

// SetBuildSourceURL replaces a build's source URL and its sealed form. Returns
// ENOTFOUND if absent.
func (s *Store) SetBuildSourceURL(ctx context.Context, id, url, sealedURL string) error {
	err := s.w.execOne(ctx, buildNotFound(id), `UPDATE builds SET source_url = ?, source_sealed_url = ? WHERE id = ?`, url, sealedURL, id)
	return wrap("set build source", err)
}
