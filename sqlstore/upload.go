package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/micro/platform"
)

var _ platform.UploadStore = (*Store)(nil)

// RecordUpload notes that namespace uploaded the archive digest; again is a no-op.
// EINVALID for a digest that is not a sha256, ENOTFOUND for an unknown namespace.
func (s *Store) RecordUpload(ctx context.Context, namespace, digest string) error {
	if err := (platform.Source{Kind: platform.SourceArchive, Archive: digest}).Validate(); err != nil {
		return err
	}
	_, err := s.w.exec(ctx, `INSERT INTO source_uploads (namespace, digest, created_at) VALUES (?, ?, ?)
		ON CONFLICT (namespace, digest) DO NOTHING`, namespace, digest, micros(now()))
	if isForeignKeyViolation(err) {
		return namespaceNotFound(namespace)
	}
	return wrap("record upload", err)
}

// HasUpload reports whether namespace uploaded the archive digest.
func (s *Store) HasUpload(ctx context.Context, namespace, digest string) (bool, error) {
	var one int
	err := s.r.queryRow(ctx, `SELECT 1 FROM source_uploads WHERE namespace = ? AND digest = ?`, namespace, digest).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, wrap("has upload", err)
}
